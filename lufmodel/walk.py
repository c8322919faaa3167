"""The seeded random-walk fuzz engine: many short runs, most of them started from a state
an earlier run reached, with the scheduling policy of ``lufmodel.schedule``.

Why not only hypothesis: the violations of the LUF specs are 15 to 22 steps deep and need
a few specific choices in a row (a CPU parked inside a kernel path while another runs a
whole path, no TLB eviction in between, the one write the version budget allows).
Hypothesis runs a few thousand model steps a second and starts every run from the initial
state; this engine runs tens of thousands, and *reuses prefixes*: a run that reaches an
unusual state leaves it in an archive, and later runs continue from there, so that a
violation needing two unlikely stretches costs about the sum of their costs, not the
product (the "go-explore" scheme of Ecoffet et al.).

The archive groups states into *cells* by the set of instances enabled in them (which
guards hold: an abstraction derived from the model, not from a property). Each cell keeps
a uniform sample of up to ``CELL_SAMPLE`` of the states seen in it (reservoir sampling).
A run starts from the initial state with probability ``P_INIT``; else from a cell no run
has started from yet (``P_FRESH``, while there are such cells); else from the least
visited of ``TOURNAMENT`` cells drawn uniformly (rare cells are the interesting ones). In
the cell it takes the shallowest state with probability ``P_SHALLOW`` (shorter traces),
else a random one. Runs are stored as a start point and the instances fired, so the full
trace of any state is the chain of its runs' prefixes (runs nobody refers to any more are
dropped).

Why these choices, measured on the 31 violating specs: docs/fuzzing.md.

Everything is drawn from one ``random.Random(seed)``: the same seed gives the same run
(unless a wall-clock limit cuts it short).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from lufmodel.backends.codegen import compile_model
from lufmodel.model import Model, Property
from lufmodel.schedule import NO_CPU, Policy
from lufmodel.semantics import Interpreter
from lufmodel.trace import count_switches

State = tuple[int, ...]

# (instance number, successor, event-invariant bits broken, sometimes-event bits reached)
Succ = tuple[int, State, int, int]

P_INIT = 0.05
P_FRESH = 0.8
CELL_SAMPLE = 8
P_SHALLOW = 0.5
TOURNAMENT = 4
MAX_CELLS = 1 << 15
"""Cells kept (keys are folded by hash beyond it): bounds the archive to a few hundred MB."""
MAX_COUNTED_STATES = 2_000_000
"""Distinct states are counted exactly up to this many (then the count is a lower bound)."""

BACKENDS = ("compiled", "interpreter")


# ---- successors, with property bits -----------------------------------------------------


class Backend:
    """Successors and state-property bits, over the properties ``props`` (bit i = props[i])."""

    def successors(self, state: State) -> list[Succ]:
        raise NotImplementedError

    def state_bits(self, state: State) -> tuple[int, int]:
        """(always state properties broken, sometimes state properties reached)."""
        raise NotImplementedError


class CompiledBackend(Backend):
    def __init__(self, model: Model, props: Sequence[Property]) -> None:
        compiled = compile_model(model, props)
        self.compiled = compiled
        self._steps = compiled.steps
        self._check = compiled.state_check

    def successors(self, state: State) -> list[Succ]:
        out: list[Succ] = []
        for number, fn in enumerate(self._steps):
            r = fn(state)
            if r is not None:
                out.append((number, r[0], r[1], r[2]))
        return out

    def state_bits(self, state: State) -> tuple[int, int]:
        return self._check(state)


class InterpreterBackend(Backend):
    def __init__(self, model: Model, props: Sequence[Property]) -> None:
        self._model = model
        self._props = tuple(props)
        self._interp = Interpreter(model)
        self._bit = {p.name: 1 << i for i, p in enumerate(self._props)}

    def _mask(self, props: Sequence[Property]) -> int:
        bits = 0
        for p in props:
            bits |= self._bit[p.name]
        return bits

    def successors(self, state: State) -> list[Succ]:
        interp, props = self._interp, self._props
        out: list[Succ] = []
        for inst in self._model.instances:
            if not interp.enabled(state, inst):
                continue
            succ = interp.step(state, inst)
            bad = self._mask(interp.broken_on_step(state, inst, props))
            hit = self._mask(interp.reached_on_step(state, inst, props))
            out.append((inst.number, succ, bad, hit))
        return out

    def state_bits(self, state: State) -> tuple[int, int]:
        return (
            self._mask(self._interp.broken_in_state(state, self._props)),
            self._mask(self._interp.reached_in_state(state, self._props)),
        )


def make_backend(name: str, model: Model, props: Sequence[Property]) -> Backend:
    if name == "compiled":
        return CompiledBackend(model, props)
    if name == "interpreter":
        return InterpreterBackend(model, props)
    raise ValueError(f"unknown fuzz backend {name!r}; choose one of {', '.join(BACKENDS)}")


# ---- what a fuzz call observed ----------------------------------------------------------


@dataclass(frozen=True)
class Discovery:
    """When a property was first shown: the run (1-based, counting search runs), the
    seconds since the start, the length of the trace that first showed it, and the model
    steps taken until then (in all runs; a measure of effort that does not depend on the
    machine)."""

    prop: str
    example: int
    seconds: float
    first_depth: int
    steps: int = 0


class Observations:
    """Everything one fuzz call observes (either engine). Created per call: no
    module-level state."""

    def __init__(self, model: Model, props: Sequence[Property], start: float | None = None) -> None:
        self.model = model
        self.props = tuple(props)
        self.start = time.monotonic() if start is None else start
        self.search_runs = 0
        self.steps = 0
        self.longest = 0
        self.action_counts = [0] * len(model.instances)
        self.sometimes_runs = [0] * len(self.props)
        self.deadlocks = 0
        self.starved = 0
        self.state_hashes: set[int] = {hash(model.init)}
        self.states_capped = False
        self.cells = 0
        # property index -> shortest instance sequence seen (violation or witness)
        self.best: dict[int, tuple[int, ...]] = {}
        self.discovered: dict[int, Discovery] = {}

    def saw(self, state: State) -> None:
        if len(self.state_hashes) < MAX_COUNTED_STATES:
            self.state_hashes.add(hash(state))
        else:
            self.states_capped = True

    def improves(self, index: int, length: int) -> bool:
        """A trace of ``length`` steps would be the first or a shorter one for ``index``."""
        old = self.best.get(index)
        return old is None or length < len(old)

    def shown(self, index: int, trace: Sequence[int]) -> None:
        """Property ``index`` was broken (always) or reached (sometimes) by ``trace``."""
        run = tuple(trace)
        if index not in self.discovered:
            self.discovered[index] = Discovery(
                self.props[index].name, self.search_runs, time.monotonic() - self.start, len(run), self.steps
            )
        old = self.best.get(index)
        if old is None or _shorter(self.model, run, old):
            self.best[index] = run


def _shorter(model: Model, new: tuple[int, ...], old: tuple[int, ...]) -> bool:
    """Fewer steps, then fewer CPU switches, then the smaller instance numbers."""

    def key(t: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
        return len(t), count_switches([model.instances[n] for n in t]), t

    return key(new) < key(old)


def bits_of(mask: int) -> list[int]:
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


# ---- stored runs: the traces behind archived states ------------------------------------

Ref = tuple[int, int]
"""A state reached by a stored run: (run id, steps taken in it). ``ROOT`` is the initial state."""

ROOT: Ref = (-1, 0)


class _Runs:
    """Runs as (start, instances fired), reference-counted by the archive and by the runs
    that start inside them."""

    def __init__(self) -> None:
        self._start: dict[int, Ref] = {}
        self._insts: dict[int, Sequence[int]] = {}
        self._depth: dict[int, int] = {}
        self._refs: dict[int, int] = {}
        self._next = 0

    def open(self, start: Ref, insts: list[int]) -> int:
        """Store a run that is starting at ``start`` (``insts`` fills as it goes); held
        until ``close``."""
        rid = self._next
        self._next += 1
        self._start[rid] = start
        self._insts[rid] = insts
        self._depth[rid] = self.depth(start)
        self._refs[rid] = 1
        self.incref(start[0])
        return rid

    def close(self, rid: int) -> None:
        self._insts[rid] = tuple(self._insts[rid])
        self.decref(rid)

    def depth(self, ref: Ref) -> int:
        rid, pos = ref
        return pos if rid < 0 else self._depth[rid] + pos

    def incref(self, rid: int) -> None:
        if rid >= 0:
            self._refs[rid] += 1

    def decref(self, rid: int) -> None:
        while rid >= 0:
            self._refs[rid] -= 1
            if self._refs[rid] > 0:
                return
            parent = self._start.pop(rid)[0]
            del self._insts[rid], self._depth[rid], self._refs[rid]
            rid = parent

    def path(self, ref: Ref) -> list[int]:
        """The instances fired from the initial state to ``ref``."""
        parts: list[Sequence[int]] = []
        rid, pos = ref
        while rid >= 0:
            parts.append(self._insts[rid][:pos])
            rid, pos = self._start[rid]
        out: list[int] = []
        for part in reversed(parts):
            out.extend(part)
        return out

    def __len__(self) -> int:
        return len(self._start)


class _Cell:
    __slots__ = ("items", "visits")

    def __init__(self, item: tuple[bytes | State, Ref]) -> None:
        self.items = [item]
        self.visits = 1


class Archive:
    """States by cell, a reservoir sample of ``CELL_SAMPLE`` per cell.

    A cell key is the set of enabled instances (``cell_bits``); keys are folded into
    ``MAX_CELLS`` cells by their hash, which bounds the memory at sizes where almost every
    state has a key of its own (at 4 CPUs, about one new key per four steps). States are
    stored packed in ``bytes`` when every variable fits in one.
    """

    def __init__(self, model: Model, runs: _Runs) -> None:
        self.runs = runs
        self.cells: dict[int, _Cell] = {}
        self.order: list[int] = []
        self.fresh: list[int] = []
        self.packed = all(0 <= v.lo and v.hi < 256 for v in model.variables)

    def _pack(self, state: State) -> bytes | State:
        return bytes(state) if self.packed else state

    def visit(self, key: int, state: State, ref: Ref, rng: random.Random) -> None:
        key = hash((key,)) % MAX_CELLS  # a tuple hash mixes every bit of the key
        cell = self.cells.get(key)
        if cell is None:
            self.cells[key] = _Cell((self._pack(state), ref))
            self.order.append(key)
            self.fresh.append(key)
            self.runs.incref(ref[0])
            return
        cell.visits += 1
        if len(cell.items) < CELL_SAMPLE:
            cell.items.append((self._pack(state), ref))
            self.runs.incref(ref[0])
            return
        j = rng.randrange(cell.visits)
        if j < CELL_SAMPLE:
            self.runs.incref(ref[0])
            self.runs.decref(cell.items[j][1][0])
            cell.items[j] = (self._pack(state), ref)

    def pick(self, rng: random.Random) -> tuple[State, Ref]:
        """A state to start a run from (see the module docstring)."""
        if self.fresh and rng.random() < P_FRESH:
            j = rng.randrange(len(self.fresh))
            key = self.fresh[j]
            self.fresh[j] = self.fresh[-1]
            self.fresh.pop()
        else:
            order, cells = self.order, self.cells
            key = order[rng.randrange(len(order))]
            for _ in range(TOURNAMENT - 1):
                other = order[rng.randrange(len(order))]
                if cells[other].visits < cells[key].visits:
                    key = other
        items = self.cells[key].items
        if rng.random() < P_SHALLOW:
            state, ref = min(items, key=lambda item: self.runs.depth(item[1]))
        else:
            state, ref = items[rng.randrange(len(items))]
        return tuple(state), ref


def cell_bits(model: Model) -> tuple[int, ...]:
    """cell_bits[instance number]: its bit in a cell key (one bit per instance).

    Measured against one bit per (action, CPU) pair, which merges instances that differ in
    other arguments: the same on most specs, but 16,000 against 60,000 to 750,000 steps
    to P2 on L3-two-mappings-two-threads-v12, whose violation depends on which of two
    mappings a CPU's TLB holds."""
    return tuple(1 << inst.number for inst in model.instances)


# ---- the engine -------------------------------------------------------------------------


@dataclass(frozen=True)
class WalkProgress:
    runs: int
    steps: int
    seconds: float
    shown: tuple[int, ...]
    """Indices of the properties shown so far."""


def walk(
    model: Model,
    backend: Backend,
    policy: Policy,
    obs: Observations,
    *,
    seed: int,
    runs: int,
    steps: int,
    deadline: float | None = None,
    archive: bool = True,
    progress: Callable[[WalkProgress], None] | None = None,
) -> str | None:
    """Run up to ``runs`` runs of up to ``steps`` steps each, recording into ``obs``.

    Stops early when every property of ``obs`` is shown. Returns why it stopped early
    (``"timeout"``) or ``None``. ``archive=False`` starts every run at the initial state
    (a plain random walk with restarts).
    """
    rng = random.Random(seed)

    def draw(n: int, label: str) -> int:
        return rng.randrange(n)

    store = _Runs()
    cells = Archive(model, store)
    cell_bit = cell_bits(model)
    all_props = len(obs.props)
    cpu_of = policy.cpu_of
    init = model.init
    bad0, hit0 = backend.state_bits(init)
    for i in bits_of(bad0 | hit0):
        obs.shown(i, ())
    for i in bits_of(hit0):
        obs.sometimes_runs[i] += 1
    last_report = time.monotonic()
    while obs.search_runs < runs and len(obs.best) < all_props:
        now = time.monotonic()
        if deadline is not None and now > deadline:
            return "timeout"
        if progress is not None and now - last_report >= 0.5:
            last_report = now
            progress(WalkProgress(obs.search_runs, obs.steps, now - obs.start, tuple(sorted(obs.best))))
        if archive and cells.order and rng.random() >= P_INIT:
            state, start = cells.pick(rng)
        else:
            state, start = init, ROOT
        insts: list[int] = []
        rid = store.open(start, insts)
        base = store.depth(start)
        obs.search_runs += 1
        shape = policy.shape(draw)
        priority = list(shape.priority) if shape.priority else None
        last = NO_CPU
        reached = 0
        starved_once = False
        for k in range(steps):
            succs = backend.successors(state)
            if not succs:
                obs.deadlocks += 1
                break
            by_number = {s[0]: s for s in succs}
            if archive:
                key = 0
                for n in by_number:
                    key |= cell_bit[n]
                cells.visit(key, state, (rid, k), rng)
            number, starved = policy.choose(state, list(by_number), shape, last, k, priority, draw)
            if starved and not starved_once:
                starved_once = True
                obs.starved += 1
            _, succ, bad, hit = by_number[number]
            insts.append(number)
            obs.steps += 1
            obs.action_counts[number] += 1
            sbad, shit = backend.state_bits(succ)
            bad |= sbad
            hit |= shit
            if bad or hit:
                length = base + k + 1
                for i in bits_of(bad | hit):
                    if obs.improves(i, length):
                        obs.shown(i, store.path(start) + insts)
                new = hit & ~reached
                reached |= hit
                for i in bits_of(new):
                    obs.sometimes_runs[i] += 1
            obs.saw(succ)
            state = succ
            last = cpu_of[number]
        if base + len(insts) > obs.longest:
            obs.longest = base + len(insts)
        store.close(rid)
        obs.cells = len(cells.order)
    return None
