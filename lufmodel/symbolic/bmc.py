"""Bounded model checking over the Z3 unrolling of the model.

One incremental solver holds the initial state and the transitions of steps ``0..d-1``;
for each depth ``d = 0, 1, 2, …`` it asks, inside a ``push``/``pop``, whether a run of
exactly ``d`` transitions shows any undecided property (one query for all of them; the
solver's model says which are shown, and the query is repeated without those). The first
hit is therefore a shortest trace; at that depth the number of CPU switches is then bounded
by a pseudo-Boolean constraint and lowered until the solver says no more, so among the
shortest traces the one returned has the fewest switches (the explicit engine's order).
Every trace is replayed through the reference interpreter (``trace.confirmed``).

Encoding: integers are bit-vectors of ``z3ops.safe_width`` bits and the solver is Z3's
finite-domain (incremental SAT) solver. On the small LUF spec this was about 6x faster than
integers with the default SMT solver at depth 12 (15 s against 95 s).

``Stats`` of a symbolic run: ``states`` and ``transitions`` are 0 (the engine does not
enumerate states); ``depth`` is the deepest bound checked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import z3

from lufmodel.errors import EngineMismatch
from lufmodel.explore import Progress, ProgressFn
from lufmodel.model import Instance, Model, Property
from lufmodel.results import BOUNDED, HOLDS, UNKNOWN, VIOLATED, PropertyResult, RunResult, Stats
from lufmodel.symbolic.encode import Encoder
from lufmodel.symbolic.z3ops import safe_width
from lufmodel.trace import Trace, confirmed, count_switches

ENGINE = "bmc"


@dataclass(frozen=True)
class Found:
    """A confirmed trace of ``depth`` transitions that shows the property."""

    trace: Trace
    depth: int


@dataclass(frozen=True)
class NotFound:
    """No run of this depth shows the property."""


@dataclass(frozen=True)
class Unknown:
    """The solver could not decide (``reason`` is z3's ``reason_unknown``, or "timeout")."""

    reason: str


Outcome = Found | NotFound | Unknown


class Deadline:
    """Wall-clock budget shared by the queries of one run."""

    def __init__(self, timeout: float | None) -> None:
        self.start = time.monotonic()
        self.timeout = timeout

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining_ms(self) -> int | None:
        """Milliseconds left (at least 1), ``None`` without a timeout, 0 when expired."""
        if self.timeout is None:
            return None
        left = self.timeout - self.elapsed()
        return max(0, int(left * 1000)) if left > 0 else 0

    def expired(self) -> bool:
        return self.remaining_ms() == 0


def check(solver: Any, deadline: Deadline, assumptions: Sequence[Any] = ()) -> tuple[Any, str]:
    """``solver.check(*assumptions)`` within what is left of ``deadline``: (result, reason
    if unknown)."""
    left = deadline.remaining_ms()
    if left == 0:
        return z3.unknown, "timeout"
    solver.set("timeout", 4294967295 if left is None else left)
    result = solver.check(*assumptions)
    if result == z3.unknown:
        reason = solver.reason_unknown()
        return result, "timeout" if reason in ("timeout", "canceled") else reason
    return result, ""


def new_solver(encoder: Encoder) -> Any:
    """Z3's finite-domain solver (incremental SAT) for the bit-vector encoding, the general
    SMT solver for the integer one."""
    return z3.Solver() if encoder.ops.width is None else z3.SolverFor("QF_FD")


def bv_encoder(model: Model) -> Encoder:
    """The encoder the bounded search uses by default: bit-vectors of a safe width."""
    return Encoder(model, safe_width(model.variables))


class BoundedSearch:
    """An incremental unrolling from the initial state; ``find`` asks one depth at a time."""

    def __init__(self, model: Model, encoder: Encoder | None = None, engine: str = ENGINE) -> None:
        self.model = model
        self.encoder = encoder if encoder is not None else bv_encoder(model)
        self.engine = engine
        self.solver = new_solver(self.encoder)
        self.solver.add(self.encoder.init())
        self.depth = 0
        self.queries = 0

    def extend_to(self, depth: int) -> None:
        """Add the transitions of steps ``self.depth .. depth-1``."""
        while self.depth < depth:
            self.solver.add(*self.encoder.transition(self.depth))
            self.depth += 1

    def _guard(self, *terms: Any) -> Any:
        """A fresh literal that implies ``terms``: queries assume it instead of pushing a
        scope (Z3's incremental SAT solver keeps what it learnt), and ``_retire`` turns it
        off for good afterwards."""
        self.queries += 1
        lit = z3.Bool(f"query!{self.queries}")
        self.solver.add(z3.Implies(lit, z3.And(*terms)))
        return lit

    def _retire(self, *lits: Any) -> None:
        self.solver.add(*[z3.Not(lit) for lit in lits])

    def shown_any(self, props: Sequence[Property], depth: int, deadline: Deadline) -> tuple[list[Property], str]:
        """One query for several properties at one depth: the properties some run of
        exactly ``depth`` transitions shows (a subset: those shown by the model the solver
        found; ask again without them for the rest), and the reason if it is unknown."""
        self.extend_to(depth)
        conds = [(p, self.encoder.shows(p, depth)) for p in props]
        lit = self._guard(z3.Or(*[c for _, c in conds]))
        try:
            result, reason = check(self.solver, deadline, [lit])
            if result == z3.unsat:
                return [], ""
            if result != z3.sat:
                return [], reason
            m = self.solver.model()
            return [p for p, c in conds if z3.is_true(m.eval(c, model_completion=True))], ""
        finally:
            self._retire(lit)

    def find(self, prop: Property, depth: int, deadline: Deadline, *, fewest_switches: bool = True) -> Outcome:
        """Whether a run of exactly ``depth`` transitions shows ``prop``."""
        return self.find_condition(self.encoder.shows(prop, depth), prop, depth, deadline, fewest_switches=fewest_switches)

    def find_condition(
        self, condition: Any, prop: Property, depth: int, deadline: Deadline, *, fewest_switches: bool = True
    ) -> Outcome:
        """Whether a run of ``depth`` transitions satisfies ``condition``; the trace is
        confirmed against ``prop`` (which ``condition`` must encode)."""
        self.extend_to(depth)
        lit = self._guard(condition)
        try:
            result, reason = check(self.solver, deadline, [lit])
            if result == z3.unsat:
                return NotFound()
            if result != z3.sat:
                return Unknown(reason)
            path = self.encoder.decode_path(self.solver.model(), depth)
            if fewest_switches:
                path = self._fewer_switches(path, depth, deadline, lit)
        finally:
            self._retire(lit)
        return Found(confirmed(self.model, path, prop, self.engine), depth)

    def _fewer_switches(self, path: list[Instance], depth: int, deadline: Deadline, cond: Any) -> list[Instance]:
        """Lower the switch count at this depth until the solver finds no better trace
        (or cannot decide in time: then the best trace so far is kept)."""
        terms = self.encoder.switches(depth)
        best = count_switches(path)
        while best > 0:
            lit = self._guard(z3.PbLe([(t, 1) for t in terms], best - 1))
            try:
                result, _ = check(self.solver, deadline, [cond, lit])
                if result != z3.sat:
                    return path
                candidate = self.encoder.decode_path(self.solver.model(), depth)
            finally:
                self._retire(lit)
            switches = count_switches(candidate)
            if switches >= best:
                raise EngineMismatch(
                    f"{self.engine}: the switch encoding allowed {switches} switches under a bound of {best - 1}"
                )
            path, best = candidate, switches
        return path


@dataclass(frozen=True)
class Searched:
    """What ``search`` found: the shown properties' traces, the deepest depth fully
    checked (-1 if none), and why it stopped early (a solver reason), if it did."""

    found: dict[str, Found]
    checked: int
    unknown_reason: str | None


def search(
    bounded: BoundedSearch,
    props: Sequence[Property],
    depth: int,
    deadline: Deadline,
    progress: ProgressFn | None = None,
    start: int = 0,
) -> Searched:
    """Depths ``start .. depth`` in order, one query per depth for all undecided
    properties (repeated without those the solver's model shows); each shown property
    gets a shortest, fewest-switch, replayed trace."""
    found: dict[str, Found] = {}
    unknown_reason: str | None = None
    checked = start - 1
    try:
        for d in range(start, depth + 1):
            while True:
                pending = [p for p in props if p.name not in found]
                if not pending:
                    break
                shown, reason = bounded.shown_any(pending, d, deadline)
                if reason:
                    unknown_reason = reason
                    break
                if not shown:
                    break
                for prop in shown:
                    outcome = bounded.find(prop, d, deadline)
                    if isinstance(outcome, Found):
                        found[prop.name] = outcome
                    elif isinstance(outcome, Unknown):
                        unknown_reason = outcome.reason
                        break
                    else:
                        raise EngineMismatch(f"{bounded.engine}: {prop.name} was shown at depth {d}, then not")
                if unknown_reason is not None:
                    break
            if unknown_reason is not None:
                break
            checked = d
            if progress is not None:
                progress(Progress(0, 0, d, deadline.elapsed()))
            if len(found) == len(props):
                break
    except KeyboardInterrupt:
        unknown_reason = "interrupted"
    return Searched(found, checked, unknown_reason)


def bmc(
    model: Model,
    props: Sequence[Property] | None = None,
    depth: int = 10,
    timeout: float | None = None,
    progress: ProgressFn | None = None,
    spec_name: str = "",
) -> RunResult:
    """Check every property of ``props`` on all runs of at most ``depth`` transitions.

    ``always`` properties: ``violated`` (a shortest, fewest-switch trace), ``bounded`` with
    ``depth`` when no run shows a violation, or ``unknown`` (solver reason) on timeout.
    ``sometimes`` properties: ``holds`` with a witness when reached, else ``unknown``.
    """
    if depth < 0:
        raise ValueError(f"bmc depth must be >= 0, got {depth}")
    props = tuple(model.properties if props is None else props)
    deadline = Deadline(timeout)
    done = search(BoundedSearch(model), props, depth, deadline, progress)
    unknown_reason, checked = done.unknown_reason, done.checked
    results: list[PropertyResult] = []
    for prop in props:
        if prop.name in done.found:
            results.append(_shown(prop, done.found[prop.name]))
        elif unknown_reason is not None:
            within = f"; nothing found within depth {checked}" if checked >= 0 else ""
            results.append(PropertyResult(prop, UNKNOWN, None, None, f"solver: {unknown_reason} at depth {checked + 1}{within}"))
        elif prop.is_always:
            results.append(PropertyResult(prop, BOUNDED, depth, None, f"no violation within depth {depth}"))
        else:
            results.append(PropertyResult(prop, UNKNOWN, None, None, f"not reached within depth {depth}"))
    complete = len(done.found) == len(props)
    stopped_by: str | None = None
    if not complete:
        if unknown_reason in ("timeout", "interrupted"):
            stopped_by = unknown_reason
        elif unknown_reason is None:
            stopped_by = "max-depth"
    return RunResult(
        spec=spec_name or model.name,
        engine=ENGINE,
        complete=complete,
        stats=Stats(0, 0, max(checked, 0), deadline.elapsed()),
        results=tuple(results),
        stopped_by=stopped_by,
    )


def _shown(prop: Property, found: Found) -> PropertyResult:
    if prop.is_always:
        return PropertyResult(prop, VIOLATED, found.depth, found.trace, "")
    return PropertyResult(prop, HOLDS, found.depth, found.trace, "reached")
