"""The explicit-state engine: breadth-first search with shortest, fewest-switch traces.

The search expands the state graph level by level over generated step functions (see
``backends.codegen``). A property's first violation is found at the smallest depth; the
level is finished so that every shortest violation is known, and a second pass over the
levels before it picks, among the shortest, one with the fewest switches between CPUs.
Every trace is then replayed through the reference interpreter before it is returned.

Limits (depth, states, time) and Ctrl-C end the search early; then no property is called
"holds": the verdict is "bounded" by the last fully explored depth, or "unknown".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from lufmodel.backends.codegen import CompiledModel, compile_model
from lufmodel.model import Instance, Model, Property
from lufmodel.results import BOUNDED, HOLDS, UNKNOWN, VIOLATED, Limits, PropertyResult, RunResult, Stats
from lufmodel.trace import confirmed

State = tuple[int, ...]


@dataclass(frozen=True)
class Progress:
    states: int
    transitions: int
    depth: int
    seconds: float


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class Target:
    """Where a property is first shown: a state (index), or a step from a state."""

    state: int
    instance: int | None


class _Search:
    def __init__(self, model: Model, props: Sequence[Property], compiled: CompiledModel) -> None:
        self.model = model
        self.props = tuple(props)
        self.compiled = compiled
        self.states: list[State] = [model.init]
        self.index: dict[State, int] = {model.init: 0}
        self.depth_of: list[int] = [0]
        self.transitions = 0
        # property bit -> (depth, targets at that depth)
        self.found: dict[int, tuple[int, list[Target]]] = {}

    def note(self, bits: int, depth: int, target: Target) -> None:
        while bits:
            low = bits & -bits
            bit = low.bit_length() - 1
            bits ^= low
            seen = self.found.get(bit)
            if seen is None:
                self.found[bit] = (depth, [target])
            elif seen[0] == depth:
                seen[1].append(target)


ENGINES = ("auto", "native", "python")


def explore(
    model: Model,
    props: Sequence[Property] | None = None,
    limits: Limits = Limits(),
    progress: ProgressFn | None = None,
    progress_every: float = 0.5,
    spec_name: str = "",
    engine: str = "auto",
    threads: int = 1,
    symmetry: bool = False,
) -> RunResult:
    """Explore ``model`` breadth-first and return a verdict for every property in ``props``.

    ``engine``: "native" (compiled C, fingerprints: ``explore_native``), "python"
    (generated Python, full states: exact), or "auto" (native when a C compiler is there).
    Both give the same verdicts, depths and traces; the tests check it on every spec.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
    if symmetry and engine == "python":
        raise ValueError("symmetry reduction needs the native engine")
    if engine != "python":
        from lufmodel.backends.native import NativeUnavailable
        from lufmodel.explore_native import explore_native

        try:
            return explore_native(model, props, limits, progress, progress_every, spec_name, threads, symmetry=symmetry)
        except NativeUnavailable:
            if engine == "native" or symmetry:
                raise
    return explore_python(model, props, limits, progress, progress_every, spec_name)


def explore_python(
    model: Model,
    props: Sequence[Property] | None = None,
    limits: Limits = Limits(),
    progress: ProgressFn | None = None,
    progress_every: float = 0.5,
    spec_name: str = "",
) -> RunResult:
    """The generated-Python engine: full states in a dictionary (exact, no fingerprints)."""
    props = tuple(model.properties if props is None else props)
    compiled = compile_model(model, props)
    search = _Search(model, props, compiled)
    steps = compiled.steps
    start = time.monotonic()
    last_report = start
    stopped_by: str | None = None
    complete_depth = 0

    bad, hit = compiled.state_check(model.init)
    search.note(bad | hit, 0, Target(0, None))
    all_bits = (1 << len(props)) - 1

    frontier = [0]
    depth = 0
    try:
        while frontier:
            if limits.max_depth is not None and depth >= limits.max_depth:
                stopped_by = "max-depth"
                break
            next_frontier: list[int] = []
            states, index, depth_of = search.states, search.index, search.depth_of
            transitions = 0
            for k, idx in enumerate(frontier):
                s = states[idx]
                for number, fn in enumerate(steps):
                    r = fn(s)
                    if r is None:
                        continue
                    transitions += 1
                    succ, ebad, ehit = r
                    if ebad or ehit:
                        search.note(ebad | ehit, depth + 1, Target(idx, number))
                    if succ not in index:
                        new = len(states)
                        index[succ] = new
                        states.append(succ)
                        depth_of.append(depth + 1)
                        next_frontier.append(new)
                        sbad, shit = compiled.state_check(succ)
                        if sbad or shit:
                            search.note(sbad | shit, depth + 1, Target(new, None))
                if k & 255 == 0:
                    now = time.monotonic()
                    if progress is not None and now - last_report >= progress_every:
                        last_report = now
                        progress(Progress(len(states), search.transitions + transitions, depth, now - start))
                    if limits.timeout is not None and now - start > limits.timeout:
                        stopped_by = "timeout"
                        break
                    if limits.max_states is not None and len(states) >= limits.max_states:
                        stopped_by = "max-states"
                        break
            search.transitions += transitions
            if stopped_by is not None:
                break
            depth += 1
            complete_depth = depth
            frontier = next_frontier
            if len(search.found) == len(props) and all_bits:
                # Every property is decided; deeper levels cannot shorten any trace.
                if frontier:
                    stopped_by = "decided"
                break
    except KeyboardInterrupt:
        stopped_by = "interrupted"

    seconds = time.monotonic() - start
    exhaustive = stopped_by is None
    stats = Stats(len(search.states), search.transitions, max(search.depth_of), seconds)
    results = _verdicts(search, exhaustive, complete_depth)
    return RunResult(
        spec=spec_name or model.name,
        engine="explicit",
        complete=exhaustive,
        stats=stats,
        results=tuple(results),
        stopped_by=stopped_by,
    )


def _verdicts(search: _Search, exhaustive: bool, complete_depth: int) -> list[PropertyResult]:
    needed = [d for d, _ in search.found.values()]
    dp = _fewest_switches(search, max(needed)) if needed else {}
    return verdicts(
        search.model, search.props, search.found, len(search.states), exhaustive, complete_depth,
        lambda targets: _best_path(search.model, dp.get, targets),
    )


PathFinder = Callable[[list[Target]], list[Instance]]


def verdicts(
    model: Model,
    props: Sequence[Property],
    found: dict[int, tuple[int, list[Target]]],
    states: int,
    exhaustive: bool,
    complete_depth: int,
    path_to: PathFinder,
) -> list[PropertyResult]:
    """Every property's result from what a breadth-first search found (shared by engines)."""
    out: list[PropertyResult] = []
    for bit, prop in enumerate(props):
        if bit in found:
            depth, targets = found[bit]
            trace = confirmed(model, path_to(targets), prop, "explicit search")
            verdict = VIOLATED if prop.is_always else HOLDS
            note = "" if prop.is_always else "reached"
            out.append(PropertyResult(prop, verdict, depth, trace, note))
        elif prop.is_always:
            if exhaustive:
                out.append(PropertyResult(prop, HOLDS, None, None, f"all {states} reachable states"))
            elif complete_depth > 0:
                out.append(PropertyResult(prop, BOUNDED, complete_depth, None, f"no violation within depth {complete_depth}"))
            else:
                out.append(PropertyResult(prop, UNKNOWN, None, None, "no level of the search was completed"))
        elif exhaustive:
            out.append(PropertyResult(prop, VIOLATED, None, None, "vacuous: never reached in any reachable state"))
        else:
            out.append(PropertyResult(prop, UNKNOWN, None, None, f"not reached within depth {complete_depth}"))
    return out


# ---- fewest CPU switches among shortest traces ------------------------------------------

_Key = tuple[int, int]  # (state index, last cpu or -1)


def _fewest_switches(search: _Search, max_depth: int) -> dict[_Key, tuple[int, _Key | None, int]]:
    """For states up to ``max_depth``, the fewest switches over shortest paths, per last CPU.

    Only edges that go one level deeper are shortest-path edges. The value of a key is
    (switches, predecessor key, instance number).
    """
    model = search.model
    cpus = [inst.cpu for inst in model.instances]
    best: dict[_Key, tuple[int, _Key | None, int]] = {(0, -1): (0, None, -1)}
    by_depth: dict[int, list[int]] = {}
    for idx, d in enumerate(search.depth_of):
        if d < max_depth:
            by_depth.setdefault(d, []).append(idx)
    steps = search.compiled.steps
    for d in range(0, max_depth):
        for idx in by_depth.get(d, []):
            s = search.states[idx]
            entries = _entries(best.get, idx, model.cpus)
            if not entries:
                continue
            for number, fn in enumerate(steps):
                r = fn(s)
                if r is None:
                    continue
                succ = search.index[r[0]]
                if search.depth_of[succ] != d + 1:
                    continue
                cpu = cpus[number]
                for (_, last), (sw, _, _) in entries:
                    nsw = sw + (1 if cpu is not None and last >= 0 and cpu != last else 0)
                    nlast = last if cpu is None else cpu
                    key = (succ, nlast)
                    cur = best.get(key)
                    if cur is None or nsw < cur[0]:
                        best[key] = (nsw, (idx, last), number)
    return best


DPEntry = tuple[int, "_Key | None", int]
DPLookup = Callable[[_Key], "DPEntry | None"]


def _entries(best: DPLookup, idx: int, cpus: int) -> list[tuple[_Key, DPEntry]]:
    out = []
    for last in range(-1, cpus):
        v = best((idx, last))
        if v is not None:
            out.append(((idx, last), v))
    return out


def _best_path(model: Model, best: DPLookup, targets: list[Target]) -> list[Instance]:
    """Among ``targets`` (all at the shortest depth), the path with the fewest switches."""
    choice: tuple[int, _Key, int | None] | None = None
    for t in targets:
        for key, (sw, _, _) in _entries(best, t.state, model.cpus):
            extra = 0
            if t.instance is not None:
                cpu = model.instances[t.instance].cpu
                extra = 1 if cpu is not None and key[1] >= 0 and cpu != key[1] else 0
            total = sw + extra
            if choice is None or total < choice[0]:
                choice = (total, key, t.instance)
    if choice is None:
        raise AssertionError("no shortest path to a target: the search bookkeeping is broken")
    _, key, last_inst = choice
    path: list[Instance] = []
    if last_inst is not None:
        path.append(model.instances[last_inst])
    cur: _Key | None = key
    while cur is not None:
        entry = best(cur)
        assert entry is not None
        _, prev, number = entry
        if number >= 0:
            path.append(model.instances[number])
        cur = prev
    path.reverse()
    return path
