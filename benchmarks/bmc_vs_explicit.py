"""BMC (Z3) versus explicit breadth-first search, on the same specs in the same run.

For each spec: the explicit engine's exhaustive search (time, states, the depth K of its
deepest shortest trace; its first run, which generates the step functions, is reported
apart and the ratios use a second, warm run); the explicit search bounded to depth K; BMC to depth K (the same
verdicts must come out: checked); and the ratios BMC / explicit. Both wall-clock and CPU
(process) time are measured, because on a shared machine wall-clock time mostly measures
the neighbours; the CPU ratio is the one to compare between runs.

    python benchmarks/bmc_vs_explicit.py [SPEC.toml ...] [--depth K] [--timeout S]

Without arguments: the specs in ``DEFAULT_SPECS`` (existing small specs, an explicit list).
``--depth K`` uses the same K for every spec instead of each spec's own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lufmodel.explore import explore  # noqa: E402
from lufmodel.results import BOUNDED, HOLDS, UNKNOWN, VIOLATED, Limits, RunResult  # noqa: E402
from lufmodel.spec import load_spec  # noqa: E402
from lufmodel.symbolic import bmc  # noqa: E402

DEFAULT_SPECS = (
    "L5-slab-reuse-v12",
    "L5-slab-reuse-v12-no-takeoff",
    "L1-map-fixed-v12",
    "L2-file-write-v12",
    "L4-vfs-three-cpus-v12",
    "L3-two-mappings-v12",
)

T = TypeVar("T")


@dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float


def timed(fn: Callable[[], T]) -> tuple[T, Timed]:
    w, c = time.monotonic(), time.process_time()
    out = fn()
    return out, Timed(time.monotonic() - w, time.process_time() - c)


def agree(explicit: RunResult, symbolic: RunResult, depth: int) -> bool:
    """Same verdicts, shortest depths and CPU switches; "holds up to depth" for the rest."""
    for e in explicit.results:
        s = symbolic.result(e.prop.name)
        if e.trace is not None and e.depth is not None and e.depth <= depth:
            if s.verdict != e.verdict or s.depth != e.depth or s.trace is None:
                return False
            if s.trace.cpu_switches() != e.trace.cpu_switches():
                return False
        elif e.prop.is_always and s.verdict != BOUNDED:
            return False
        elif not e.prop.is_always and e.trace is None and s.verdict != UNKNOWN:
            return False
    return True


def ratio(a: float, b: float) -> str:
    return f"{a / b:9.0f}" if b > 0 else f"{'inf':>9}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("spec", nargs="*", help="spec files (default: the DEFAULT_SPECS list)")
    ap.add_argument("--depth", type=int, help="the BMC depth K for every spec (default: each spec's own)")
    ap.add_argument("--timeout", type=float, default=600.0, help="BMC time limit per spec (s)")
    args = ap.parse_args(argv)
    paths = args.spec or [os.path.join(ROOT, "specs", f"{n}.toml") for n in DEFAULT_SPECS]
    header = (f"{'spec':30} {'states':>7} {'K':>3} {'expl 1st':>8} {'expl all s':>10} {'expl K s':>9} {'bmc K s':>8} "
              f"{'bmc cpu s':>9} {'wall/all':>9} {'wall/K':>9} {'cpu/all':>9} {'cpu/K':>9}  agree")
    print(header)
    print("-" * len(header))
    cpu_ratios: list[float] = []
    for path in paths:
        spec = load_spec(path)
        _, t_cold = timed(lambda: explore(spec.model, spec.props))  # includes generating its code
        ex, t_all = timed(lambda: explore(spec.model, spec.props))
        shown = [r.depth for r in ex.results if r.verdict in (VIOLATED, HOLDS) and r.trace is not None and r.depth]
        depth = args.depth if args.depth is not None else max(shown, default=ex.stats.depth)
        _, t_k = timed(lambda: explore(spec.model, spec.props, Limits(max_depth=depth)))
        sy, t_b = timed(lambda: bmc(spec.model, spec.props, depth=depth, timeout=args.timeout))
        ok = "yes" if agree(ex, sy, depth) else ("timeout" if sy.stopped_by == "timeout" else "NO")
        cpu_ratios.append(t_b.cpu / t_all.cpu if t_all.cpu > 0 else float("inf"))
        print(f"{spec.name:30} {ex.stats.states:>7} {depth:>3} {t_cold.wall:>8.2f} {t_all.wall:>10.2f} {t_k.wall:>9.2f} {t_b.wall:>8.1f} "
              f"{t_b.cpu:>9.1f} {ratio(t_b.wall, t_all.wall)} {ratio(t_b.wall, t_k.wall)} "
              f"{ratio(t_b.cpu, t_all.cpu)} {ratio(t_b.cpu, t_k.cpu)}  {ok}", flush=True)
    if cpu_ratios:
        print(f"\nBMC to depth K takes {min(cpu_ratios):.0f}x to {max(cpu_ratios):.0f}x the CPU time of the exhaustive "
              "explicit search (wall/*: wall-clock ratios; */K: against the explicit search bounded to K)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
