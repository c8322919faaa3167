"""Unbounded proofs: k-induction with simple-path constraints, then Spacer (CHC).

Every property is turned into a *state invariant* ``ok(s)``: for a state property, ``s`` does
not show it; for an event property, no instance enabled in ``s`` emits an event that shows
it (``shows_in_state``). A ``sometimes`` property is proved unreachable the same way, by
proving "never reached" (then it is vacuous); reaching it is a witness.

k-induction, for ``k = 1 .. max_k``:

* base case: the bounded search (``bmc.BoundedSearch``, from the initial state) finds no run
  showing the property with fewer than ``k`` transitions before ``ok`` fails (for event
  properties, up to ``k`` transitions: the event is the step after the state). A hit is a
  real, replayed trace: ``violated`` (or, for ``sometimes``, ``holds``).
* step: from an *arbitrary* in-domain state, a simple path (states pairwise distinct) of
  ``k`` transitions whose first ``k`` states satisfy ``ok`` cannot end in a state that does
  not. Unsat means "proved by k-induction". The model of the last satisfiable step query is
  the counterexample to induction (CTI), summarised in the note.

Domains: the arbitrary start state is constrained to ``lo..hi``. Unless that domain is itself
1-inductive (checked once per run), leaving it counts as a failure of ``ok`` and the base
case also checks that no reachable state leaves it (if one does, the model is broken and
``ModelDefinitionError`` is raised, as the reference interpreter would).

Spacer: the constrained Horn clauses ``Inv(init)``, ``Inv(s) ∧ guard_j(s) → Inv(post_j(s))``
(one rule per instance) and ``Inv(s) ∧ ¬ok(s) → Err`` are solved by Z3's fixedpoint engine
with ``engine=spacer``; "unsat" is a proof (an inductive invariant exists). Reachability of
``Err`` is turned into a trace by the bounded search, never reported without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import z3

from lufmodel.errors import ModelDefinitionError
from lufmodel.model import Model, Property
from lufmodel.results import HOLDS, UNKNOWN, VIOLATED, PropertyResult, RunResult, Stats
from lufmodel.symbolic.bmc import BoundedSearch, Deadline, Found, Unknown, bv_encoder, check, new_solver
from lufmodel.symbolic.encode import Encoder

ENGINE = "induction"


@dataclass(frozen=True)
class Cti:
    """A counterexample to k-induction: ``k`` transitions from ``start`` through ``labels``
    that keep the invariant and then break it."""

    k: int
    start: tuple[int, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class _Attempt:
    """The outcome of proving one property."""

    result: PropertyResult
    queries: int


def prove(
    model: Model,
    props: Sequence[Property] | None = None,
    max_k: int = 8,
    timeout: float | None = None,
    *,
    spacer: bool = True,
    spacer_timeout: float | None = 60.0,
    trace_depth: int = 40,
    spec_name: str = "",
) -> RunResult:
    """Try to prove every property of ``props`` for all reachable states.

    ``always``: ``holds`` (note says how it was proved), ``violated`` with a replayed shortest
    trace, or ``unknown`` (note "not proved", with the CTI of the deepest induction step).
    ``sometimes``: ``holds`` with a witness, ``violated`` when proved unreachable (vacuous),
    else ``unknown``. ``trace_depth`` bounds the search for a trace when Spacer finds the
    property reachable. ``spacer_timeout`` bounds each Spacer query (seconds).
    """
    if max_k < 1:
        raise ValueError(f"max_k must be >= 1, got {max_k}")
    props = tuple(model.properties if props is None else props)
    deadline = Deadline(timeout)
    encoder = bv_encoder(model)
    base = BoundedSearch(model, encoder, engine=ENGINE)
    prover = _Prover(model, encoder, base, deadline, use_spacer=spacer, spacer_timeout=spacer_timeout)
    results: list[PropertyResult] = []
    for prop in props:
        results.append(prover.prove(prop, max_k, spacer=spacer, trace_depth=trace_depth))
    complete = all(r.verdict != UNKNOWN for r in results)
    stopped_by = None if complete else ("timeout" if deadline.expired() else "max-k")
    return RunResult(
        spec=spec_name or model.name,
        engine=ENGINE,
        complete=complete,
        stats=Stats(0, 0, base.depth, deadline.elapsed()),
        results=tuple(results),
        stopped_by=stopped_by,
    )


class _Prover:
    def __init__(
        self,
        model: Model,
        encoder: Encoder,
        base: BoundedSearch,
        deadline: Deadline,
        *,
        use_spacer: bool,
        spacer_timeout: float | None,
    ) -> None:
        self.model = model
        self.spacer_encoder = Encoder(model)  # Spacer works on integers
        self.use_spacer = use_spacer
        self.spacer_timeout = spacer_timeout
        self.queries = 0
        self.encoder = encoder
        self.base = base
        self.deadline = deadline
        self._domain_inductive: bool | None = None
        self._domain_checked_depth = -1

    # ---- domains ---------------------------------------------------------------------

    def domain_inductive(self) -> bool:
        """Whether every reachable state is within the declared domains, proved either
        because the domains are 1-inductive on their own or, if allowed, by Spacer. Then
        the induction step may assume the domains in every state."""
        if self._domain_inductive is None:
            enc = self.encoder
            s = new_solver(enc)
            s.add(enc.domain(0), *enc.transition(0), z3.Not(enc.domain(1)))
            result, _ = check(s, self.deadline)
            proved = result == z3.unsat
            if not proved and self.use_spacer:
                proved = self.spacer_query(z3.Not(self.spacer_encoder.domain(0)))[0] == "proved"
            self._domain_inductive = proved
        return self._domain_inductive

    def check_domain_reachable(self, depth: int) -> None:
        """Raise if a reachable state of depth <= ``depth`` leaves the declared domains."""
        if self.domain_inductive():
            return
        enc = self.encoder
        while self._domain_checked_depth < depth:
            d = self._domain_checked_depth + 1
            self.base.extend_to(d)
            solver = self.base.solver
            solver.push()
            try:
                solver.add(z3.Not(enc.domain(d)))
                result, _ = check(solver, self.deadline)
                if result == z3.sat:
                    m = solver.model()
                    labels = [i.label for i in enc.decode_path(m, d)]
                    state = enc.decode_state(m, d)
                    bad = [
                        f"{v.name}={state[v.pos]}" for v in self.model.variables if not v.lo <= state[v.pos] <= v.hi
                    ]
                    raise ModelDefinitionError(
                        f"a reachable state leaves its declared domain ({', '.join(bad)}) after "
                        f"{' ; '.join(labels) or 'no steps'}; widen the domain or fix the effect"
                    )
                if result != z3.unsat:
                    return
            finally:
                solver.pop()
            self._domain_checked_depth = d

    # ---- one property ----------------------------------------------------------------

    def prove(self, prop: Property, max_k: int, *, spacer: bool, trace_depth: int) -> PropertyResult:
        offset = 0 if prop.event is None else 1
        checked = -1  # deepest base-case depth searched
        cti: Cti | None = None
        reason = ""
        step = _InductionStep(self.encoder, prop, with_domain=not self.domain_inductive())
        for k in range(1, max_k + 1):
            # base case: no run of depth <= k-1+offset shows the property
            while checked < k - 1 + offset:
                d = checked + 1
                outcome = self.base.find(prop, d, self.deadline)
                if isinstance(outcome, Found):
                    return _shown(prop, outcome)
                if isinstance(outcome, Unknown):
                    return _unknown(self.model, prop, f"base case at depth {d}: solver {outcome.reason}", cti)
                checked = d
            self.check_domain_reachable(k - 1)
            result, why, found_cti = step.check(k, self.deadline)
            if result == z3.unsat:
                return _proved(prop, f"{k}-induction")
            if result == z3.sat:
                cti = found_cti
            else:
                reason = f"induction step k={k}: solver {why}"
                break
        if checked >= 0:
            what = "no violation" if prop.is_always else "not reached"
            reason = f"{what} within depth {checked}" + (f"; {reason}" if reason else "")
        if spacer and not self.deadline.expired():
            verdict, why = self.spacer(prop)
            if verdict == "proved":
                return _proved(prop, "spacer")
            if verdict == "reachable":
                for d in range(checked + 1, trace_depth + 1):
                    outcome = self.base.find(prop, d, self.deadline)
                    if isinstance(outcome, Found):
                        return _shown(prop, outcome)
                    if isinstance(outcome, Unknown):
                        break
                return _unknown(self.model, prop, f"spacer: reachable, but no trace within depth {trace_depth}", cti)
            reason = f"{reason}; " if reason else ""
            reason += f"spacer: {why}"
        return _unknown(self.model, prop, reason, cti)

    def spacer(self, prop: Property) -> tuple[str, str]:
        """("proved" | "reachable" | "unknown", reason) for "no reachable state shows ``prop``"."""
        return self.spacer_query(self.spacer_encoder.shows_in_state(prop, 0))

    def spacer_query(self, bad: Any) -> tuple[str, str]:
        """Whether a reachable state satisfies ``bad`` (a term over state 0 of the integer
        encoding), by Spacer."""
        enc = self.spacer_encoder
        variables = self.model.variables
        s = enc.read(0).consts
        sorts = [enc.ops.sort(v) for v in variables]
        inv = z3.Function("Inv", *sorts, z3.BoolSort())
        err = z3.Function("Err", z3.BoolSort())
        fp = z3.Fixedpoint()
        fp.set(engine="spacer")
        budget = [ms for ms in (self.deadline.remaining_ms(), _ms(self.spacer_timeout)) if ms is not None]
        if budget:
            fp.set("timeout", max(1, min(budget)))
        fp.register_relation(inv, err)
        fp.declare_var(*s)
        fp.fact(inv(*[enc.ops.literal(v, x) for v, x in zip(variables, self.model.init)]))
        for inst in self.model.instances:
            terms = enc.instance_terms(0, inst)
            post = [terms.assigned.get(v, s[v.pos]) for v in variables]
            fp.rule(inv(*post), [inv(*s), terms.guard])
        fp.rule(err(), [inv(*s), bad])
        self.queries += 1
        try:
            result = fp.query(err())
        except z3.Z3Exception as exc:
            message = exc.value.decode() if isinstance(exc.value, bytes) else str(exc.value)
            return "unknown", "timeout" if message in ("canceled", "timeout") else f"error: {message}"
        if result == z3.unsat:
            return "proved", ""
        if result == z3.sat:
            return "reachable", ""
        reason = fp.reason_unknown()
        return "unknown", "timeout" if reason in ("timeout", "canceled") else reason


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


class _InductionStep:
    """The incremental induction-step solver of one property: states ``0..k`` from an
    arbitrary start, ``ok`` assumed on ``0..k-1``, pairwise distinct."""

    def __init__(self, encoder: Encoder, prop: Property, *, with_domain: bool) -> None:
        self.encoder = encoder
        self.prop = prop
        self.with_domain = with_domain
        self.solver = new_solver(encoder)
        self.solver.add(encoder.domain(0))
        self.k = 0

    def _ok(self, i: int) -> Any:
        ok = z3.Not(self.encoder.shows_in_state(self.prop, i))
        if self.with_domain:
            return z3.And(ok, self.encoder.domain(i))
        return ok

    def check(self, k: int, deadline: Deadline) -> tuple[Any, str, Cti | None]:
        enc = self.encoder
        while self.k < k:
            i = self.k
            self.solver.add(self._ok(i), *enc.transition(i))
            if not self.with_domain:
                self.solver.add(enc.domain(i + 1))
            for j in range(i + 1):
                self.solver.add(enc.distinct(j, i + 1))
            self.k += 1
        self.solver.push()
        try:
            self.solver.add(z3.Not(self._ok(k)))
            result, why = check(self.solver, deadline)
            cti = None
            if result == z3.sat:
                m = self.solver.model()
                labels = tuple(i.label for i in enc.decode_path(m, k))
                cti = Cti(k, enc.decode_state(m, 0), labels)
            return result, why, cti
        finally:
            self.solver.pop()


def _shown(prop: Property, found: Found) -> PropertyResult:
    if prop.is_always:
        return PropertyResult(prop, VIOLATED, found.depth, found.trace, "base case of induction")
    return PropertyResult(prop, HOLDS, found.depth, found.trace, "reached")


def _proved(prop: Property, how: str) -> PropertyResult:
    if prop.is_always:
        return PropertyResult(prop, HOLDS, None, None, f"proved by {how}")
    return PropertyResult(prop, VIOLATED, None, None, f"vacuous: proved unreachable by {how}")


def describe_cti(model: Model, cti: Cti, limit: int = 12) -> str:
    """The CTI's start state (as differences from the initial state, the first ``limit``
    of them) and its steps."""
    diffs = [
        f"{v.name}={cti.start[v.pos]}" for v in model.variables if cti.start[v.pos] != model.init[v.pos]
    ]
    if len(diffs) > limit:
        diffs = diffs[:limit] + [f"... {len(diffs) - limit} more"]
    start = "{" + ", ".join(diffs) + "}" if diffs else "the initial state"
    return f"CTI (k={cti.k}): from {start} (as differences from init) via {' ; '.join(cti.labels)}"


def _unknown(model: Model, prop: Property, reason: str, cti: Cti | None) -> PropertyResult:
    note = "not proved"
    if reason:
        note += f" ({reason})"
    if cti is not None:
        note += "; " + describe_cti(model, cti)
    return PropertyResult(prop, UNKNOWN, None, None, note)
