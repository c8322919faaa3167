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

from lufmodel.backends.source import FoldingOps, Syntax, event_terms, state_terms
from lufmodel.model import Instance, Model, Property, Var, Write
from lufmodel.ops import Expr

StepResult = Optional[tuple[tuple[int, ...], int, int]]
StepFn = Callable[[tuple[int, ...]], StepResult]
StateCheckFn = Callable[[tuple[int, ...]], tuple[int, int]]

PYTHON = Syntax(
    true="True",
    false="False",
    and_=" and ",
    or_=" or ",
    not_="(not {x})",
    ite="({a} if {c} else {b})",
    temp="{name} = {expr}",
    bit="({bit} if {cond} else 0)",
)
_TRUE = PYTHON.true
_FALSE = PYTHON.false


class CodegenOps(FoldingOps):
    """Operations that build Python source, with light constant folding."""

    def __init__(self) -> None:
        super().__init__(PYTHON)


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
    bad_terms, hit_terms = event_terms(ops, read, action, args, props)
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
    bad_terms, hit_terms = state_terms(ops, CodegenRead(), props)
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
