"""What the two source-generating backends share (generated Python in ``codegen``, C in
``cgen``): constant-folding operations parameterised by syntax, and the property bit masks
an instance's events and a state's predicates produce."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from lufmodel.model import Action, Args, Property, Read
from lufmodel.ops import Expr


@dataclass(frozen=True)
class Syntax:
    """How a target language spells what the operations need."""

    true: str
    false: str
    and_: str
    or_: str
    not_: str  # format with {x}
    ite: str  # format with {c}, {a}, {b}
    temp: str  # format with {name}, {expr}
    bit: str  # format with {cond}, {bit} (the bit's value when cond holds)


class FoldingOps:
    """Operations that build source text in ``syntax``, with light constant folding. Every
    operation appends one temporary and returns its name, so nothing is computed twice."""

    def __init__(self, syntax: Syntax) -> None:
        self.syntax = syntax
        self.lines: list[str] = []
        self._count = 0

    def _tmp(self, expr: str) -> str:
        name = f"t{self._count}"
        self._count += 1
        self.lines.append(self.syntax.temp.format(name=name, expr=expr))
        return name

    def const(self, value: int | bool) -> Expr:
        if isinstance(value, bool):
            return self.syntax.true if value else self.syntax.false
        return str(int(value))

    def _fold(self, xs: tuple[Expr, ...], unit: str, zero: str, joiner: str) -> Expr:
        if any(x == zero for x in xs):
            return zero
        rest = [x for x in xs if x != unit]
        if not rest:
            return unit
        if len(rest) == 1:
            return rest[0]
        return self._tmp("(" + joiner.join(rest) + ")")

    def and_(self, *xs: Expr) -> Expr:
        return self._fold(xs, self.syntax.true, self.syntax.false, self.syntax.and_)

    def or_(self, *xs: Expr) -> Expr:
        return self._fold(xs, self.syntax.false, self.syntax.true, self.syntax.or_)

    def not_(self, x: Expr) -> Expr:
        if x == self.syntax.true:
            return self.syntax.false
        if x == self.syntax.false:
            return self.syntax.true
        return self._tmp(self.syntax.not_.format(x=x))

    def ite(self, cond: Expr, then: Expr, other: Expr) -> Expr:
        if cond == self.syntax.true or then == other:
            return then
        if cond == self.syntax.false:
            return other
        return self._tmp(self.syntax.ite.format(c=cond, a=then, b=other))

    def eq(self, a: Expr, b: Expr) -> Expr:
        if a == b:
            return self.syntax.true
        return self._tmp(f"({a} == {b})")

    def lt(self, a: Expr, b: Expr) -> Expr:
        return self._tmp(f"({a} < {b})")

    def add(self, a: Expr, b: Expr) -> Expr:
        return self._tmp(f"({a} + {b})")

    def sub(self, a: Expr, b: Expr) -> Expr:
        return self._tmp(f"({a} - {b})")

    def to_int(self, b: Expr) -> Expr:
        if b == self.syntax.true:
            return "1"
        if b == self.syntax.false:
            return "0"
        return self._tmp(self.syntax.ite.format(c=b, a="1", b="0"))


def event_terms(
    ops: FoldingOps, read: Read, action: Action, args: Args, props: Sequence[Property]
) -> tuple[list[str], list[str]]:
    """Source terms of the bits an instance's events set: broken invariants, reached events."""
    syn = ops.syntax
    bad: list[str] = []
    hit: list[str] = []
    if action.emit is None:
        return bad, hit
    for ev in action.emit(ops, read, args):
        for bit, prop in enumerate(props):
            if prop.event != ev.kind or prop.event_pred is None:
                continue
            holds = prop.event_pred(ops, read, ev.fields)
            cond = ops.and_(ev.when, ops.not_(holds)) if prop.is_always else ops.and_(ev.when, holds)
            if cond != syn.false:
                (bad if prop.is_always else hit).append(syn.bit.format(cond=cond, bit=1 << bit))
    return bad, hit


def state_terms(ops: FoldingOps, read: Read, props: Sequence[Property]) -> tuple[list[str], list[str]]:
    """Source terms of the bits a state sets: broken invariants, reached state predicates."""
    syn = ops.syntax
    bad: list[str] = []
    hit: list[str] = []
    for bit, prop in enumerate(props):
        if prop.event is not None or prop.state_pred is None:
            continue
        holds = prop.state_pred(ops, read)
        if prop.is_always:
            bad.append(syn.bit.format(cond=ops.not_(holds), bit=1 << bit))
        else:
            hit.append(syn.bit.format(cond=holds, bit=1 << bit))
    return bad, hit
