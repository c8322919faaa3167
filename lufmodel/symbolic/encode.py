"""Unrolling a model into Z3 constraints, and decoding solver models back into traces.

After mypyvy's ``check_bmc``: step ``i`` (from state ``i`` to state ``i+1``) has one
Boolean *transition indicator* per instance, named ``<label>#<number>@<i>``, and exactly
one of them is true. An indicator implies its instance's guard and assignments in state
``i``; a variable none of the firing instance's recorded writes names keeps its value (the
frame). Depth ``k`` means exactly ``k`` transitions, so a violation in a state without
successors is found.

The encoder caches the terms of each (step, instance) so that several solvers (the bounded
search and the induction step) can share them; the cache lives in the encoder object.
"""

from __future__ import annotations

from typing import Any, Sequence

import z3

from lufmodel.errors import EngineMismatch
from lufmodel.model import Instance, Model, Property, Var, Write
from lufmodel.symbolic.z3ops import StepRead, Z3Ops

State = tuple[int, ...]


class _InstanceTerms:
    """The guard and assignments of one instance in one symbolic pre-state."""

    __slots__ = ("guard", "assigned")

    def __init__(self, guard: Any, assigned: dict[Var, Any]) -> None:
        self.guard = guard
        self.assigned = assigned


class Encoder:
    """Symbolic steps of one model: reads, transitions, property conditions, switches."""

    def __init__(self, model: Model, width: int | None = None) -> None:
        self.model = model
        self.ops = Z3Ops(width)
        self._reads: dict[int, StepRead] = {}
        self._terms: dict[tuple[int, int], _InstanceTerms] = {}
        self._transitions: dict[int, tuple[Any, ...]] = {}
        self._shifts: dict[int, tuple[int, Any, Any, list[Any], list[Any]]] = {}
        self._shows: dict[tuple[str, Property, int], Any] = {}
        writers: dict[Var, list[int]] = {v: [] for v in model.variables}
        for inst in model.instances:
            for var in inst.writes:
                writers[var].append(inst.number)
        self._writers = {v: tuple(ns) for v, ns in writers.items()}

    # ---- states ----------------------------------------------------------------------

    def read(self, step: int) -> StepRead:
        r = self._reads.get(step)
        if r is None:
            r = StepRead(self.ops, self.model.variables, step)
            self._reads[step] = r
        return r

    def state_is(self, step: int, state: Sequence[int]) -> Any:
        """State ``step`` equals the concrete ``state``."""
        read = self.read(step)
        return z3.And(*[read.consts[v.pos] == self.ops.literal(v, state[v.pos]) for v in self.model.variables])

    def init(self) -> Any:
        return self.state_is(0, self.model.init)

    def domain(self, step: int) -> Any:
        read = self.read(step)
        return z3.And(*[self.ops.domain(v, read.consts[v.pos]) for v in self.model.variables])

    def distinct(self, i: int, j: int) -> Any:
        a, b = self.read(i).consts, self.read(j).consts
        return z3.Or(*[x != y for x, y in zip(a, b)])

    # ---- transitions -----------------------------------------------------------------

    def indicator(self, step: int, inst: Instance) -> Any:
        return z3.Bool(f"{inst.label}#{inst.number}@{step}")

    def indicators(self, step: int) -> list[Any]:
        return [self.indicator(step, inst) for inst in self.model.instances]

    def instance_terms(self, step: int, inst: Instance) -> _InstanceTerms:
        key = (step, inst.number)
        t = self._terms.get(key)
        if t is None:
            read = self.read(step)
            guard = self.ops.and_(inst.action.guard(self.ops, read, inst.args))
            w = Write(read)
            inst.action.effect(self.ops, read, inst.args, w)
            assigned = {var: self.ops.assigned(var, value) for var, value in w.assigned.items()}
            t = _InstanceTerms(guard, assigned)
            self._terms[key] = t
        return t

    def guard(self, step: int, inst: Instance) -> Any:
        return self.instance_terms(step, inst).guard

    def _shift(self, step: int) -> tuple[int, Any, Any, list[Any], list[Any]]:
        """Substitution arrays from the constants of step 0 (states 0 and 1, indicators of
        step 0) to those of ``step``. Terms are built once, through the model's Python
        functions, for step 0, and moved to other steps by Z3's C-level substitution, which
        is much faster (the arrays are built once per step, not per term)."""
        arrays = self._shifts.get(step)
        if arrays is None:
            frm = list(self.read(0).consts + self.read(1).consts) + self.indicators(0)
            to = list(self.read(step).consts + self.read(step + 1).consts) + self.indicators(step)
            a, b = (z3.Ast * len(frm))(), (z3.Ast * len(to))()
            for i, (x, y) in enumerate(zip(frm, to)):
                a[i], b[i] = x.as_ast(), y.as_ast()
            arrays = (len(frm), a, b, frm, to)  # the lists keep the ASTs alive
            self._shifts[step] = arrays
        return arrays

    def shifted(self, term: Any, step: int) -> Any:
        """``term``, built over step 0, moved to step ``step``."""
        if step == 0:
            return term
        n, a, b, _, _ = self._shift(step)
        return z3.z3._to_expr_ref(z3.Z3_substitute(term.ctx.ref(), term.as_ast(), n, a, b), term.ctx)

    def transition(self, step: int) -> tuple[Any, ...]:
        """Constraints for one transition from state ``step`` to state ``step + 1``."""
        cached = self._transitions.get(step)
        if cached is not None:
            return cached
        if step > 0:
            result = tuple(self.shifted(t, step) for t in self.transition(0))
            self._transitions[step] = result
            return result
        pre, post = self.read(step), self.read(step + 1)
        fires = self.indicators(step)
        out: list[Any] = []
        if fires:
            out.append(z3.PbEq([(f, 1) for f in fires], 1))
        else:
            out.append(z3.BoolVal(False))
        for inst, fire in zip(self.model.instances, fires):
            terms = self.instance_terms(step, inst)
            body = [terms.guard]
            body.extend(post.consts[var.pos] == value for var, value in terms.assigned.items())
            out.append(z3.Implies(fire, z3.And(*body)))
        for var in self.model.variables:
            same = post.consts[var.pos] == pre.consts[var.pos]
            writers = self._writers[var]
            if not writers:
                out.append(same)
            else:
                out.append(z3.Or(same, *[fires[n] for n in writers]))
        result = tuple(out)
        self._transitions[step] = result
        return result

    # ---- properties ------------------------------------------------------------------

    def _event_terms(self, prop: Property, step: int, inst: Instance) -> list[Any]:
        """For each event of ``prop``'s kind that ``inst`` emits from state ``step``: the
        condition under which it shows the property (breaks an ``always``, reaches a
        ``sometimes``)."""
        action = inst.action
        if action.emit is None or prop.event_pred is None:
            return []
        read = self.read(step)
        out: list[Any] = []
        for ev in action.emit(self.ops, read, inst.args):
            if ev.kind != prop.event:
                continue
            holds = self.ops.and_(prop.event_pred(self.ops, read, ev.fields))
            shown = z3.Not(holds) if prop.is_always else holds
            out.append(z3.And(self.ops.and_(ev.when), shown))
        return out

    def shows(self, prop: Property, depth: int) -> Any:
        """The run of ``depth`` transitions shows ``prop``: its last state (state property)
        or its last transition (event property) breaks an ``always`` or reaches a
        ``sometimes``."""
        if prop.event is None:
            return self.shows_in_state(prop, depth)
        if depth == 0:
            return z3.BoolVal(False)
        step = depth - 1
        key = ("step", prop, step)
        term = self._shows.get(key)
        if term is None:
            if step > 0:
                term = self.shifted(self.shows(prop, 1), step)
            else:
                terms: list[Any] = []
                for inst in self.model.instances:
                    conds = self._event_terms(prop, step, inst)
                    if conds:
                        terms.append(z3.And(self.indicator(step, inst), z3.Or(*conds)))
                term = z3.Or(*terms) if terms else z3.BoolVal(False)
            self._shows[key] = term
        return term

    def shows_in_state(self, prop: Property, step: int) -> Any:
        """A state condition on state ``step``: for a state property, it shows ``prop``;
        for an event property, some enabled instance would show it by its next transition."""
        key = ("state", prop, step)
        term = self._shows.get(key)
        if term is None:
            term = self.shifted(self.shows_in_state(prop, 0), step) if step > 0 else self._shows_in_state0(prop)
            self._shows[key] = term
        return term

    def _shows_in_state0(self, prop: Property) -> Any:
        read = self.read(0)
        if prop.event is None:
            if prop.state_pred is None:
                return z3.BoolVal(False)
            holds = self.ops.and_(prop.state_pred(self.ops, read))
            return z3.Not(holds) if prop.is_always else holds
        terms: list[Any] = []
        for inst in self.model.instances:
            conds = self._event_terms(prop, 0, inst)
            if conds:
                terms.append(z3.And(self.guard(0, inst), z3.Or(*conds)))
        return z3.Or(*terms) if terms else z3.BoolVal(False)

    # ---- CPU switches ----------------------------------------------------------------

    def switches(self, depth: int) -> list[Any]:
        """One Boolean per step: the step runs on a CPU other than the last CPU that ran
        (steps without a CPU are skipped, as in ``trace.count_switches``)."""
        cpus = sorted({c for c in (i.cpu for i in self.model.instances) if c is not None})
        out: list[Any] = []
        last: Any = z3.IntVal(-1)
        for step in range(depth):
            on: dict[int, Any] = {}
            for c in cpus:
                fires = [self.indicator(step, i) for i in self.model.instances if i.cpu == c]
                on[c] = z3.Or(*fires) if fires else z3.BoolVal(False)
            out.append(z3.Or(*[z3.And(on[c], last >= 0, last != c) for c in cpus]) if cpus else z3.BoolVal(False))
            nxt = last
            for c in reversed(cpus):
                nxt = z3.If(on[c], z3.IntVal(c), nxt)
            last = nxt
        return out

    # ---- decoding --------------------------------------------------------------------

    def decode_state(self, m: Any, step: int) -> State:
        read = self.read(step)
        return tuple(
            self.ops.decode(v, m.eval(read.consts[v.pos], model_completion=True)) for v in self.model.variables
        )

    def decode_path(self, m: Any, depth: int) -> list[Instance]:
        """The instance whose indicator is true at each of the first ``depth`` steps."""
        path: list[Instance] = []
        for step in range(depth):
            fired = [
                inst
                for inst in self.model.instances
                if z3.is_true(m.eval(self.indicator(step, inst), model_completion=True))
            ]
            if len(fired) != 1:
                raise EngineMismatch(f"solver model has {len(fired)} true transition indicators at step {step}")
            path.append(fired[0])
        return path
