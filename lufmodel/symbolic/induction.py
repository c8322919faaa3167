"""Unbounded proofs: an inductive invariant from lemmas (Houdini), then k-induction, then Spacer.

Every ``always`` property is turned into a *state invariant* ``ok(s)``: for a state property,
``s`` does not show it; for an event property, no instance enabled in ``s`` emits an event
that shows it (``Encoder.shows_in_state``). A ``sometimes`` property is proved unreachable
the same way ("never reached", then it is vacuous); reaching it is a witness.

1. **Inductive invariant (Houdini).** The candidates are the declared domains, the model's
   *lemmas* (auxiliary ``always`` state properties written with the ``Ops`` interface, e.g.
   ``lufmodel.kernel.lemmas``), and the ``always`` properties to prove. A candidate false in
   the initial state is dropped; then, from an arbitrary state satisfying every remaining
   candidate, one transition must keep every candidate; those the solver breaks are dropped
   (their counterexample to induction, CTI, is kept) until the rest is *inductive relative
   to itself*. The rest holds in every reachable state (it holds initially and is closed
   under every transition), so each property in it is proved; an unsat core names the
   lemmas the last step needed. Lemmas are thereby checked, never trusted.
2. **Bounded search** (``bmc.search``) for every property not proved yet, up to
   ``search_depth`` transitions (at least ``max_k``): a hit is a real, replayed, shortest
   trace: ``violated`` (or, for ``sometimes``, ``holds``). It is also the base case of:
3. **k-induction** for each property still open, ``k = 1 .. max_k``, with the invariant of
   step 1 assumed in every state of the path (it holds in every reachable state): a simple
   path (states pairwise distinct) of ``k`` transitions whose first ``k`` states satisfy
   ``ok`` cannot end in a state that does not. Unsat: proved.
4. **Spacer** (Z3's CHC engine) on the clauses ``Inv(init)``,
   ``Inv(s) ∧ J(s) ∧ guard_j(s) → Inv(post_j(s))`` and ``Inv(s) ∧ J(s) ∧ ¬ok(s) → Err``,
   where ``J`` is the invariant of step 1 (sound: it holds in every reachable state).
   "unsat" is a proof; a reachable ``Err`` is turned into a trace by the bounded search,
   never reported without one.

A property neither proved nor violated is ``unknown``, "not proved", with the CTI of the
deepest induction step: a *replayed* run of ``k`` transitions from a state that may well be
unreachable (``Trace.outcome == "cti"``, ``Trace.init`` is that start state). Lemmas that
were dropped are reported with their own CTI (``Proof.lemmas``).

Domains: the arbitrary start state is a bit-vector state; unless the domains are in the
invariant of step 1 (or proved by Spacer), leaving them counts as a failure of ``ok``, and
the base case also checks that no reachable state leaves them (if one does, the model is
broken and ``ModelDefinitionError`` is raised, as the reference interpreter would).
Variables no instance writes keep their initial value; that fact is assumed everywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import z3

from lufmodel.errors import EngineMismatch, ModelDefinitionError
from lufmodel.model import Instance, Model, Property, Var
from lufmodel.results import HOLDS, UNKNOWN, VIOLATED, PropertyResult, RunResult, Stats
from lufmodel.semantics import Interpreter, State
from lufmodel.symbolic.bmc import BoundedSearch, Deadline, Found, Unknown, bv_encoder, check, new_solver, search
from lufmodel.symbolic.encode import Encoder
from lufmodel.trace import Trace, TraceStep

ENGINE = "induction"
CTI_OUTCOME = "cti"
"""``Trace.outcome`` of a counterexample to induction: a run from a possibly unreachable state."""
DOMAINS = "domains"
"""The name of the Houdini candidate "every variable is within its declared domain"."""


@dataclass(frozen=True)
class LemmaResult:
    """What became of one lemma: ``kept`` in the inductive invariant (so it holds in every
    reachable state), or dropped, with why (``"false in the initial state"``,
    ``"not inductive"``, or the solver's reason) and, if not inductive, its CTI."""

    prop: Property
    kept: bool
    note: str
    cti: Trace | None


@dataclass(frozen=True)
class Proof:
    """A ``prove`` run: the verdicts, and the fate of every lemma and of the domains."""

    run: RunResult
    lemmas: tuple[LemmaResult, ...]
    domains_inductive: bool
    domains_note: str = ""
    domains_cti: Trace | None = None


def prove(
    model: Model,
    props: Sequence[Property] | None = None,
    max_k: int = 8,
    timeout: float | None = None,
    *,
    lemmas: Sequence[Property] = (),
    spacer: bool = True,
    spacer_timeout: float | None = 60.0,
    search_depth: int = 20,
    trace_depth: int = 40,
    spec_name: str = "",
) -> RunResult:
    """Try to prove every property of ``props`` for all reachable states (see the module).

    ``always``: ``holds`` (the note says how it was proved), ``violated`` with a replayed
    shortest trace, or ``unknown`` (note "not proved", ``trace`` the CTI of the deepest
    induction step, marked ``outcome == "cti"``). ``sometimes``: ``holds`` with a witness,
    ``violated`` when proved unreachable (vacuous), else ``unknown``. ``lemmas`` are
    ``always`` state properties tried as strengthenings (each checked, see ``prove_all``).
    Properties the invariant does not prove are first searched for real traces up to
    ``search_depth`` transitions (at least ``max_k``); ``trace_depth`` bounds the search for
    a trace when Spacer finds the property reachable; ``spacer_timeout`` bounds each Spacer
    query (seconds).
    """
    return prove_all(model, props, max_k, timeout, lemmas=lemmas, spacer=spacer, spacer_timeout=spacer_timeout,
                     search_depth=search_depth, trace_depth=trace_depth, spec_name=spec_name).run


def prove_all(
    model: Model,
    props: Sequence[Property] | None = None,
    max_k: int = 8,
    timeout: float | None = None,
    *,
    lemmas: Sequence[Property] = (),
    spacer: bool = True,
    spacer_timeout: float | None = 60.0,
    search_depth: int = 20,
    trace_depth: int = 40,
    spec_name: str = "",
) -> Proof:
    """``prove``, also returning what became of each lemma."""
    if max_k < 1:
        raise ValueError(f"max_k must be >= 1, got {max_k}")
    for lemma in lemmas:
        if not lemma.is_always or lemma.event is not None or lemma.state_pred is None:
            raise ModelDefinitionError(f"lemma {lemma.name}: a lemma must be an 'always' state property")
    props = tuple(model.properties if props is None else props)
    names = [p.name for p in props] + [lm.name for lm in lemmas]
    clash = sorted({n for n in names if names.count(n) > 1} | ({DOMAINS} & set(names)))
    if clash:
        raise ModelDefinitionError(f"lemma names clash with property names or repeat: {clash}")
    deadline = Deadline(timeout)
    encoder = bv_encoder(model)
    base = BoundedSearch(model, encoder, engine=ENGINE)
    goals = [_Goal(DOMAINS, None)] + [_Goal(lm.name, lm) for lm in lemmas]
    goals += [_Goal(p.name, p) for p in props if p.is_always]
    invariant = _houdini(model, encoder, goals, deadline)
    # Everything the invariant does not prove: one bounded search for real traces first
    # (it is also the base case of k-induction), then k-induction and Spacer.
    pending = [p for p in props if p.name not in invariant.kept]
    searched = search(base, pending, max(search_depth, max_k), deadline)
    prover = _Prover(model, encoder, base, deadline, invariant, use_spacer=spacer, spacer_timeout=spacer_timeout)
    if searched.unknown_reason is None:
        # A model whose reachable states leave the declared domains is broken (the reference
        # interpreter refuses it); unless the domains are proved, look for such a state.
        prover.check_domain_reachable(max(search_depth, max_k))
    results = tuple(
        _shown(prop, searched.found[prop.name]) if prop.name in searched.found
        else prover.prove(prop, max_k, spacer=spacer, trace_depth=trace_depth, checked=searched.checked,
                          searched_reason=searched.unknown_reason)
        for prop in props
    )
    complete = all(r.verdict != UNKNOWN for r in results)
    stopped_by = None if complete else ("timeout" if deadline.expired() else "max-k")
    run = RunResult(
        spec=spec_name or model.name,
        engine=ENGINE,
        complete=complete,
        stats=Stats(0, 0, base.depth, deadline.elapsed()),
        results=results,
        stopped_by=stopped_by,
    )
    lemma_results = tuple(
        LemmaResult(lm, lm.name in invariant.kept, invariant.why.get(lm.name, "inductive"),
                    invariant.ctis.get(lm.name)) for lm in lemmas
    )
    return Proof(run, lemma_results, DOMAINS in invariant.kept, invariant.why.get(DOMAINS, "inductive"),
                 invariant.ctis.get(DOMAINS))


# ---- candidates and the inductive invariant ----------------------------------------------


@dataclass(frozen=True)
class _Goal:
    """A Houdini candidate: the domains (``prop is None``), a lemma, or a property."""

    name: str
    prop: Property | None

    def ok(self, enc: Encoder, step: int) -> Any:
        if self.prop is None:
            return enc.domain(step)
        return z3.Not(enc.shows_in_state(self.prop, step))


@dataclass(frozen=True)
class _Invariant:
    """The inductive subset of the candidates, and why the others were dropped."""

    goals: tuple[_Goal, ...]
    kept: frozenset[str]
    why: dict[str, str]
    ctis: dict[str, Trace]
    cores: dict[str, tuple[str, ...]]

    def holds(self, enc: Encoder, step: int) -> Any:
        """The invariant (the kept candidates) in state ``step``."""
        return z3.And(*[g.ok(enc, step) for g in self.goals if g.name in self.kept], z3.BoolVal(True))


def unwritten(model: Model, enc: Encoder, step: int) -> Any:
    """Every variable no instance writes has its initial value in state ``step``."""
    read = enc.read(step)
    written = {v for inst in model.instances for v in inst.writes}
    same = [read.consts[v.pos] == enc.ops.literal(v, model.init[v.pos]) for v in model.variables if v not in written]
    return z3.And(*same, z3.BoolVal(True))


def _houdini(model: Model, enc: Encoder, goals: Sequence[_Goal], deadline: Deadline) -> _Invariant:
    """The largest subset of ``goals`` that holds initially and is inductive relative to
    itself, found by dropping broken candidates one round at a time.

    The domains are handled first-class: the rounds look only at transitions between
    in-domain states (so no CTI is made of out-of-domain garbage), then the domains
    themselves must be kept by every transition from a state of the result. If they are
    not, the rounds are run again without assuming them (and the domains are dropped)."""
    why: dict[str, str] = {}
    ctis: dict[str, Trace] = {}
    first = new_solver(enc)
    first.add(enc.init())
    initial: list[_Goal] = []
    for g in goals:
        first.push()
        first.add(z3.Not(g.ok(enc, 0)))
        result, reason = check(first, deadline)
        first.pop()
        if result == z3.unsat:
            initial.append(g)
        else:
            why[g.name] = "false in the initial state" if result == z3.sat else f"initial state: solver {reason}"
    solver = new_solver(enc)
    solver.add(unwritten(model, enc, 0), *enc.transition(0))
    lits = {g.name: z3.Bool(f"houdini!{g.name}") for g in goals}
    in_domain = z3.Bool("houdini!in-domain")
    solver.add(z3.Implies(in_domain, z3.And(enc.domain(0), enc.domain(1))))
    for g in initial:
        solver.add(z3.Implies(lits[g.name], g.ok(enc, 0)))
    domains = [g for g in initial if g.prop is None]
    others = [g for g in initial if g.prop is not None]
    active = _rounds(model, enc, solver, lits, others, [in_domain] if domains else [], deadline, why, ctis)
    if domains:
        result, reason, cti = _domains_kept(model, enc, solver, lits, active, deadline)
        if result == z3.unsat:
            active = active + domains
        else:
            # Without the domains the rest must be inductive over arbitrary bit-vector
            # states: run the rounds again; what they drop now is reported as such.
            why[DOMAINS] = "not inductive" if result == z3.sat else f"inductiveness: solver {reason}"
            if cti is not None:
                ctis[DOMAINS] = cti
            again: dict[str, str] = {}
            again_ctis: dict[str, Trace] = {}
            active = _rounds(model, enc, solver, lits, active, [], deadline, again, again_ctis)
            for name, text in again.items():
                why[name] = f"{text} once the domains are not assumed (they are not inductive)"
                if name in again_ctis:
                    ctis[name] = again_ctis[name]
    kept = frozenset(g.name for g in active)
    cores = _cores(enc, solver, lits, active, deadline)
    return _Invariant(tuple(goals), kept, why, ctis, cores)


def _rounds(model: Model, enc: Encoder, solver: Any, lits: dict[str, Any], active: list[_Goal], extra: list[Any],
            deadline: Deadline, why: dict[str, str], ctis: dict[str, Trace]) -> list[_Goal]:
    """Drop the candidates some transition from a state of all ``active`` ones breaks,
    until none is broken; return the rest."""
    while active:
        solver.push()
        solver.add(z3.Or(*[z3.Not(g.ok(enc, 1)) for g in active]))
        result, reason = _check_assuming(solver, deadline, [lits[g.name] for g in active] + extra)
        if result == z3.sat:
            m = solver.model()
            broken = [g for g in active if z3.is_false(m.eval(g.ok(enc, 1), model_completion=True))]
            if not broken:
                raise EngineMismatch("houdini: the solver's model breaks no candidate")
            start = enc.decode_state(m, 0)
            path = enc.decode_path(m, 1)
            post = enc.decode_state(m, 1)
            for g in broken:
                why[g.name] = "not inductive"
                ctis[g.name] = _cti_trace(model, start, path, [post], g.prop, g.name)
            active = [g for g in active if g not in broken]
        solver.pop()
        if result == z3.unsat:
            return active
        if result != z3.sat:
            for g in active:
                why[g.name] = f"inductiveness: solver {reason}"
            return []
    return active


def _domains_kept(model: Model, enc: Encoder, solver: Any, lits: dict[str, Any], active: Sequence[_Goal],
                  deadline: Deadline) -> tuple[Any, str, Trace | None]:
    """Whether every transition from an in-domain state of ``active`` stays in the domains."""
    solver.push()
    try:
        solver.add(enc.domain(0), z3.Not(enc.domain(1)))
        result, reason = _check_assuming(solver, deadline, [lits[g.name] for g in active])
        cti = None
        if result == z3.sat:
            m = solver.model()
            cti = _cti_trace(model, enc.decode_state(m, 0), enc.decode_path(m, 1), [enc.decode_state(m, 1)], None, DOMAINS)
        return result, reason, cti
    finally:
        solver.pop()


def _check_assuming(solver: Any, deadline: Deadline, assumptions: Sequence[Any]) -> tuple[Any, str]:
    left = deadline.remaining_ms()
    if left == 0:
        return z3.unknown, "timeout"
    solver.set("timeout", 4294967295 if left is None else left)
    result = solver.check(*assumptions)
    if result == z3.unknown:
        reason = solver.reason_unknown()
        return result, "timeout" if reason in ("timeout", "canceled") else reason
    return result, ""


def _cores(enc: Encoder, solver: Any, lits: dict[str, Any], kept: Sequence[_Goal],
           deadline: Deadline) -> dict[str, tuple[str, ...]]:
    """For each kept property: the other kept candidates its inductiveness step used."""
    by_lit = {str(lits[g.name]): g.name for g in kept}
    cores: dict[str, tuple[str, ...]] = {}
    for g in kept:
        if g.prop is None or g.prop.category == "lemma":
            continue
        solver.push()
        solver.add(z3.Not(g.ok(enc, 1)))
        result, _ = _check_assuming(solver, deadline, [lits[h.name] for h in kept])
        if result == z3.unsat:
            core = [c for c in solver.unsat_core() if str(c) in by_lit]
            core = _minimal(solver, core, deadline)
            cores[g.name] = tuple(sorted(n for n in (by_lit[str(c)] for c in core) if n != g.name))
        solver.pop()
    return cores


def _minimal(solver: Any, core: list[Any], deadline: Deadline) -> list[Any]:
    """Drop from an unsat core every assumption the query stays unsat without (one pass of
    deletion; each query is one step, so this is cheap), keeping the core if time runs out."""
    needed = list(core)
    for lit in core:
        trial = [x for x in needed if x is not lit]
        result, _ = _check_assuming(solver, deadline, trial)
        if result == z3.unsat:
            needed = trial
        elif result != z3.sat:
            break
    return needed


# ---- counterexamples to induction --------------------------------------------------------


def _cti_trace(model: Model, start: State, path: Sequence[Instance], posts: Sequence[State],
               prop: Property | None, name: str) -> Trace:
    """The CTI as a replayed run from ``start`` (possibly unreachable). Each step is
    re-executed by the reference interpreter and must give the solver's post-state (a
    step out of the domains keeps the solver's state, which the interpreter refuses)."""
    interp = Interpreter(model)
    steps: list[TraceStep] = []
    state = start
    for k, (inst, post) in enumerate(zip(path, posts)):
        if not interp.enabled(state, inst):
            raise EngineMismatch(f"{ENGINE}: CTI for {name}: step {k + 1} ({inst.label}) is not enabled")
        try:
            after = interp.step(state, inst)
        except ModelDefinitionError:
            after = post
        if after != post:
            raise EngineMismatch(f"{ENGINE}: CTI for {name}: step {k + 1} ({inst.label}) gives another state")
        steps.append(TraceStep(inst, state, after))
        state = after
    if any(not v.lo <= state[v.pos] <= v.hi for v in model.variables):
        pass  # the step leaves the domains: a CTI of the domains
    elif prop is not None and prop.event is None and prop.is_always:
        if prop not in interp.broken_in_state(state, [prop]):
            raise EngineMismatch(f"{ENGINE}: CTI for {name} does not break it when replayed")
    elif prop is not None and prop.event is not None and prop.is_always:
        if not any(prop in interp.broken_on_step(state, i, [prop]) for i in model.instances if interp.enabled(state, i)):
            raise EngineMismatch(f"{ENGINE}: CTI for {name} does not end in a state that can break it")
    return Trace(model, start, tuple(steps), name, CTI_OUTCOME)


# ---- one property ------------------------------------------------------------------------


class _Prover:
    def __init__(
        self,
        model: Model,
        encoder: Encoder,
        base: BoundedSearch,
        deadline: Deadline,
        invariant: _Invariant,
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
        self.invariant = invariant
        self._domain_inductive: bool | None = None
        self._domain_checked_depth = -1

    # ---- domains ---------------------------------------------------------------------

    def domain_inductive(self) -> bool:
        """Whether every reachable state is within the declared domains: in the inductive
        invariant, or, if allowed, proved by Spacer. Then the domains hold in every state."""
        if self._domain_inductive is None:
            proved = DOMAINS in self.invariant.kept
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

    def prove(self, prop: Property, max_k: int, *, spacer: bool, trace_depth: int, checked: int = -1,
              searched_reason: str | None = None) -> PropertyResult:
        """``prop`` is not in the invariant, and no run of depth <= ``checked`` shows it
        (the bounded search stopped there, for ``searched_reason`` if that is not None)."""
        if prop.name in self.invariant.kept:
            how = "1-induction"
            kept = [g for g in self.invariant.goals if g.name in self.invariant.kept and g.prop is not None]
            lemmas = sum(1 for g in kept if g.prop is not None and g.prop.category == "lemma")
            others = len(kept) - lemmas - 1
            if lemmas or others:
                used = [n for n in self.invariant.cores.get(prop.name, ()) if n != DOMAINS]
                how += f", jointly with {lemmas} lemmas and {others} other properties"
                how += f"; its step used {', '.join(used)}" if used else "; its step used none of them"
            return _proved(prop, how)
        offset = 0 if prop.event is None else 1
        cti: Trace | None = self.invariant.ctis.get(prop.name)
        reason = ""
        if searched_reason is not None:
            return _unknown(prop, f"bounded search at depth {checked + 1}: solver {searched_reason}", cti)
        step = _InductionStep(self.model, self.encoder, prop, self.invariant,
                              with_domain=not self.domain_inductive())
        for k in range(1, max_k + 1):
            # base case: no run of depth <= k-1+offset shows the property
            while checked < k - 1 + offset:
                d = checked + 1
                outcome = self.base.find(prop, d, self.deadline)
                if isinstance(outcome, Found):
                    return _shown(prop, outcome)
                if isinstance(outcome, Unknown):
                    return _unknown(prop, f"base case at depth {d}: solver {outcome.reason}", cti)
                checked = d
            self.check_domain_reachable(k - 1)
            result, why, found_cti = step.check(k, self.deadline)
            if result == z3.unsat:
                return _proved(prop, f"{k}-induction" + self._with_invariant())
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
                return _proved(prop, "spacer" + self._with_invariant())
            if verdict == "reachable":
                for d in range(checked + 1, trace_depth + 1):
                    outcome = self.base.find(prop, d, self.deadline)
                    if isinstance(outcome, Found):
                        return _shown(prop, outcome)
                    if isinstance(outcome, Unknown):
                        break
                return _unknown(prop, f"spacer: reachable, but no trace within depth {trace_depth}", cti)
            reason = f"{reason}; " if reason else ""
            reason += f"spacer: {why}"
        return _unknown(prop, reason, cti)

    def _with_invariant(self) -> str:
        others = [n for n in self.invariant.kept if n != DOMAINS]
        if not others:
            return ""
        return f", assuming the inductive invariant of {len(others)} lemmas and properties"

    def spacer(self, prop: Property) -> tuple[str, str]:
        """("proved" | "reachable" | "unknown", reason) for "no reachable state shows ``prop``"."""
        return self.spacer_query(self.spacer_encoder.shows_in_state(prop, 0))

    def spacer_query(self, bad: Any) -> tuple[str, str]:
        """Whether a reachable state satisfies ``bad`` (a term over state 0 of the integer
        encoding), by Spacer; transitions are restricted to states of the inductive invariant."""
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
        known = z3.And(self.invariant.holds(enc, 0), unwritten(self.model, enc, 0))
        for inst in self.model.instances:
            terms = enc.instance_terms(0, inst)
            post = [terms.assigned.get(v, s[v.pos]) for v in variables]
            fp.rule(inv(*post), [inv(*s), known, terms.guard])
        fp.rule(err(), [inv(*s), known, bad])
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
    arbitrary start, ``ok`` assumed on ``0..k-1``, the invariant on ``0..k``, pairwise
    distinct."""

    def __init__(self, model: Model, encoder: Encoder, prop: Property, invariant: _Invariant, *,
                 with_domain: bool) -> None:
        self.model = model
        self.encoder = encoder
        self.prop = prop
        self.with_domain = with_domain
        self.invariant: Callable[[int], Any] = lambda i: z3.And(invariant.holds(encoder, i), unwritten(model, encoder, i))
        self.solver = new_solver(encoder)
        self.solver.add(encoder.domain(0), self.invariant(0))
        self.k = 0

    def _ok(self, i: int) -> Any:
        ok = z3.Not(self.encoder.shows_in_state(self.prop, i))
        if self.with_domain:
            return z3.And(ok, self.encoder.domain(i))
        return ok

    def check(self, k: int, deadline: Deadline) -> tuple[Any, str, Trace | None]:
        enc = self.encoder
        while self.k < k:
            i = self.k
            self.solver.add(self._ok(i), *enc.transition(i), self.invariant(i + 1))
            if not self.with_domain:
                self.solver.add(enc.domain(i + 1))
            for j in range(i + 1):
                self.solver.add(enc.distinct(j, i + 1))
            self.k += 1
        # a CTI that breaks the property itself, else (if the domains are not proved) one
        # that leaves them
        result, why, cti = self._query(k, self.encoder.shows_in_state(self.prop, k), deadline)
        if result == z3.unsat and self.with_domain:
            result, why, cti = self._query(k, z3.Not(self.encoder.domain(k)), deadline)
        return result, why, cti

    def _query(self, k: int, bad: Any, deadline: Deadline) -> tuple[Any, str, Trace | None]:
        enc = self.encoder
        self.solver.push()
        try:
            self.solver.add(bad)
            result, why = check(self.solver, deadline)
            cti = None
            if result == z3.sat:
                m = self.solver.model()
                path = enc.decode_path(m, k)
                posts = [enc.decode_state(m, i) for i in range(1, k + 1)]
                prop = self.prop if self.prop.is_always else None
                cti = _cti_trace(self.model, enc.decode_state(m, 0), path, posts, prop, self.prop.name)
            return result, why, cti
        finally:
            self.solver.pop()


def _shown(prop: Property, found: Found) -> PropertyResult:
    if prop.is_always:
        return PropertyResult(prop, VIOLATED, found.depth, found.trace, "a real trace, found by the bounded search")
    return PropertyResult(prop, HOLDS, found.depth, found.trace, "reached")


def _proved(prop: Property, how: str) -> PropertyResult:
    if prop.is_always:
        return PropertyResult(prop, HOLDS, None, None, f"proved by {how}")
    return PropertyResult(prop, VIOLATED, None, None, f"vacuous: proved unreachable by {how}")


def describe_state(model: Model, state: State, limit: int | None = None) -> str:
    """A state as its differences from the initial state (the first ``limit`` of them)."""
    diffs = [f"{v.name}={_value(model, v, state[v.pos])}" for v in model.variables if state[v.pos] != model.init[v.pos]]
    if limit is not None and len(diffs) > limit:
        diffs = diffs[:limit] + [f"... {len(diffs) - limit} more"]
    return "{" + ", ".join(diffs) + "}" if diffs else "the initial state"


def _value(model: Model, var: Var, value: int) -> str:
    if not var.lo <= value <= var.hi:
        return f"{value} (outside {var.lo}..{var.hi})"
    return model.describe_value(var, value)


def describe_cti(cti: Trace, limit: int | None = 12) -> str:
    """One line: the CTI's start state (differences from the initial state) and its steps."""
    labels = " ; ".join(s.instance.label for s in cti.steps)
    return (f"CTI (k={cti.depth}, possibly unreachable): from {describe_state(cti.model, cti.init, limit)} "
            f"(as differences from init) via {labels}")


def _unknown(prop: Property, reason: str, cti: Trace | None) -> PropertyResult:
    note = "not proved"
    if reason:
        note += f" ({reason})"
    if cti is not None:
        note += "; " + describe_cti(cti)
    return PropertyResult(prop, UNKNOWN, None, cti, note)


def with_lemmas(model: Model, lemmas: Sequence[Property]) -> Model:
    """``model`` with ``lemmas`` added to its properties (to render a lemma's CTI)."""
    return dataclasses.replace(model, properties=tuple(model.properties) + tuple(lemmas))
