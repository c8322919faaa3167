"""The concrete backend: expressions are Python ints and bools. The reference semantics."""

from __future__ import annotations

from typing import Sequence

from lufmodel.model import Var
from lufmodel.ops import Expr


class ConcreteOps:
    """Evaluates every operation on Python values."""

    def const(self, value: int | bool) -> Expr:
        return value

    def and_(self, *xs: Expr) -> Expr:
        return all(xs)

    def or_(self, *xs: Expr) -> Expr:
        return any(xs)

    def not_(self, x: Expr) -> Expr:
        return not x

    def ite(self, cond: Expr, then: Expr, other: Expr) -> Expr:
        return then if cond else other

    def eq(self, a: Expr, b: Expr) -> Expr:
        return a == b

    def lt(self, a: Expr, b: Expr) -> Expr:
        return a < b

    def add(self, a: Expr, b: Expr) -> Expr:
        return a + b

    def sub(self, a: Expr, b: Expr) -> Expr:
        return a - b

    def to_int(self, b: Expr) -> Expr:
        return 1 if b else 0


class TupleRead:
    """A concrete state (a tuple of ints, one per variable) seen through ``s[var]``."""

    __slots__ = ("state",)

    def __init__(self, state: Sequence[int]) -> None:
        self.state = state

    def __getitem__(self, var: Var) -> Expr:
        return self.state[var.pos]
