"""Explicit-explorer speed: distinct states per second and memory per stored state.

Measures, in one run: the explorer (generated code) on the default spec and on a 3-CPU spec,
and as a baseline the plain reference interpreter exploring the same default spec, so the
speed-up is a ratio measured on this machine, not a number carried over from elsewhere.

    python benchmarks/explore_speed.py
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from collections import deque
from pathlib import Path

from lufmodel.explore import explore
from lufmodel.semantics import Interpreter
from lufmodel.spec import DEFAULT_SPEC, load_spec

ROOT = Path(__file__).resolve().parent.parent


def interpreted_bfs(path: Path, limit_seconds: float) -> tuple[int, float]:
    """Breadth-first search through the reference interpreter (the plain baseline)."""
    spec = load_spec(path)
    interp = Interpreter(spec.model)
    seen = {spec.model.init}
    queue = deque([spec.model.init])
    start = time.monotonic()
    while queue and time.monotonic() - start < limit_seconds:
        s = queue.popleft()
        for _, succ in interp.successors(s):
            if succ not in seen:
                seen.add(succ)
                queue.append(succ)
    return len(seen), time.monotonic() - start


def measure(path: Path) -> tuple[int, float, float]:
    spec = load_spec(path)
    tracemalloc.start()
    run = explore(spec.model, spec.props)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return run.stats.states, run.stats.seconds, peak / run.stats.states


def main() -> int:
    rows = []
    for label, path in (("default (2 CPUs)", DEFAULT_SPEC), ("L3 two threads (3 CPUs)", ROOT / "specs" / "L3-two-mappings-two-threads-v12.toml")):
        # Speed without tracemalloc's overhead, memory with it.
        spec = load_spec(path)
        run = explore(spec.model, spec.props)
        states, _, per_state = measure(path)
        rows.append((label, states, run.stats.seconds, states / run.stats.seconds, per_state))
    base_states, base_secs = interpreted_bfs(DEFAULT_SPEC, limit_seconds=30.0)
    base_rate = base_states / base_secs
    print(f"{'spec':<26}{'states':>10}{'seconds':>9}{'states/s':>11}{'bytes/state':>13}{'vs interpreter':>16}")
    for label, states, secs, rate, per_state in rows:
        print(f"{label:<26}{states:>10,}{secs:>9.2f}{rate:>11,.0f}{per_state:>13,.0f}{rate / base_rate:>15.1f}x")
    print(f"{'interpreter baseline':<26}{base_states:>10,}{base_secs:>9.2f}{base_rate:>11,.0f}{'':>13}{1.0:>15.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
