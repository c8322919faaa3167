"""What every renderer shows about a trace, computed once: lanes, step titles, changes, notes.

``trace_view(trace)`` turns a replayed ``Trace`` into plain values (frozen dataclasses of
strings and ints) so the text, graph, HTML and JSON renderers agree on every word.

``relevant_steps(trace)`` decides which steps ``--short`` keeps. The rule is a backward
*value-flow slice* over the concrete run, with read sets recorded by running the model's own
functions on a recording view of the state:

1. Start with the variables the verdict reads: the property predicate (on the final state,
   or the event payload and predicate on the last step's pre-state), plus everything the
   last step's guard and effect read. The last step is always kept.
2. Walk the steps backwards. A step is kept if it *changes* a variable in the relevant set,
   or if it changes the model's annotations (``Model.annotate``: for LUF, a stale
   translation appears or disappears). A kept step's changed variables leave the set (their
   value is now explained) and the variables its guard and effect read join it.
3. Every other step changes nothing the verdict depends on and is folded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from lufmodel.backends.concrete import ConcreteOps
from lufmodel.model import Instance, Model, Var, Write
from lufmodel.ops import Expr
from lufmodel.trace import Trace, TraceStep

OTHER_LANE = "other"


@dataclass(frozen=True)
class ChangeView:
    var: str
    family: str
    before: int
    after: int
    before_text: str
    after_text: str

    @property
    def text(self) -> str:
        return f"{self.var}: {self.before_text} -> {self.after_text}"


@dataclass(frozen=True)
class StepView:
    number: int
    """1-based position in the trace."""
    lane: str
    cpu: int | None
    action: str
    label: str
    path: str
    step: str
    args: tuple[tuple[str, int], ...]
    other_args: str
    """The arguments other than the CPU, as ``mm=0, va=1`` (empty if none)."""
    changes: tuple[ChangeView, ...]
    new_notes: tuple[str, ...]
    gone_notes: tuple[str, ...]
    last: bool
    relevant: bool

    @property
    def vanished_notes(self) -> tuple[str, ...]:
        """Notes that disappear without a new note of the same subject (the text before the
        first ``;``) replacing them: what renderers show as gone."""
        subjects = {n.split(";", 1)[0] for n in self.new_notes}
        return tuple(n for n in self.gone_notes if n.split(";", 1)[0] not in subjects)

    @property
    def title(self) -> str:
        """``path: step``, the way a race diagram names a step."""
        return f"{self.path}: {self.step}" if self.path else self.step

    @property
    def title_with_args(self) -> str:
        return f"{self.title} ({self.other_args})" if self.other_args else self.title

    def change_groups(self) -> list[str]:
        """The changes, one string per variable family: ``pc[0]: 0 -> 1, pc[1]: 1 -> 2``."""
        groups: dict[str, list[str]] = {}
        for c in self.changes:
            groups.setdefault(c.family, []).append(c.text)
        return [", ".join(g) for g in groups.values()]

    def changes_text(self) -> str:
        """The changes grouped by variable family: ``counter: 0 -> 1; pc[0]: 0 -> 1``."""
        return "; ".join(self.change_groups())


@dataclass(frozen=True)
class TraceView:
    model: str
    cpus: int
    lanes: tuple[str, ...]
    prop_name: str
    outcome: str
    modality: str
    doc: str
    init_notes: tuple[str, ...]
    steps: tuple[StepView, ...]
    shows: bool = True
    """False when a replayed run no longer breaks (or reaches) its property."""

    @property
    def verdict_line(self) -> str:
        """One line: which property the run breaks (or reaches), at which step, and its doc."""
        n = len(self.steps)
        where = f"step {n}" if n else "the initial state"
        no = "" if self.shows else "no longer "
        if self.outcome == "violation":
            return f"{where} {no}breaks {self.prop_name} (always: {self.doc})"
        return f"{where} {no}reaches {self.prop_name} (sometimes: {self.doc})"

    @property
    def headline(self) -> str:
        switches = 0
        last: int | None = None
        for s in self.steps:
            if s.cpu is None:
                continue
            if last is not None and s.cpu != last:
                switches += 1
            last = s.cpu
        what = "violated" if self.outcome == "violation" else "reached"
        if not self.shows:
            what = f"no longer {what}"
        return (
            f"{self.model}: {self.prop_name} {what} in {len(self.steps)} steps "
            f"({self.cpus} CPUs, {switches} CPU switches)"
        )


def lane_name(cpu: int | None) -> str:
    return OTHER_LANE if cpu is None else f"CPU{cpu}"


def trace_lanes(model: Model, instances: Sequence[Instance]) -> tuple[str, ...]:
    """One lane per CPU of the model, plus ``other`` if a CPU-less step occurs."""
    lanes = [lane_name(c) for c in range(model.cpus)]
    if any(i.cpu is None for i in instances):
        lanes.append(OTHER_LANE)
    return tuple(lanes)


def describe_changes(model: Model, step: TraceStep) -> tuple[ChangeView, ...]:
    changes = sorted(step.changes, key=lambda c: c.var.pos)
    return tuple(
        ChangeView(
            c.var.name,
            c.var.family,
            c.before,
            c.after,
            model.describe_value(c.var, c.before),
            model.describe_value(c.var, c.after),
        )
        for c in changes
    )


def other_args(inst: Instance) -> str:
    cpu_param = inst.action.cpu_param
    return ", ".join(f"{k}={v}" for k, v in inst.args.items if k != cpu_param)


def trace_view(trace: Trace, *, shows: bool = True) -> TraceView:
    """The renderers' view of ``trace``; ``shows=False`` for a replay that no longer shows it."""
    model = trace.model
    prop = model.prop(trace.property)
    notes = [tuple(model.annotate(trace.init))] + [tuple(model.annotate(s.after)) for s in trace.steps]
    keep = relevant_steps(trace)
    steps: list[StepView] = []
    for k, st in enumerate(trace.steps):
        inst = st.instance
        before, after = notes[k], notes[k + 1]
        steps.append(
            StepView(
                number=k + 1,
                lane=lane_name(inst.cpu),
                cpu=inst.cpu,
                action=inst.action.name,
                label=inst.label,
                path=inst.action.path,
                step=inst.action.step,
                args=inst.args.items,
                other_args=other_args(inst),
                changes=describe_changes(model, st),
                new_notes=tuple(n for n in after if n not in before),
                gone_notes=tuple(n for n in before if n not in after),
                last=k == len(trace.steps) - 1,
                relevant=keep[k],
            )
        )
    return TraceView(
        model=model.name,
        cpus=model.cpus,
        lanes=trace_lanes(model, [s.instance for s in trace.steps]),
        prop_name=prop.name,
        outcome=trace.outcome,
        modality=prop.modality,
        doc=prop.doc,
        init_notes=notes[0],
        steps=tuple(steps),
        shows=shows,
    )


# ---- the --short slice --------------------------------------------------------------------


class _RecordingRead:
    """A concrete state that remembers which variables were read."""

    __slots__ = ("state", "seen")

    def __init__(self, state: Sequence[int]) -> None:
        self.state = state
        self.seen: set[Var] = set()

    def __getitem__(self, var: Var) -> Expr:
        self.seen.add(var)
        return self.state[var.pos]


def _step_reads(step: TraceStep) -> set[Var]:
    ops = ConcreteOps()
    read = _RecordingRead(step.before)
    inst = step.instance
    inst.action.guard(ops, read, inst.args)
    inst.action.effect(ops, read, inst.args, Write(read))
    return read.seen


def _verdict_reads(trace: Trace) -> set[Var]:
    prop = trace.model.prop(trace.property)
    ops = ConcreteOps()
    if prop.event is None:
        read = _RecordingRead(trace.final)
        if prop.state_pred is not None:
            prop.state_pred(ops, read)
        return read.seen
    if not trace.steps:
        return set()
    last = trace.steps[-1]
    read = _RecordingRead(last.before)
    emit = last.instance.action.emit
    if emit is not None:
        for ev in emit(ops, read, last.instance.args):
            if ev.kind == prop.event and prop.event_pred is not None:
                prop.event_pred(ops, read, ev.fields)
    return read.seen


def relevant_steps(trace: Trace) -> tuple[bool, ...]:
    """Which steps ``--short`` keeps (see the module docstring for the rule)."""
    steps = trace.steps
    if not steps:
        return ()
    model = trace.model
    notes = [tuple(model.annotate(trace.init))] + [tuple(model.annotate(s.after)) for s in steps]
    keep = [False] * len(steps)
    keep[-1] = True
    relevant = _verdict_reads(trace) | {c.var for c in steps[-1].changes} | _step_reads(steps[-1])
    for k in range(len(steps) - 2, -1, -1):
        st = steps[k]
        changed = {c.var for c in st.changes}
        if changed & relevant or set(notes[k]) != set(notes[k + 1]):
            keep[k] = True
            relevant = (relevant - changed) | _step_reads(st)
    return tuple(keep)
