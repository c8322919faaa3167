"""The native explicit-state engine: the same breadth-first search as ``explore``, run by
compiled C (``backends.native``) with 64-bit fingerprints instead of full states.

What is stored per state: a fingerprint in an open-addressing table, the parent's index
and the instance that reached it. Full states exist only for the level
being expanded and the next. Traces are rebuilt from the parent links (and, among the
shortest, the fewest-switch pass regenerates levels from their parents), then replayed
through the reference interpreter like every trace.

Two distinct states with the same fingerprint would make the search miss the second one:
the probability is reported the way TLC does, as n²/2⁶⁵ for n distinct states
(``RunResult.collision_probability``). The Python engine (``explore_python``) keeps full
states and is exact.
"""

from __future__ import annotations

import ctypes
import time
from typing import Sequence

from lufmodel.backends.native import NativeModel, load
from lufmodel.explore import DPEntry, Progress, ProgressFn, Target, _best_path, verdicts
from lufmodel.model import Instance, Model, Property
from lufmodel.results import Limits, RunResult, Stats

CHUNK = 32768
THREADED_CHUNK = 131072  # fewer thread starts per level; the C side cuts it into pieces either way
PARALLEL_MIN = 4096


def collision_probability(states: int) -> float:
    """TLC's estimate of the probability that some two of ``states`` fingerprints collide."""
    return states * states / 2.0**65


def explore_native(
    model: Model,
    props: Sequence[Property] | None = None,
    limits: Limits = Limits(),
    progress: ProgressFn | None = None,
    progress_every: float = 0.5,
    spec_name: str = "",
    threads: int = 1,
    native: NativeModel | None = None,
    symmetry: bool = False,
    parallel_min: int = PARALLEL_MIN,
    chunk: int | None = None,
) -> RunResult:
    """Explore ``model`` breadth-first in C; same verdicts, depths and traces as ``explore``.

    With ``symmetry``, one representative per renaming of the model's interchangeable items
    is stored; verdicts and depths are the same, counterexamples are mapped back to concrete
    runs (``concretize``) and replayed like every trace. A level is expanded ``chunk``
    states per native call (default: ``CHUNK``; ``THREADED_CHUNK`` with threads and no state
    limit, which is checked between calls); neither that nor ``threads`` changes any result."""
    props = tuple(model.properties if props is None else props)
    nm = native if native is not None else load(model, props, symmetry)
    lib = nm.lib
    init = nm.state(model.init)
    ctx = lib.ctx_new(init)
    if not ctx:
        raise MemoryError("the native explorer could not allocate its tables")
    if chunk is None:
        chunk = CHUNK if threads <= 1 or limits.max_states is not None else THREADED_CHUNK
    try:
        return _search(model, props, nm, ctx, init, limits, progress, progress_every, spec_name, threads, symmetry,
                       parallel_min, chunk)
    finally:
        lib.ctx_free(ctx)


def _search(
    model: Model,
    props: tuple[Property, ...],
    nm: NativeModel,
    ctx: int,
    init: ctypes.Array[ctypes._SimpleCData],  # type: ignore[type-arg]
    limits: Limits,
    progress: ProgressFn | None,
    progress_every: float,
    spec_name: str,
    threads: int,
    symmetry: bool,
    parallel_min: int,
    chunk: int,
) -> RunResult:
    lib = nm.lib
    found: dict[int, tuple[int, list[Target]]] = {}

    def note(bits: int, depth: int, target: Target) -> None:
        while bits:
            low = bits & -bits
            bit = low.bit_length() - 1
            bits ^= low
            seen = found.get(bit)
            if seen is None:
                found[bit] = (depth, [target])
            elif seen[0] == depth:
                seen[1].append(target)

    start = time.monotonic()
    last_report = start
    bad, hit = nm.state_check(model.init)
    note(bad | hit, 0, Target(0, None))
    all_bits = (1 << len(props)) - 1
    level_start = [0, 1]
    depth = 0
    complete_depth = 0
    stopped_by: str | None = None
    st, inst, bits = ctypes.c_uint32(), ctypes.c_int32(), ctypes.c_uint64()
    level = 1
    try:
        while level:
            if limits.max_depth is not None and depth >= limits.max_depth:
                stopped_by = "max-depth"
                break
            closed = 0
            for bit, (d, _) in found.items():
                if d <= depth:
                    closed |= 1 << bit
            open_bits = all_bits & ~closed
            for lo in range(0, level, chunk):
                hi = min(level, lo + chunk)
                parts = threads if hi - lo >= parallel_min else 1  # small levels: threads cost more than they save
                rc = lib.ctx_expand(ctx, lo, hi, open_bits, parts)
                if rc == -2:
                    raise OverflowError("more than 2**32 states: the native explorer's state indices are 32-bit")
                if rc != 0:
                    raise MemoryError("the native explorer ran out of memory")
                for i in range(lib.ctx_events(ctx)):
                    lib.ctx_event(ctx, i, ctypes.byref(st), ctypes.byref(inst), ctypes.byref(bits))
                    note(bits.value, depth + 1, Target(st.value, None if inst.value < 0 else inst.value))
                lib.ctx_clear_events(ctx)
                now = time.monotonic()
                states = lib.ctx_states(ctx)
                if progress is not None and now - last_report >= progress_every:
                    last_report = now
                    progress(Progress(states, lib.ctx_transitions(ctx), depth, now - start))
                if limits.timeout is not None and now - start > limits.timeout:
                    stopped_by = "timeout"
                    break
                if limits.max_states is not None and states >= limits.max_states:
                    stopped_by = "max-states"
                    break
            level_start.append(lib.ctx_states(ctx))
            if stopped_by is not None:
                break
            level = lib.ctx_advance(ctx)
            depth += 1
            complete_depth = depth
            if len(found) == len(props) and all_bits:
                if level:
                    stopped_by = "decided"
                break
    except KeyboardInterrupt:
        stopped_by = "interrupted"
        level_start.append(lib.ctx_states(ctx))

    seconds = time.monotonic() - start
    exhaustive = stopped_by is None
    n_states = lib.ctx_states(ctx)
    deepest = max(d for d in range(len(level_start) - 1) if level_start[d + 1] > level_start[d])
    stats = Stats(n_states, lib.ctx_transitions(ctx), deepest, seconds, stored_bytes=lib.ctx_stored_bytes(ctx))
    needed = max((d for d, _ in found.values()), default=0)
    if found and needed > 0:
        bounds = (ctypes.c_uint64 * len(level_start))(*level_start)
        if lib.ctx_fewest_switches(ctx, init, bounds, needed) != 0:
            raise MemoryError("the native explorer ran out of memory in the fewest-switch pass")

    sw, pidx, plast, num = ctypes.c_int(), ctypes.c_uint32(), ctypes.c_int(), ctypes.c_int()

    def entry(key: tuple[int, int]) -> DPEntry | None:
        idx, last = key
        if idx == 0 and last == -1:
            return (0, None, -1)
        if not lib.ctx_dp_entry(ctx, idx, last, ctypes.byref(sw), ctypes.byref(pidx), ctypes.byref(plast), ctypes.byref(num)):
            return None
        return (sw.value, (pidx.value, plast.value), num.value)

    def path_to(targets: list[Target]) -> list[Instance]:
        path = _best_path(model, entry, targets)
        return concretize(nm, model, path) if symmetry else path

    results = verdicts(model, props, found, n_states, exhaustive, complete_depth, path_to)
    return RunResult(
        spec=spec_name or model.name,
        engine="explicit",
        complete=exhaustive,
        stats=stats,
        results=tuple(results),
        stopped_by=stopped_by,
        reduction=model.symmetry.describe() if symmetry and model.symmetry is not None else None,
        collision_probability=collision_probability(n_states),
    )


def concretize(nm: NativeModel, model: Model, path: list[Instance]) -> list[Instance]:
    """The concrete run from ``model.init`` that follows a path of the reduced graph: at each
    step, an instance whose successor has the same representative and the same property
    bits. The renaming that maps the concrete state to its representative is tracked, so
    the instance on the CPU the reduced step's CPU stands for is tried first: the concrete
    run switches CPUs exactly where the reduced one does."""
    sym = model.symmetry
    perms = sym.permutations() if sym is not None else [()]
    concrete = model.init
    rep, bp = nm.canon_perm(model.init)
    out: list[Instance] = []
    for inst in path:
        r = nm.step(inst.number, rep)
        if r is None:
            raise AssertionError(f"the reduced path is not enabled at {inst.label}")
        target, bad, hit = nm.canon(r[0]), r[1], r[2]
        cpu_of = sym.cpu_perm(perms[bp], model.cpus) if sym is not None else tuple(range(model.cpus))
        want = cpu_of.index(inst.cpu) if inst.cpu is not None and inst.cpu >= 0 else inst.cpu
        order = sorted(model.instances, key=lambda m: (m.action.name != inst.action.name or m.cpu != want, m.number))
        for cand in order:
            c = nm.step(cand.number, concrete)
            if c is not None and (c[1], c[2]) == (bad, hit) and nm.canon(c[0]) == target:
                concrete = c[0]
                out.append(cand)
                break
        else:
            raise AssertionError(f"no concrete step matches {inst.label}: the symmetry is not one")
        rep, bp = nm.canon_perm(concrete)
        if rep != target:
            raise AssertionError(f"the representative after {inst.label} is not the reduced path's")
    return out
