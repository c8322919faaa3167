"""The reference interpreter: the model's functions evaluated on concrete values.

Replay, the fuzzer and the tests use this; the explicit explorer uses generated code that
the tests check against it state by state. With ``strict=True`` every function runs under
the strict backend, which refuses Python branching on state values and checks sorts.
"""

from __future__ import annotations

from typing import Sequence

from lufmodel.backends.concrete import ConcreteOps, TupleRead
from lufmodel.backends.strict import StrictOps, StrictRead, StrictValue, unwrap_value
from lufmodel.errors import ModelDefinitionError
from lufmodel.model import Instance, Model, Property, Read, Write
from lufmodel.ops import Expr, Ops

State = tuple[int, ...]


class Interpreter:
    """Evaluates guards, effects, events and properties of one model on concrete states."""

    def __init__(self, model: Model, *, strict: bool = False) -> None:
        self.model = model
        self.strict = strict
        self._ops: Ops = StrictOps() if strict else ConcreteOps()

    def _read(self, state: Sequence[int]) -> Read:
        return StrictRead(state) if self.strict else TupleRead(state)

    def _truth(self, x: Expr, what: str) -> bool:
        if self.strict:
            if not isinstance(x, StrictValue) or x.sort != "bool":
                raise ModelDefinitionError(f"{what} did not return a Boolean ops expression: {x!r}")
            return bool(x.value)
        return bool(x)

    def enabled(self, state: State, inst: Instance) -> bool:
        return self._truth(inst.action.guard(self._ops, self._read(state), inst.args), f"guard of {inst.label}")

    def step(self, state: State, inst: Instance) -> State:
        """The successor of ``state`` under ``inst`` (whose guard must hold)."""
        read = self._read(state)
        w = Write(read)
        inst.action.effect(self._ops, read, inst.args, w)
        new = list(state)
        for var, value in w.assigned.items():
            if var not in inst.writes:
                raise ModelDefinitionError(f"{inst.label} assigned {var.name} outside its recorded writes")
            v = unwrap_value(value, var) if self.strict else int(value)
            if not var.lo <= v <= var.hi:
                raise ModelDefinitionError(
                    f"{inst.label} set {var.name}={v}, outside its domain {var.lo}..{var.hi}"
                )
            new[var.pos] = v
        return tuple(new)

    def successors(self, state: State) -> list[tuple[Instance, State]]:
        return [(i, self.step(state, i)) for i in self.model.instances if self.enabled(state, i)]

    def _event_results(self, state: State, inst: Instance, props: Sequence[Property]) -> tuple[list[Property], list[Property]]:
        broken: list[Property] = []
        reached: list[Property] = []
        if inst.action.emit is None:
            return broken, reached
        read = self._read(state)
        for ev in inst.action.emit(self._ops, read, inst.args):
            happens = self._truth(ev.when, f"event {ev.kind} of {inst.label}")
            if not happens:
                continue
            for prop in props:
                if prop.event != ev.kind or prop.event_pred is None:
                    continue
                holds = self._truth(prop.event_pred(self._ops, read, ev.fields), f"property {prop.name}")
                if prop.is_always and not holds and prop not in broken:
                    broken.append(prop)
                if not prop.is_always and holds and prop not in reached:
                    reached.append(prop)
        return broken, reached

    def broken_on_step(self, state: State, inst: Instance, props: Sequence[Property]) -> list[Property]:
        """The ``always`` event properties that transition ``inst`` from ``state`` breaks."""
        return self._event_results(state, inst, props)[0]

    def reached_on_step(self, state: State, inst: Instance, props: Sequence[Property]) -> list[Property]:
        return self._event_results(state, inst, props)[1]

    def broken_in_state(self, state: State, props: Sequence[Property]) -> list[Property]:
        read = self._read(state)
        return [
            p
            for p in props
            if p.is_always and p.state_pred is not None and not self._truth(p.state_pred(self._ops, read), p.name)
        ]

    def reached_in_state(self, state: State, props: Sequence[Property]) -> list[Property]:
        read = self._read(state)
        return [
            p
            for p in props
            if not p.is_always and p.state_pred is not None and self._truth(p.state_pred(self._ops, read), p.name)
        ]
