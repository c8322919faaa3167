"""Measuring a debug monitor (kernel/monitors.py) against the ground truth of one spec.

``check(spec, monitor)`` runs the spec with the monitor built in and reads one cell per
column:

* a rule R (R1, R2 and their refinements): ``missed`` if some CPU breaks R and is back in
  user mode with the flush R was about still owed before the monitor warned
  (``M:missed:R``); ``caught`` if that happens only after a warning; ``-`` if R is never
  broken that way;
* a safety property P: ``missed`` if P is broken through a LUF-stale translation before the
  monitor warned (``M:missed:P``); ``caught``; ``-`` (never broken), or ``not LUF`` (broken
  only where LUF is not involved: not the debug mode's business);
* ``false_alarm``: a run on which the monitor warns while nothing is broken so far *and*
  nothing can be broken on any continuation (``FALSE ALARM``). A warning with nothing broken
  yet from whose state a break is still reachable is an ``early`` warning, not a false one:
  it is decided by ``refine_false_alarm`` over the explicit state graph;
* ``alarm_without_harm``: the monitor warns while only a rule, no safety property, is broken
  (information: the literal rules are broken by design by migration, reference §3.2).

Each missed or false-alarm cell carries its shortest witness, replayed like every trace.
"""

from __future__ import annotations

import tomllib
from collections import deque
from dataclasses import dataclass
from typing import Sequence

from lufmodel.backends.codegen import compile_model
from lufmodel.errors import SpecError
from lufmodel.explore import explore
from lufmodel.kernel.monitors import ALARM_WITHOUT_HARM, CLEAN, FALSE_ALARM, MISSED, RULES_CHECKED, SAFETY_CHECKED, TRUTH, property_name
from lufmodel.model import Instance, Model, Property
from lufmodel.results import HOLDS, VIOLATED, Limits, PropertyResult, RunResult
from lufmodel.spec import Spec, load_spec_text
from lufmodel.trace import Trace, confirmed

MISSED_CELL = "MISSED"
CAUGHT = "caught"
NOT_BROKEN = "-"
NOT_LUF = "not LUF"
FALSE_ALARM_CELL = "FALSE ALARM"
EARLY = "early"
NONE = "none"
RULE_ONLY = "rule only"
BOUNDED = "bounded"
UNKNOWN = "unknown"

COLUMNS = RULES_CHECKED + SAFETY_CHECKED + (FALSE_ALARM, ALARM_WITHOUT_HARM)


@dataclass(frozen=True)
class Cell:
    column: str
    status: str
    depth: int | None = None
    trace: Trace | None = None
    note: str = ""

    @property
    def blind_spot(self) -> bool:
        """A missed break or a false alarm: what the design has to fix."""
        return self.status in (MISSED_CELL, FALSE_ALARM_CELL)

    @property
    def text(self) -> str:
        return f"{self.status} {self.depth}" if self.depth is not None and self.status in (MISSED_CELL, FALSE_ALARM_CELL, RULE_ONLY) else self.status


@dataclass(frozen=True)
class MonitorReport:
    monitor: str
    spec: Spec
    run: RunResult
    cells: tuple[Cell, ...]

    def cell(self, column: str) -> Cell:
        for c in self.cells:
            if c.column == column:
                return c
        raise KeyError(column)

    @property
    def sound_and_precise(self) -> bool:
        return self.run.complete and not any(c.blind_spot or c.status in (BOUNDED, UNKNOWN) for c in self.cells)


def monitored_text(text: str, monitors: Sequence[str], path: str = "<spec>") -> str:
    """The spec's text with a ``[monitors]`` table enabling ``monitors``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    if "monitors" in data:
        raise SpecError(f"{path}: monitors: the spec already enables monitors; give a spec without [monitors]")
    names = ", ".join(f'"{m}"' for m in monitors)
    return text.rstrip("\n") + f"\n\n# Added by lufmodel monitors: the debug monitor this run measures.\n[monitors]\nenabled = [{names}]\n"


def monitored_spec(spec: Spec, monitors: Sequence[str]) -> Spec:
    return load_spec_text(monitored_text(spec.text, monitors, spec.path), spec.path)


def _columns(model: Model) -> list[str]:
    names = {p.name for p in model.properties}
    return [c for c in COLUMNS if c in names or c in (FALSE_ALARM, ALARM_WITHOUT_HARM)]


def props_for(model: Model, monitor: str) -> tuple[Property, ...]:
    """What a monitor's run checks: the base rules and properties, their LUF-involved forms,
    and the monitor's derived properties."""
    wanted = []
    for c in _columns(model):
        if c in (FALSE_ALARM, ALARM_WITHOUT_HARM):
            wanted.append(property_name(monitor, c))
            continue
        wanted.append(c)
        wanted.append(f"luf:escaped:{c}" if c in RULES_CHECKED else f"luf:{c}")
        wanted.append(property_name(monitor, MISSED, c))
    return tuple(model.prop(n) for n in wanted)


def check(spec: Spec, monitor: str, limits: Limits = Limits(), engine: str = "auto", refine: bool = True) -> MonitorReport:
    """Run ``spec`` with ``monitor`` built in and read its cells (see the module docstring)."""
    mspec = monitored_spec(spec, [monitor])
    model = mspec.model
    run = explore(model, props_for(model, monitor), limits, spec_name=spec.name, engine=engine)
    res = {r.prop.name: r for r in run.results}
    cells: list[Cell] = []
    for col in _columns(model):
        if col == FALSE_ALARM:
            cells.append(_false_alarm_cell(spec, mspec, monitor, res[property_name(monitor, col)], refine))
            continue
        if col == ALARM_WITHOUT_HARM:
            r = res[property_name(monitor, col)]
            if r.verdict == VIOLATED:
                cells.append(Cell(col, RULE_ONLY, r.depth, r.trace))
            else:
                cells.append(Cell(col, NONE if r.verdict == HOLDS else BOUNDED))
            continue
        base = res[col]
        luf = res[f"luf:escaped:{col}" if col in RULES_CHECKED else f"luf:{col}"]
        missed = res[property_name(monitor, MISSED, col)]
        if missed.verdict == VIOLATED:
            cells.append(Cell(col, MISSED_CELL, missed.depth, missed.trace))
        elif luf.verdict == VIOLATED:
            cells.append(Cell(col, CAUGHT if missed.verdict == HOLDS else BOUNDED))
        elif luf.verdict == HOLDS:
            broken = base.verdict == VIOLATED
            note = ("broken, but flushed before the CPU is back in user mode" if col in RULES_CHECKED
                    else "broken only through translations LUF did not leave") if broken else ""
            cells.append(Cell(col, NOT_LUF if broken and col not in RULES_CHECKED else NOT_BROKEN, note=note))
        else:
            cells.append(Cell(col, BOUNDED if luf.verdict != "unknown" else UNKNOWN))
    return MonitorReport(monitor, mspec, run, tuple(cells))


def _false_alarm_cell(spec: Spec, mspec: Spec, monitor: str, r: PropertyResult, refine: bool) -> Cell:
    if r.verdict == HOLDS:
        return Cell(FALSE_ALARM, NONE)
    if r.verdict != VIOLATED:
        return Cell(FALSE_ALARM, BOUNDED if r.verdict == "bounded" else UNKNOWN)
    if not refine:
        return Cell(FALSE_ALARM, FALSE_ALARM_CELL, r.depth, r.trace, "warned with nothing broken so far (not refined)")
    found = refine_false_alarm(spec, mspec, monitor)
    if found is None:
        return Cell(FALSE_ALARM, EARLY, note="it warns before any break, but a break is always still reachable then")
    return Cell(FALSE_ALARM, FALSE_ALARM_CELL, found.depth, found)


# ---- false alarms: a warning from whose state nothing can be broken ------------------------


def _kernel_positions(model: Model) -> list[int]:
    return [v.pos for v in model.variables if v.family not in model.observed]


def breakable_states(spec: Spec) -> set[tuple[int, ...]]:
    """The kernel states (observers projected away) reachable with nothing broken from
    which some rule or safety property can still be broken (through LUF): a backward search
    over the explicit graph of the spec with the ground truth built in."""
    model = monitored_spec(spec, [TRUTH]).model
    clean = model.prop(CLEAN)
    compiled = compile_model(model, [clean])
    keep = _kernel_positions(model)
    states: list[tuple[int, ...]] = [model.init]
    index = {model.init: 0}
    preds: list[list[int]] = [[]]
    bad: list[int] = []
    queue = deque([0])
    while queue:
        i = queue.popleft()
        s = states[i]
        for fn in compiled.steps:
            r = fn(s)
            if r is None:
                continue
            succ = r[0]
            j = index.get(succ)
            if j is None:
                j = len(states)
                index[succ] = j
                states.append(succ)
                preds.append([])
                if compiled.state_check(succ)[0]:
                    bad.append(j)  # something broken: a leaf for this search
                else:
                    queue.append(j)
            preds[j].append(i)
    can = set(bad)
    work = deque(bad)
    while work:
        j = work.popleft()
        for i in preds[j]:
            if i not in can:
                can.add(i)
                work.append(i)
    return {tuple(states[i][p] for p in keep) for i in can}


def refine_false_alarm(spec: Spec, mspec: Spec, monitor: str) -> Trace | None:
    """The shortest run of ``mspec`` (``spec`` with ``monitor``) on which the monitor first
    warns with nothing broken so far and nothing breakable from there on; None if every
    such warning is an early one."""
    model = mspec.model
    can = breakable_states(spec)
    alarm = model.prop(property_name(monitor, FALSE_ALARM))
    clean = model.prop(CLEAN)
    warned_var = model.var(f"{monitor}.warned")
    compiled = compile_model(model, [clean])
    keep = _kernel_positions(model)
    parent: dict[tuple[int, ...], tuple[tuple[int, ...], int] | None] = {model.init: None}
    queue = deque([model.init])
    while queue:
        s = queue.popleft()
        for number, fn in enumerate(compiled.steps):
            r = fn(s)
            if r is None:
                continue
            succ = r[0]
            if succ in parent or compiled.state_check(succ)[0]:
                continue  # seen, or something is broken: no false alarm past it
            parent[succ] = (s, number)
            if succ[warned_var.pos]:
                if tuple(succ[p] for p in keep) not in can:
                    return confirmed(model, _path(model, parent, succ), alarm, "false-alarm search")
                continue  # an early warning: a break is still reachable
            queue.append(succ)
    return None


def _path(model: Model, parent: dict[tuple[int, ...], tuple[tuple[int, ...], int] | None], end: tuple[int, ...]) -> list[Instance]:
    out: list[Instance] = []
    cur = parent[end]
    while cur is not None:
        prev, number = cur
        out.append(model.instances[number])
        cur = parent[prev]
    out.reverse()
    return out


def nothing_breakable_after(spec: Spec, trace: Trace) -> bool:
    """Whether no rule nor safety property can be broken from the final state of ``trace``
    (the second half of a false alarm), by an exhaustive search of the ground-truth model
    started there."""
    gt = monitored_spec(spec, [TRUTH]).model
    src = trace.model
    values = {v.name: trace.final[v.pos] for v in src.variables if v.family not in src.observed}
    start = list(gt.init)
    for v in gt.variables:
        if v.family not in gt.observed:
            start[v.pos] = values[v.name]
    from dataclasses import replace

    run = explore(replace(gt, init=tuple(start)), [gt.prop(CLEAN)])
    return run.complete and run.results[0].verdict == HOLDS


# ---- the matrix -----------------------------------------------------------------------------

SHORT = {"R1_refined": "R1r", "R2_refined": "R2r", "P2_strict": "P2s", "P2_causal": "P2c",
         FALSE_ALARM: "false alarm", ALARM_WITHOUT_HARM: "alarm w/o harm"}


def matrix_lines(reports: Sequence[MonitorReport]) -> list[str]:
    """The monitor x property x spec matrix as a Markdown table (one row per spec and
    monitor), then one line per row that is sound and precise."""
    columns = [c for c in COLUMNS if any(c in {x.column for x in r.cells} for r in reports)]
    head = ["spec", "monitor"] + [SHORT.get(c, c) for c in columns] + ["verdict"]
    rows = []
    for r in reports:
        cells = {c.column: c.text for c in r.cells}
        if r.sound_and_precise:
            verdict = "sound and precise"
        elif not r.run.complete:
            verdict = f"bounded ({r.run.stopped_by})"
        else:
            verdict = "blind spots"
        rows.append([r.spec.name, r.monitor] + [cells.get(c, "") for c in columns] + [verdict])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(str(x).ljust(w) for x, w in zip(row, widths)) + " |" for row in rows]
    return out


def witness_dir(monitor: str, spec: str, column: str) -> str:
    """Where a cell's witness goes under the output root: ``<monitor>/<spec>/<cell>``."""
    cell = {FALSE_ALARM: "false-alarm", ALARM_WITHOUT_HARM: "alarm-without-harm"}.get(column, f"missed-{column}")
    return f"{monitor}/{spec}/{cell}"
