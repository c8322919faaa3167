"""The compiling backend: runs the model's functions once on source-code names and emits
straight-line Python for each action instance.

Every operation appends ``tN = <expr>`` to a buffer and returns ``tN``, so sequential
composition never duplicates work. The generated function of an instance takes a state
tuple and returns ``None`` when the guard is false, else ``(successor, bad, hit)``: the
successor tuple and two bit masks over the checked properties (event invariants broken,
``sometimes`` events reached). This is an implementation detail of the explicit explorer;
the concrete backend stays the reference and the tests compare the two state by state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from lufmodel.model import Instance, Model, Property, Var, Write
from lufmodel.ops import Expr

StepResult = Optional[tuple[tuple[int, ...], int, int]]
StepFn = Callable[[tuple[int, ...]], StepResult]
StateCheckFn = Callable[[tuple[int, ...]], tuple[int, int]]

_TRUE = "True"
_FALSE = "False"


class CodegenOps:
    """Operations that build Python source, with light constant folding."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._count = 0

    def _tmp(self, expr: str) -> str:
        name = f"t{self._count}"
        self._count += 1
        self.lines.append(f"{name} = {expr}")
        return name

    def const(self, value: int | bool) -> Expr:
        if isinstance(value, bool):
            return _TRUE if value else _FALSE
        return str(int(value))

    def and_(self, *xs: Expr) -> Expr:
        if any(x == _FALSE for x in xs):
            return _FALSE
        rest = [x for x in xs if x != _TRUE]
        if not rest:
            return _TRUE
        if len(rest) == 1:
            return rest[0]
        return self._tmp("(" + " and ".join(rest) + ")")

    def or_(self, *xs: Expr) -> Expr:
        if any(x == _TRUE for x in xs):
            return _TRUE
        rest = [x for x in xs if x != _FALSE]
        if not rest:
            return _FALSE
        if len(rest) == 1:
            return rest[0]
        return self._tmp("(" + " or ".join(rest) + ")")

    def not_(self, x: Expr) -> Expr:
        if x == _TRUE:
            return _FALSE
        if x == _FALSE:
            return _TRUE
        return self._tmp(f"(not {x})")

    def ite(self, cond: Expr, then: Expr, other: Expr) -> Expr:
        if cond == _TRUE or then == other:
            return then
        if cond == _FALSE:
            return other
        return self._tmp(f"({then} if {cond} else {other})")

    def eq(self, a: Expr, b: Expr) -> Expr:
        if a == b:
            return _TRUE
        return self._tmp(f"({a} == {b})")

    def lt(self, a: Expr, b: Expr) -> Expr:
        return self._tmp(f"({a} < {b})")

    def add(self, a: Expr, b: Expr) -> Expr:
        return self._tmp(f"({a} + {b})")

    def sub(self, a: Expr, b: Expr) -> Expr:
        return self._tmp(f"({a} - {b})")

    def to_int(self, b: Expr) -> Expr:
        if b == _TRUE:
            return "1"
        if b == _FALSE:
            return "0"
        return self._tmp(f"(1 if {b} else 0)")


class CodegenRead:
    """Reads a variable as the source text ``s[pos]``."""

    def __getitem__(self, var: Var) -> Expr:
        return f"s[{var.pos}]"


def _normalised(var: Var, expr: str) -> str:
    if not var.is_bool:
        return expr
    if expr in (_TRUE, "1"):
        return "1"
    if expr in (_FALSE, "0"):
        return "0"
    return f"(1 if {expr} else 0)"


def _instance_source(
    model: Model, inst: Instance, fn_name: str, props: Sequence[Property]
) -> list[str]:
    ops = CodegenOps()
    read = CodegenRead()
    action, args = inst.action, inst.args
    guard = action.guard(ops, read, args)
    body: list[str] = []
    if guard == _FALSE:
        return [f"def {fn_name}(s):", "    return None"]
    body.extend(ops.lines)
    ops.lines = []
    if guard != _TRUE:
        body.append(f"if not {guard}: return None")
    w = Write(read)
    action.effect(ops, read, args, w)
    bad_terms: list[str] = []
    hit_terms: list[str] = []
    if action.emit is not None:
        for ev in action.emit(ops, read, args):
            for bit, prop in enumerate(props):
                if prop.event != ev.kind or prop.event_pred is None:
                    continue
                holds = prop.event_pred(ops, read, ev.fields)
                if prop.is_always:
                    broken = ops.and_(ev.when, ops.not_(holds))
                    if broken != _FALSE:
                        bad_terms.append(f"({1 << bit} if {broken} else 0)")
                else:
                    reached = ops.and_(ev.when, holds)
                    if reached != _FALSE:
                        hit_terms.append(f"({1 << bit} if {reached} else 0)")
    body.extend(ops.lines)
    slots = []
    for var in model.variables:
        if var in w.assigned:
            slots.append(_normalised(var, str(w.assigned[var])))
        else:
            slots.append(f"s[{var.pos}]")
    bad = " | ".join(bad_terms) if bad_terms else "0"
    hit = " | ".join(hit_terms) if hit_terms else "0"
    body.append(f"return (({', '.join(slots)},), {bad}, {hit})")
    return [f"def {fn_name}(s):"] + ["    " + line for line in body]


def _state_check_source(props: Sequence[Property]) -> list[str]:
    ops = CodegenOps()
    read = CodegenRead()
    bad_terms: list[str] = []
    hit_terms: list[str] = []
    for bit, prop in enumerate(props):
        if prop.event is not None or prop.state_pred is None:
            continue
        holds = prop.state_pred(ops, read)
        if prop.is_always:
            bad_terms.append(f"({1 << bit} if not {holds} else 0)")
        else:
            hit_terms.append(f"({1 << bit} if {holds} else 0)")
    body = list(ops.lines)
    bad = " | ".join(bad_terms) if bad_terms else "0"
    hit = " | ".join(hit_terms) if hit_terms else "0"
    body.append(f"return ({bad}, {hit})")
    return ["def state_check(s):"] + ["    " + line for line in body]


@dataclass(frozen=True)
class CompiledModel:
    """Generated step functions (one per instance) and the state-property check."""

    steps: tuple[StepFn, ...]
    state_check: StateCheckFn
    properties: tuple[Property, ...]
    source: str


def compile_model(model: Model, props: Sequence[Property]) -> CompiledModel:
    """Generate and compile straight-line Python for every instance of ``model``."""
    lines: list[str] = []
    for inst in model.instances:
        lines.extend(_instance_source(model, inst, f"step_{inst.number}", props))
        lines.append("")
    lines.extend(_state_check_source(props))
    source = "\n".join(lines) + "\n"
    namespace: dict[str, object] = {}
    exec(compile(source, f"<lufmodel:{model.name}>", "exec"), namespace)  # noqa: S102
    steps = tuple(namespace[f"step_{inst.number}"] for inst in model.instances)
    check = namespace["state_check"]
    return CompiledModel(
        steps=steps,  # type: ignore[arg-type]
        state_check=check,  # type: ignore[arg-type]
        properties=tuple(props),
        source=source,
    )
