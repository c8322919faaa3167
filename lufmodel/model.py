"""The model framework: state variables, actions, events and properties.

A model is a finite set of scalar state variables (integers in a range, or Booleans), one
initial state, a set of action *instances* (an action with concrete parameters), and
properties. Guards, effects, event payloads and property predicates are Python functions
over an ``Ops`` backend and a ``Read`` view of the pre-state; they are written once and run
by every engine.

Frames come from declared writes: an action names the variable families it writes; an
instance writes exactly the variables its effect assigns (a static fact, since effects do
not branch on state), and every other variable keeps its value in every engine.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Protocol, Sequence

from lufmodel.ops import Expr, Ops


@dataclass(frozen=True)
class Var:
    """One scalar state variable: ``family[index]`` with a finite domain ``lo..hi``."""

    family: str
    index: tuple[int, ...]
    lo: int
    hi: int
    is_bool: bool
    pos: int

    @property
    def name(self) -> str:
        if not self.index:
            return self.family
        return f"{self.family}[{','.join(str(i) for i in self.index)}]"


class Read(Protocol):
    """A view of the pre-state: ``s[var]`` is the backend's expression for ``var``."""

    def __getitem__(self, var: Var) -> Expr: ...


class Write:
    """The assignments an effect makes. Reading with ``get`` sees earlier assignments.

    Effects compose sequentially at the Python level (a flush helper, then a set), which
    unrolls to the same straight-line expressions on every backend.
    """

    __slots__ = ("pre", "assigned", "emitted")

    def __init__(self, pre: Read) -> None:
        self.pre = pre
        self.assigned: dict[Var, Expr] = {}
        self.emitted: list[Event] = []

    def __setitem__(self, var: Var, value: Expr) -> None:
        self.assigned[var] = value

    def emit(self, event: Event) -> None:
        """Report an event from inside an effect (a flush reports the mask it flushed) for
        the model's observers (``Observer``). Properties see the events of ``emit``
        functions, which read the pre-state; these are for observers only."""
        self.emitted.append(event)

    def get(self, var: Var) -> Expr:
        """The value ``var`` has after the assignments so far."""
        if var in self.assigned:
            return self.assigned[var]
        return self.pre[var]


@dataclass(frozen=True)
class Args:
    """The parameters of an action instance, by name."""

    items: tuple[tuple[str, int], ...]

    def __getattr__(self, name: str) -> int:
        for key, value in self.items:
            if key == name:
                return value
        raise AttributeError(name)

    def as_dict(self) -> dict[str, int]:
        return dict(self.items)


@dataclass(frozen=True)
class Event:
    """Something an action observes about its pre-state, for event properties.

    ``when`` is the condition under which the event happens on this transition; ``fields``
    are expressions over the pre-state and parameters.
    """

    kind: str
    when: Expr
    fields: Mapping[str, Expr]


Guard = Callable[[Ops, Read, Args], Expr]
Effect = Callable[[Ops, Read, Args, Write], None]
Emit = Callable[[Ops, Read, Args], Sequence[Event]]


Update = Callable[[Ops, Read, "Action", Args, Write, Sequence[Event]], None]


@dataclass(frozen=True)
class Observer:
    """Instrumentation that rides along with every action (a debug monitor, ghost history).

    ``update(ops, s, action, args, w, events)`` runs after the action's effect, in the same
    atomic step: it sees the pre-state ``s``, the post-state through ``w.get``, the action
    and its arguments, and the events of the step (its ``emit`` events, then those the
    effect reported with ``Write.emit``). It may assign only variables of its own
    ``families``, which no action writes: an observer observes, it never changes what the
    model does. The builder folds it into every action's effect, so every engine runs it.
    """

    name: str
    families: frozenset[str]
    update: Update


@dataclass(frozen=True)
class Param:
    name: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class Action:
    """A parameterised guarded command: one step of a kernel path, or a hardware event."""

    name: str
    path: str
    step: str
    params: tuple[Param, ...]
    guard: Guard
    effect: Effect
    writes: frozenset[str]
    emit: Emit | None = None
    cpu_param: str | None = "c"
    kind: str = ""
    """The event kind a spec enables or disables (``fault``, ``reclaim``, ...)."""


@dataclass(frozen=True)
class Instance:
    """An action with concrete parameters: the unit every engine enumerates."""

    number: int
    action: Action
    args: Args
    writes: tuple[Var, ...] = field(compare=False)

    @property
    def cpu(self) -> int | None:
        if self.action.cpu_param is None:
            return None
        return getattr(self.args, self.action.cpu_param)  # type: ignore[no-any-return]

    @property
    def label(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.args.items)
        return f"{self.action.name}({inner})"


StatePred = Callable[[Ops, Read], Expr]
EventPred = Callable[[Ops, Read, Mapping[str, Expr]], Expr]


@dataclass(frozen=True)
class Property:
    """An ``always`` or ``sometimes`` property over states or over events.

    * ``always`` + state: ``pred(ops, s)`` holds in every reachable state.
    * ``always`` + event ``k``: for every transition emitting ``k``, ``pred(ops, s, fields)``
      holds in its pre-state.
    * ``sometimes``: some reachable state (or transition emitting ``k``) satisfies ``pred``;
      a run that never does is vacuous.
    """

    name: str
    doc: str
    modality: str  # "always" | "sometimes"
    category: str  # "rule" | "safety" | "reach"
    event: str | None
    state_pred: StatePred | None = None
    event_pred: EventPred | None = None

    @property
    def is_always(self) -> bool:
        return self.modality == "always"


@dataclass(frozen=True)
class ItemSort:
    """One sort of interchangeable items (page frames, or CPUs of the same role).
    ``classes`` partitions the items: items are renamed only within their class.
    ``index_dims`` names, per variable family, the index positions that are items of this
    sort; ``value_offset`` names the families whose value is an item plus that offset
    (values outside offset .. offset + items - 1 mean "none" and stay)."""

    name: str
    items: int
    classes: tuple[tuple[int, ...], ...]
    index_dims: tuple[tuple[str, tuple[int, ...]], ...]
    value_offset: tuple[tuple[str, int], ...]

    def permutations(self) -> list[tuple[int, ...]]:
        """Every renaming within the classes (``perm[i]`` is the new name of item i), the
        identity first."""
        out: list[tuple[int, ...]] = []
        for images in itertools.product(*(itertools.permutations(cls) for cls in self.classes)):
            perm = list(range(self.items))
            for cls, image in zip(self.classes, images):
                for old, new in zip(cls, image):
                    perm[old] = new
            out.append(tuple(perm))
        return out


CPU_SORT = "CPU"
"""The name of the sort whose items are CPUs: renaming it renames instances' CPUs too."""


@dataclass(frozen=True)
class Symmetry:
    """Interchangeable items: renaming them maps every reachable state to a state that
    behaves the same, so a search may store one representative per class of renamings."""

    sorts: tuple[ItemSort, ...]

    def permutations(self) -> list[tuple[tuple[int, ...], ...]]:
        """Every renaming (one permutation per sort), the identity first; the compiled
        canonical form numbers them in this order."""
        return list(itertools.product(*(s.permutations() for s in self.sorts)))

    def cpu_perm(self, perm: Sequence[tuple[int, ...]], cpus: int) -> tuple[int, ...]:
        """The CPU part of ``perm`` (the identity when CPUs are not renamed)."""
        for sort, p in zip(self.sorts, perm):
            if sort.name == CPU_SORT:
                return p
        return tuple(range(cpus))

    def describe(self) -> str:
        names = " and ".join(s.name for s in self.sorts)
        return f"{names} symmetry ({len(self.permutations())} renamings)"

    def rename(self, variables: Sequence[Var], perm: Sequence[tuple[int, ...]], state: Sequence[int]) -> tuple[int, ...]:
        """``state`` with item ``i`` of each sort renamed ``perm[sort][i]``: the reference the
        compiled canonical form and the tests are checked against."""
        position = {(v.family, v.index): v.pos for v in variables}
        tables = [(sort, p, dict(sort.index_dims), dict(sort.value_offset)) for sort, p in zip(self.sorts, perm)]
        out = [0] * len(state)
        for var in variables:
            index = list(var.index)
            value = state[var.pos]
            for sort, p, dims, offsets in tables:
                for d in dims.get(var.family, ()):
                    index[d] = p[index[d]]
                off = offsets.get(var.family)
                if off is not None and off <= value < off + sort.items:
                    value = p[value - off] + off
            out[position[var.family, tuple(index)]] = value
        return tuple(out)


@dataclass(frozen=True)
class Model:
    """A finished, validated model: what every engine runs."""

    name: str
    variables: tuple[Var, ...]
    init: tuple[int, ...]
    instances: tuple[Instance, ...]
    properties: tuple[Property, ...]
    cpus: int
    describe_value: Callable[[Var, int], str] = field(compare=False)
    """How renderers print a variable's value (frame numbers, object names, ...)."""
    annotate: Callable[[Sequence[int]], tuple[str, ...]] = field(compare=False, default=lambda state: ())
    """Domain notes about a state for renderers (for LUF: the stale translations in it)."""
    observed: frozenset[str] = frozenset()
    """Variable families written only by observers (``Observer``): ghost instrumentation.
    Projecting them away gives the states of the model without its observers."""
    symmetry: Symmetry | None = field(compare=False, default=None)
    """Items a search may treat as interchangeable (``explore --symmetry``), if the domain
    declared them for every variable family."""
    control: tuple[Var, ...] = ()
    """Per CPU, the variable that says which step of a kernel path the CPU is at (0: none;
    the CPU runs user code). Schedulers (the fuzzer) use it to tell a CPU inside a path
    from an idle one; empty when the domain does not say."""

    def var(self, name: str) -> Var:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)

    def prop(self, name: str) -> Property:
        for p in self.properties:
            if p.name == name:
                return p
        raise KeyError(name)

    def instance(self, action: str, args: Mapping[str, int]) -> Instance:
        key = tuple(sorted(args.items()))
        for inst in self.instances:
            if inst.action.name == action and tuple(sorted(inst.args.items)) == key:
                return inst
        raise KeyError(f"{action}({dict(args)})")

    def state_dict(self, state: Sequence[int]) -> dict[str, int]:
        return {v.name: state[v.pos] for v in self.variables}

    def iter_families(self) -> Iterator[str]:
        seen: set[str] = set()
        for v in self.variables:
            if v.family not in seen:
                seen.add(v.family)
                yield v.family
