"""Explicit-explorer speed: distinct states per second, bytes per stored state, threads.

Measured in one run, on each spec: the plain reference interpreter (breadth-first search
through ``semantics.Interpreter``, for a time slice: the baseline), the generated-Python
engine (full states; skipped above --python-limit states), and the native engine with one
and with two threads. Every ratio is against the interpreter's rate measured here, on this
machine, in this run. Bytes per stored state are the native engine's (fingerprint table at
its current load, parent index, instance number); the frontier (two levels of packed
states) is transient and not counted.

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
from lufmodel.explore_native import explore_native
from lufmodel.semantics import Interpreter
from lufmodel.spec import DEFAULT_SPEC, Spec, load_spec

ROOT = Path(__file__).resolve().parent.parent
SPECS = [
    ("default: v12, 2 CPUs", DEFAULT_SPEC),
    ("v12, 2 CPUs (luf-v12)", ROOT / "specs" / "luf-v12.toml"),
    ("L3 two threads, 3 CPUs", ROOT / "specs" / "L3-two-mappings-two-threads-v12.toml"),
    ("L5, two readers, 3 CPUs", ROOT / "specs" / "L5-slab-reuse-v12-two-readers.toml"),
    ("L5 slab reuse, 4 CPUs, 3 frames", ROOT / "benchmarks" / "specs" / "L5-slab-reuse-v12-4cpu.toml"),
    ("v12, 3 CPUs, 1 offset, 3 frames", ROOT / "benchmarks" / "specs" / "v12-3cpu-1off-3frames.toml"),
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
    symmetric_states: int | None
    symmetric_seconds: tuple[float, float] | None
    renamings: str
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


def measure(label: str, path: Path, interp_seconds: float, python_limit: int) -> Row:
    spec = load_spec(path)
    load(spec.model, spec.props)  # compile once, outside the timings
    runs = {threads: explore_native(spec.model, spec.props, spec.limits, threads=threads) for threads in (1, 2)}
    states = runs[1].stats.states
    python_rate = None
    if states <= python_limit:
        python_rate = explore_python(spec.model, spec.props, spec.limits).stats.states_per_second
    sym_states: int | None = None
    sym_secs: tuple[float, float] | None = None
    renamings = "-"
    if spec.model.symmetry is not None:
        load(spec.model, spec.props, symmetry=True)
        sym = {t: explore_native(spec.model, spec.props, spec.limits, threads=t, symmetry=True) for t in (1, 2)}
        sym_states, sym_secs = sym[1].stats.states, (sym[1].stats.seconds, sym[2].stats.seconds)
        renamings = spec.model.symmetry.describe()
    stored = runs[1].stats.stored_bytes or 0
    return Row(label, spec.config.cpus, states, interpreted_rate(spec, interp_seconds), python_rate,
               runs[1].stats.states_per_second, runs[2].stats.states_per_second, stored / states,
               sym_states, sym_secs, renamings, runs[1].complete)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the default spec")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--interp-seconds", type=float, default=10.0, help="time slice of the interpreter baseline")
    parser.add_argument("--python-limit", type=int, default=300_000, help="skip the Python engine above this many states")
    args = parser.parse_args()
    specs = SPECS[:1] if args.quick else SPECS
    rows = [measure(label, path, args.interp_seconds, args.python_limit) for label, path in specs]
    head = ["spec", "CPUs", "distinct states", "seconds (1 thread)", "states/s (1 thread)", "states/s (2 threads)",
            "2nd core", "bytes/state", "vs interpreter", "vs generated Python", "--symmetry", "representatives",
            "seconds (1 thread, 2 threads)"]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print("  ".join(head))
    for r in rows:
        py = f"{r.native1 / r.python_rate:.0f}x" if r.python_rate else "-"
        reps = f"{r.symmetric_states:,}" if r.symmetric_states is not None else "-"
        secs = f"{r.symmetric_seconds[0]:.1f}, {r.symmetric_seconds[1]:.1f}" if r.symmetric_seconds else "-"
        cells = [r.label, str(r.cpus), f"{r.states:,}", f"{r.states / r.native1:.2f}", f"{r.native1:,.0f}",
                 f"{r.native2:,.0f}", f"{r.native2 / r.native1:.2f}x", f"{r.bytes_per_state:.1f}",
                 f"{r.native1 / r.interp_rate:.0f}x", py, r.renamings, reps, secs]
        print(("| " + " | ".join(cells) + " |") if args.markdown else "  ".join(cells))
    print(f"machine: {ctypes.sizeof(ctypes.c_void_p) * 8}-bit, {sys.platform}; interpreter slice {args.interp_seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
