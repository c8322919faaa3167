"""Building a model: declaring variables, actions and properties, then validating them.

Validation runs every instance's effect once on source names to find the variables it
assigns. It rejects writes outside the action's declared families and declared families no
instance ever assigns: either would make the symbolic engine's frame differ from the
explicit engine's successor.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Mapping, Sequence

from lufmodel.backends.codegen import CodegenOps, CodegenRead
from lufmodel.errors import ModelDefinitionError
from lufmodel.ops import Expr, Ops
from lufmodel.model import (
    Action,
    Args,
    Effect,
    Emit,
    EventPred,
    Guard,
    Instance,
    Model,
    Observer,
    Param,
    Property,
    Read,
    StatePred,
    Update,
    Var,
    Write,
)


class VarArray:
    """A family of variables indexed by a fixed shape: ``arr[i, j]`` is a ``Var``."""

    def __init__(self, family: str, shape: tuple[int, ...], vars_: dict[tuple[int, ...], Var]) -> None:
        self.family = family
        self.shape = shape
        self._vars = vars_

    def __getitem__(self, index: int | tuple[int, ...]) -> Var:
        key = index if isinstance(index, tuple) else (index,)
        try:
            return self._vars[key]
        except KeyError:
            raise IndexError(f"{self.family}{list(key)} outside shape {self.shape}") from None

    def all(self) -> list[Var]:
        return list(self._vars.values())


class ModelBuilder:
    """Collects declarations; ``build`` validates them and returns a ``Model``."""

    def __init__(self, name: str, cpus: int) -> None:
        self.name = name
        self.cpus = cpus
        self._vars: list[Var] = []
        self._families: dict[str, VarArray] = {}
        self._actions: list[tuple[Action, Callable[[Args], bool] | None]] = []
        self._props: list[Property] = []
        self._observers: list[Observer] = []

    # ---- variables -------------------------------------------------------------------

    def array(self, family: str, shape: Sequence[int], lo: int, hi: int, *, is_bool: bool = False) -> VarArray:
        if family in self._families:
            raise ModelDefinitionError(f"variable family {family!r} declared twice")
        if lo > hi:
            raise ModelDefinitionError(f"variable family {family!r}: empty domain {lo}..{hi}")
        vars_: dict[tuple[int, ...], Var] = {}
        for index in itertools.product(*[range(n) for n in shape]):
            var = Var(family, tuple(index), lo, hi, is_bool, len(self._vars))
            self._vars.append(var)
            vars_[tuple(index)] = var
        arr = VarArray(family, tuple(shape), vars_)
        self._families[family] = arr
        return arr

    def bools(self, family: str, shape: Sequence[int]) -> VarArray:
        return self.array(family, shape, 0, 1, is_bool=True)

    def scalar(self, family: str, lo: int, hi: int) -> Var:
        return self.array(family, (), lo, hi)[()]

    # ---- actions ---------------------------------------------------------------------

    def action(
        self,
        name: str,
        *,
        path: str,
        step: str,
        params: Mapping[str, Sequence[int]],
        guard: Guard,
        effect: Effect,
        writes: Sequence[str],
        emit: Emit | None = None,
        cpu_param: str | None = "c",
        kind: str = "",
        where: Callable[[Args], bool] | None = None,
    ) -> None:
        """Declare an action; ``where`` filters parameter combinations (never state)."""
        if any(a.name == name for a, _ in self._actions):
            raise ModelDefinitionError(f"action {name!r} declared twice")
        unknown = [f for f in writes if f not in self._families]
        if unknown:
            raise ModelDefinitionError(f"action {name!r} declares writes to unknown families {unknown}")
        act = Action(
            name=name,
            path=path,
            step=step,
            params=tuple(Param(k, tuple(v)) for k, v in params.items()),
            guard=guard,
            effect=effect,
            writes=frozenset(writes),
            emit=emit,
            cpu_param=cpu_param,
            kind=kind,
        )
        self._actions.append((act, where))

    # ---- properties ------------------------------------------------------------------

    def always(self, name: str, doc: str, pred: StatePred, *, category: str = "safety") -> None:
        self._props.append(Property(name, doc, "always", category, None, state_pred=pred))

    def always_on(self, name: str, doc: str, event: str, pred: EventPred, *, category: str = "safety") -> None:
        self._props.append(Property(name, doc, "always", category, event, event_pred=pred))

    def sometimes(self, name: str, doc: str, pred: StatePred) -> None:
        self._props.append(Property(name, doc, "sometimes", "reach", None, state_pred=pred))

    def sometimes_on(self, name: str, doc: str, event: str, pred: EventPred) -> None:
        self._props.append(Property(name, doc, "sometimes", "reach", event, event_pred=pred))

    def properties(self) -> tuple[Property, ...]:
        """The properties declared so far (derived properties are built from them)."""
        return tuple(self._props)

    # ---- observers -------------------------------------------------------------------

    def observe(self, name: str, families: Sequence[str], update: Update) -> None:
        """Fold ``update`` into every action's effect (see ``model.Observer``); it may write
        only ``families``, declared before and written by no action."""
        if any(o.name == name for o in self._observers):
            raise ModelDefinitionError(f"observer {name!r} declared twice")
        unknown = [f for f in families if f not in self._families]
        if unknown:
            raise ModelDefinitionError(f"observer {name!r} writes unknown families {unknown}")
        self._observers.append(Observer(name, frozenset(families), update))

    # ---- build -----------------------------------------------------------------------

    def build(
        self,
        init: Mapping[Var, int],
        describe_value: Callable[[Var, int], str],
        annotate: Callable[[Sequence[int]], tuple[str, ...]] | None = None,
    ) -> Model:
        state = [v.lo for v in self._vars]
        for var, value in init.items():
            if not var.lo <= value <= var.hi:
                raise ModelDefinitionError(f"initial {var.name}={value} outside {var.lo}..{var.hi}")
            state[var.pos] = value
        names = [p.name for p in self._props]
        if len(set(names)) != len(names):
            raise ModelDefinitionError(f"property names repeat: {names}")
        instances: list[Instance] = []
        observed = frozenset().union(*(o.families for o in self._observers)) if self._observers else frozenset()
        for declared, where in self._actions:
            clash = sorted(declared.writes & observed)
            if clash:
                raise ModelDefinitionError(f"action {declared.name!r} writes observer families {clash}")
            act = _with_observers(declared, self._observers)
            written_families: set[str] = set()
            keys = [p.name for p in act.params]
            for combo in itertools.product(*[p.values for p in act.params]):
                args = Args(tuple(zip(keys, combo)))
                if where is not None and not where(args):
                    continue
                writes = _recorded_writes(declared, args)
                stray = sorted(v.name for v in writes if v.family not in declared.writes)
                if stray:
                    raise ModelDefinitionError(
                        f"action {act.name!r} assigns undeclared variables {stray}; "
                        f"declared families: {sorted(declared.writes)}"
                    )
                written_families.update(v.family for v in writes)
                if act is not declared:
                    writes = _recorded_writes(act, args)
                ordered = tuple(sorted(writes, key=lambda v: v.pos))
                instances.append(Instance(len(instances), act, args, ordered))
            never = sorted(declared.writes - written_families)
            if never and any(i.action is act for i in instances):
                raise ModelDefinitionError(
                    f"action {act.name!r} declares writes to {never} but never assigns them"
                )
        return Model(
            name=self.name,
            variables=tuple(self._vars),
            init=tuple(state),
            instances=tuple(instances),
            properties=tuple(self._props),
            cpus=self.cpus,
            describe_value=describe_value,
            annotate=annotate if annotate is not None else (lambda state: ()),
            observed=observed,
        )


def _recorded_writes(act: Action, args: Args) -> set[Var]:
    ops = CodegenOps()
    read = CodegenRead()
    w = Write(read)
    act.effect(ops, read, args, w)
    return set(w.assigned)


class _ScopedWrite(Write):
    """The ``Write`` an observer gets: the action's assignments, but it may assign only its
    own families (checked in every engine, so a stray write cannot slip through)."""

    __slots__ = ("observer",)

    def __init__(self, inner: Write, observer: Observer) -> None:
        super().__init__(inner.pre)
        self.assigned = inner.assigned
        self.emitted = inner.emitted
        self.observer = observer

    def __setitem__(self, var: Var, value: Expr) -> None:
        if var.family not in self.observer.families:
            raise ModelDefinitionError(
                f"observer {self.observer.name!r} assigns {var.name}; it may write only {sorted(self.observer.families)}"
            )
        self.assigned[var] = value


def _with_observers(act: Action, observers: Sequence[Observer]) -> Action:
    """``act`` with every observer's update folded into its effect (and its writes)."""
    if not observers:
        return act
    effect, emit = act.effect, act.emit

    def observed(ops: Ops, s: Read, a: Args, w: Write) -> None:
        effect(ops, s, a, w)
        events = list(emit(ops, s, a)) if emit is not None else []
        events += w.emitted
        for o in observers:
            o.update(ops, s, act, a, _ScopedWrite(w, o), events)

    families = frozenset().union(*(o.families for o in observers))
    return dataclasses.replace(act, effect=observed, writes=act.writes | families)

