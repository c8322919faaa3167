"""Traces: sequences of action instances, always replayed through the reference interpreter.

Every engine returns its counterexamples (and ``sometimes`` witnesses) as a list of
instances; ``replay`` re-runs them concretely from the initial state, checks every step is
enabled, and checks that the last step really breaks (or reaches) the property. A trace
that does not is an internal error, never a silent pass.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from lufmodel.errors import EngineMismatch, ReplayError
from lufmodel.model import Instance, Model, Property, Var
from lufmodel.semantics import Interpreter, State


@dataclass(frozen=True)
class Change:
    var: Var
    before: int
    after: int


@dataclass(frozen=True)
class TraceStep:
    instance: Instance
    before: State
    after: State

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(
            Change(v, self.before[v.pos], self.after[v.pos])
            for v in self.instance.writes
            if self.before[v.pos] != self.after[v.pos]
        )


@dataclass(frozen=True)
class Trace:
    """A replayed run: the initial state and each step with its pre- and post-state.

    ``property`` is what the run shows; ``outcome`` says whether it breaks an ``always``
    property (``"violation"``) or reaches a ``sometimes`` one (``"witness"``).
    """

    model: Model = field(compare=False, repr=False)
    init: State
    steps: tuple[TraceStep, ...]
    property: str
    outcome: str

    @builtins.property
    def depth(self) -> int:
        return len(self.steps)

    @builtins.property
    def final(self) -> State:
        return self.steps[-1].after if self.steps else self.init

    def cpu_switches(self) -> int:
        return count_switches([s.instance for s in self.steps])


def count_switches(instances: Sequence[Instance]) -> int:
    """How many times consecutive steps run on different CPUs (CPU-less steps are skipped)."""
    last: int | None = None
    switches = 0
    for inst in instances:
        cpu = inst.cpu
        if cpu is None:
            continue
        if last is not None and cpu != last:
            switches += 1
        last = cpu
    return switches


def _shows(interp: Interpreter, prop: Property, steps: Sequence[TraceStep], init: State) -> bool:
    """Whether the run's last state or last step breaks (``always``) or reaches the property."""
    final = steps[-1].after if steps else init
    if prop.event is None:
        if prop.is_always:
            return prop in interp.broken_in_state(final, [prop])
        return prop in interp.reached_in_state(final, [prop])
    if not steps:
        return False
    last = steps[-1]
    if prop.is_always:
        return prop in interp.broken_on_step(last.before, last.instance, [prop])
    return prop in interp.reached_on_step(last.before, last.instance, [prop])


def run_instances(model: Model, instances: Sequence[Instance], *, strict: bool = False) -> tuple[TraceStep, ...]:
    """Run ``instances`` from the initial state; raise ``ReplayError`` at a disabled step."""
    interp = Interpreter(model, strict=strict)
    state = model.init
    steps: list[TraceStep] = []
    for k, inst in enumerate(instances):
        if not interp.enabled(state, inst):
            raise ReplayError(f"step {k + 1} ({inst.label}) is not enabled", k + 1)
        after = interp.step(state, inst)
        steps.append(TraceStep(inst, state, after))
        state = after
    return tuple(steps)


def replay(model: Model, instances: Sequence[Instance], prop: Property) -> tuple[Trace, bool]:
    """Replay ``instances`` and say whether the run still shows ``prop``."""
    steps = run_instances(model, instances)
    interp = Interpreter(model)
    outcome = "violation" if prop.is_always else "witness"
    trace = Trace(model, model.init, steps, prop.name, outcome)
    return trace, _shows(interp, prop, steps, model.init)


def confirmed(model: Model, instances: Sequence[Instance], prop: Property, engine: str) -> Trace:
    """Replay an engine's trace; raise ``EngineMismatch`` if it does not show ``prop``."""
    try:
        trace, shows = replay(model, instances, prop)
    except ReplayError as exc:
        raise EngineMismatch(f"{engine} produced a trace for {prop.name} that does not replay: {exc}") from exc
    if not shows:
        what = "break" if prop.is_always else "reach"
        raise EngineMismatch(f"{engine} produced a trace that does not {what} {prop.name} when replayed")
    return trace


def resolve(model: Model, steps: Sequence[tuple[str, Mapping[str, int]]]) -> list[Instance]:
    """Turn (action name, arguments) pairs back into instances of ``model``."""
    out: list[Instance] = []
    for k, (name, args) in enumerate(steps):
        try:
            out.append(model.instance(name, args))
        except KeyError:
            raise ReplayError(f"step {k + 1}: the model has no action {name}({dict(args)})", k + 1) from None
    return out
