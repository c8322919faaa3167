"""The operations interface every guard, effect and property is written against.

Model code never branches on a state value with Python ``if``/``and``/``or``/``not``/``==``;
it calls these operations instead, so the same function runs on Python values (the concrete
backend), on Z3 terms (the symbolic backend), on generated source text (the compiling
backend), and under the strict test backend, which raises on any Python branching.

Python control flow over *parameters* (CPU ids, sizes, switches of the spec) is fine: it
unrolls identically in every backend.

Expressions are opaque to the model: the type ``Expr`` is ``Any`` on purpose.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

Expr = Any
"""A backend's expression: a Python value, a Z3 term, a source-code name, a strict value."""


class Ops(Protocol):
    """The small algebra of finite-domain expressions."""

    def const(self, value: int | bool) -> Expr: ...

    def and_(self, *xs: Expr) -> Expr: ...

    def or_(self, *xs: Expr) -> Expr: ...

    def not_(self, x: Expr) -> Expr: ...

    def ite(self, cond: Expr, then: Expr, other: Expr) -> Expr: ...

    def eq(self, a: Expr, b: Expr) -> Expr: ...

    def lt(self, a: Expr, b: Expr) -> Expr: ...

    def add(self, a: Expr, b: Expr) -> Expr: ...

    def sub(self, a: Expr, b: Expr) -> Expr: ...

    def to_int(self, b: Expr) -> Expr:
        """1 if the Boolean ``b`` holds, else 0."""
        ...


# Derived operations. They are functions of an ``Ops``, not methods, so that every backend
# gets exactly the same definition and no backend can give them a different meaning.


def true(ops: Ops) -> Expr:
    return ops.const(True)


def false(ops: Ops) -> Expr:
    return ops.const(False)


def ne(ops: Ops, a: Expr, b: Expr) -> Expr:
    return ops.not_(ops.eq(a, b))


def le(ops: Ops, a: Expr, b: Expr) -> Expr:
    return ops.not_(ops.lt(b, a))


def implies(ops: Ops, a: Expr, b: Expr) -> Expr:
    return ops.or_(ops.not_(a), b)


def any_(ops: Ops, xs: Sequence[Expr]) -> Expr:
    return ops.or_(*xs) if xs else ops.const(False)


def all_(ops: Ops, xs: Sequence[Expr]) -> Expr:
    return ops.and_(*xs) if xs else ops.const(True)


def select(ops: Ops, index: Expr, options: Sequence[Expr]) -> Expr:
    """``options[index]``; an index out of range gives the last option.

    Written as an ``ite`` chain so that it means the same on every backend.
    """
    if not options:
        raise ValueError("select over no options")
    result = options[-1]
    for k in range(len(options) - 2, -1, -1):
        result = ops.ite(ops.eq(index, ops.const(k)), options[k], result)
    return result


def is_in(ops: Ops, x: Expr, values: Sequence[int]) -> Expr:
    """``x`` equals one of the constant ``values``."""
    return any_(ops, [ops.eq(x, ops.const(v)) for v in values])


def max_(ops: Ops, a: Expr, b: Expr) -> Expr:
    return ops.ite(ops.lt(a, b), b, a)
