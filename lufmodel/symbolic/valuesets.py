"""Value sets: which values each variable can ever take, by abstract interpretation.

Every effect is run on an abstract backend of the ``Ops`` interface whose expressions are
*sets* of values: reading a variable gives the set found for it so far, ``ite`` joins both
branches its condition allows, ``eq``/``lt``/``add``/... combine every pair. Guards are
ignored (any instance may fire from any state in the sets), so the fixpoint, started from
the initial state and clamped to the declared domains, over-approximates the values of
every reachable state: ``pc[1]`` can only be a step of the paths CPU 1 runs, a register
only holds what some effect puts there, and so on.

``value_lemmas`` turns each set that is smaller than its domain into an ``always`` state
property of category ``lemma`` (``var ∈ set``), written with the ``Ops`` interface like
every other property. The sets are inductive together with the domains by construction; the
induction engine checks them anyway, as it checks every lemma.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable

from lufmodel import ops as O
from lufmodel.errors import ModelDefinitionError
from lufmodel.model import Model, Property, Read, Var, Write
from lufmodel.ops import Expr, Ops

Values = frozenset[int]
_BOOLS: Values = frozenset((0, 1))


class SetOps:
    """The abstract backend: an expression is the frozenset of values it may take
    (Booleans as 0/1)."""

    def _set(self, x: Expr) -> Values:
        if isinstance(x, frozenset):
            return x
        if isinstance(x, bool):
            return frozenset((int(x),))
        if isinstance(x, int):
            return frozenset((x,))
        raise ModelDefinitionError(f"value sets: {x!r} is not an expression of this backend")

    def _map2(self, a: Expr, b: Expr, fn: Any) -> Values:
        return frozenset(fn(x, y) for x, y in itertools.product(self._set(a), self._set(b)))

    def const(self, value: int | bool) -> Expr:
        return frozenset((int(value),))

    def and_(self, *xs: Expr) -> Expr:
        sets = [self._set(x) for x in xs]
        out = set()
        if all(1 in s for s in sets):
            out.add(1)
        if any(0 in s for s in sets):
            out.add(0)
        return frozenset(out)

    def or_(self, *xs: Expr) -> Expr:
        sets = [self._set(x) for x in xs]
        out = set()
        if any(1 in s for s in sets):
            out.add(1)
        if all(0 in s for s in sets):
            out.add(0)
        return frozenset(out)

    def not_(self, x: Expr) -> Expr:
        return frozenset(1 - v for v in self._set(x))

    def ite(self, cond: Expr, then: Expr, other: Expr) -> Expr:
        c = self._set(cond)
        out: set[int] = set()
        if 1 in c:
            out |= self._set(then)
        if 0 in c:
            out |= self._set(other)
        return frozenset(out)

    def eq(self, a: Expr, b: Expr) -> Expr:
        return self._map2(a, b, lambda x, y: int(x == y))

    def lt(self, a: Expr, b: Expr) -> Expr:
        return self._map2(a, b, lambda x, y: int(x < y))

    def add(self, a: Expr, b: Expr) -> Expr:
        return self._map2(a, b, lambda x, y: x + y)

    def sub(self, a: Expr, b: Expr) -> Expr:
        return self._map2(a, b, lambda x, y: x - y)

    def to_int(self, b: Expr) -> Expr:
        return self._set(b)


class _SetRead:
    def __init__(self, sets: dict[Var, Values]) -> None:
        self.sets = sets

    def __getitem__(self, var: Var) -> Expr:
        return self.sets[var]


def value_sets(model: Model) -> dict[Var, Values]:
    """For every variable, a superset of the values it has in any reachable state
    (within its domain; a reachable state outside the domains is a broken model)."""
    sets: dict[Var, Values] = {v: frozenset((model.init[v.pos],)) for v in model.variables}
    ops = SetOps()
    changed = True
    while changed:
        changed = False
        read = _SetRead(dict(sets))
        for inst in model.instances:
            w = Write(read)
            inst.action.effect(ops, read, inst.args, w)
            for var, value in w.assigned.items():
                got = frozenset(x for x in ops._set(value) if var.lo <= x <= var.hi)
                if not got <= sets[var]:
                    sets[var] = sets[var] | got
                    changed = True
    return sets


def value_lemmas(model: Model) -> tuple[Property, ...]:
    """One lemma ``var ∈ set`` for every variable whose value set is smaller than its domain
    (the variables of one family are one lemma, ``values:<family>``)."""
    sets = value_sets(model)
    by_family: dict[str, list[tuple[Var, Values]]] = {}
    for var in model.variables:
        vs = sets[var]
        if len(vs) < var.hi - var.lo + 1:
            by_family.setdefault(var.family, []).append((var, vs))
    out = []
    for family, items in by_family.items():
        doc = "; ".join(f"{v.name} in {{{', '.join(model.describe_value(v, x) for x in sorted(vs))}}}" for v, vs in items)
        out.append(Property(f"values:{family}", f"value sets (guards ignored): {doc}", "always", "lemma", None,
                            state_pred=_member_pred(items)))
    return tuple(out)


def _member_pred(items: Iterable[tuple[Var, Values]]) -> Any:
    frozen = tuple(items)

    def pred(ops: Ops, s: Read) -> Expr:
        return O.all_(ops, [_member(ops, s[v], v, vs) for v, vs in frozen])

    return pred


def _member(ops: Ops, x: Expr, var: Var, values: Values) -> Expr:
    if var.is_bool:
        (only,) = tuple(values)  # a Boolean with a strict subset of {0, 1} has one value
        return x if only else ops.not_(x)
    return O.is_in(ops, x, sorted(values))
