"""Explicit-explorer speed: distinct states per second, bytes per stored state, threads.

Measured in one run, on each spec: the plain reference interpreter (breadth-first search
through ``semantics.Interpreter``, for a time slice: the baseline), the generated-Python
engine (full states; skipped above --python-limit states), and the native engine with one
and with two threads. Every ratio is against the interpreter's rate measured here, on this
machine, in this run. Bytes per stored state are the native engine's (fingerprint table at
its current load, parent index, instance number); the frontier is reported separately.

    python benchmarks/explore_speed.py                 # default, 2-, 3- and 4-CPU specs
    python benchmarks/explore_speed.py --quick         # default spec only
    python benchmarks/explore_speed.py --markdown      # the README table
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from lufmodel.backends.native import load
from lufmodel.explore import explore_python
from lufmodel.explore_native import CHUNK, explore_native
from lufmodel.semantics import Interpreter
from lufmodel.spec import DEFAULT_SPEC, Spec, load_spec

ROOT = Path(__file__).resolve().parent.parent
SPECS = [
    ("default: v12, 2 CPUs", DEFAULT_SPEC),
    ("v12, 2 CPUs (luf-v12)", ROOT / "specs" / "luf-v12.toml"),
    ("L3 two threads, 3 CPUs", ROOT / "specs" / "L3-two-mappings-two-threads-v12.toml"),
    ("v12, 3 CPUs, 1 offset, 3 frames", ROOT / "benchmarks" / "specs" / "v12-3cpu-1off-3frames.toml"),
    ("v12, 4 CPUs, 1 offset, 3 frames", ROOT / "benchmarks" / "specs" / "v12-4cpu-1off-3frames.toml"),
]


@dataclass(frozen=True)
class Row:
    label: str
    cpus: int
    states: int
    interp_rate: float
    python_rate: float | None
    native1: float
    native2: float
    bytes_per_state: float
    frontier_mb: float
    complete: bool


def interpreted_rate(spec: Spec, seconds: float) -> float:
    """States per second of a plain breadth-first search through the reference interpreter."""
    interp = Interpreter(spec.model)
    seen = {spec.model.init}
    queue = deque([spec.model.init])
    start = time.monotonic()
    while queue and time.monotonic() - start < seconds:
        s = queue.popleft()
        for _, succ in interp.successors(s):
            if succ not in seen:
                seen.add(succ)
                queue.append(succ)
    return len(seen) / (time.monotonic() - start)


def storage(spec: Spec) -> tuple[float, float]:
    """Bytes per stored state and the largest frontier (MB), from a native run."""
    nm = load(spec.model, spec.props)
    lib = nm.lib
    ctx = lib.ctx_new(nm.state(spec.model.init))
    peak = 0
    try:
        level = 1
        while level:
            for lo in range(0, level, CHUNK):
                if lib.ctx_expand(ctx, lo, min(level, lo + CHUNK), 0, 2) != 0:
                    raise MemoryError("out of memory")
                peak = max(peak, lib.ctx_frontier_bytes(ctx))
            level = lib.ctx_advance(ctx)
        return lib.ctx_stored_bytes(ctx) / lib.ctx_states(ctx), peak / 2**20
    finally:
        lib.ctx_free(ctx)


def measure(label: str, path: Path, interp_seconds: float, python_limit: int, timeout: float) -> Row:
    spec = load_spec(path)
    load(spec.model, spec.props)  # compile once, outside the timings
    runs = {}
    for threads in (1, 2):
        run = explore_native(spec.model, spec.props, spec.limits, threads=threads)
        runs[threads] = run
    states = runs[1].stats.states
    python_rate = None
    if states <= python_limit:
        run = explore_python(spec.model, spec.props, spec.limits)
        python_rate = run.stats.states_per_second
    per_state, frontier = storage(spec)
    return Row(label, spec.config.cpus, states, interpreted_rate(spec, interp_seconds), python_rate,
               runs[1].stats.states_per_second, runs[2].stats.states_per_second, per_state, frontier,
               runs[1].complete)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the default spec")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--interp-seconds", type=float, default=10.0, help="time slice of the interpreter baseline")
    parser.add_argument("--python-limit", type=int, default=300_000, help="skip the Python engine above this many states")
    args = parser.parse_args()
    specs = SPECS[:1] if args.quick else SPECS
    rows = [measure(label, path, args.interp_seconds, args.python_limit, 600.0) for label, path in specs]
    if args.markdown:
        print("| spec | CPUs | distinct states | seconds (native, 1 thread) | states/s (1 thread) | states/s (2 threads) "
              "| 2nd core speed-up | bytes/state | vs interpreter | vs generated Python |")
        print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        py = f"{r.native1 / r.python_rate:.0f}x" if r.python_rate else "-"
        cells = [r.label, str(r.cpus), f"{r.states:,}", f"{r.states / r.native1:.2f}", f"{r.native1:,.0f}",
                 f"{r.native2:,.0f}", f"{r.native2 / r.native1:.2f}x", f"{r.bytes_per_state:.1f}",
                 f"{r.native1 / r.interp_rate:.0f}x", py]
        if args.markdown:
            print("| " + " | ".join(cells) + " |")
        else:
            print("  ".join(cells) + f"  (interpreter {r.interp_rate:,.0f}/s; largest frontier {r.frontier_mb:.0f} MB)")
    print(f"machine: {ctypes.sizeof(ctypes.c_void_p) * 8}-bit, {sys.platform}; interpreter slice {args.interp_seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
