"""BMC (Z3) versus explicit breadth-first search, on the same models in the same run.

For each model: run ``explore``; take the depth the explicit engine needed (the deepest
shortest trace it returned, or the search depth when nothing was shown); run ``bmc`` to that
depth; print both times, the ratio, and whether verdicts and depths agree.

    python benchmarks/bmc_vs_explicit.py [SPEC.toml ...] [--timeout S]

Without arguments: ``specs/*.toml`` if they exist (and ``lufmodel.spec`` loads them), else
the toy model of ``tests/toy.py``.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from typing import Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lufmodel.explore import explore  # noqa: E402
from lufmodel.model import Model, Property  # noqa: E402
from lufmodel.results import HOLDS, VIOLATED  # noqa: E402
from lufmodel.symbolic import bmc  # noqa: E402


def _models(paths: Sequence[str]) -> list[tuple[str, Model, tuple[Property, ...]]]:
    if not paths:
        paths = sorted(glob.glob(os.path.join(ROOT, "specs", "*.toml")))
    if paths:
        from lufmodel.spec import load_spec  # type: ignore[import-not-found, unused-ignore]

        out = []
        for path in paths:
            spec = load_spec(path)
            out.append((spec.name, spec.model, tuple(spec.props)))
        return out
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from toy import toy_model  # type: ignore[import-not-found, unused-ignore]

    toys: list[tuple[str, Model, tuple[Property, ...]]] = []
    for cpus, limit in ((2, 2), (3, 3)):
        m: Model = toy_model(cpus, limit)
        toys.append((f"toy(cpus={cpus},limit={limit})", m, m.properties))
    return toys


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("spec", nargs="*")
    ap.add_argument("--timeout", type=float, default=600.0, help="per-engine time limit (s)")
    args = ap.parse_args(argv)
    header = f"{'spec':28} {'states':>9} {'explicit s':>10} {'depth':>5} {'bmc s':>9} {'bmc/expl':>9}  agree"
    print(header)
    print("-" * len(header))
    for name, model, props in _models(args.spec):
        t0 = time.monotonic()
        ex = explore(model, props)
        t_ex = time.monotonic() - t0
        shown = [r.depth for r in ex.results if r.verdict in (VIOLATED, HOLDS) and r.trace is not None and r.depth is not None]
        depth = max(shown) if shown else ex.stats.depth
        t0 = time.monotonic()
        sy = bmc(model, props, depth=depth, timeout=args.timeout)
        t_sy = time.monotonic() - t0
        agree = True
        for r in ex.results:
            s = sy.result(r.prop.name)
            if r.trace is not None:
                same = s.verdict == r.verdict and s.depth == r.depth
                same = same and s.trace is not None and s.trace.cpu_switches() == r.trace.cpu_switches()
                agree = agree and same
        ratio = t_sy / t_ex if t_ex > 0 else float("inf")
        print(f"{name:28} {ex.stats.states:>9} {t_ex:>10.3f} {depth:>5} {t_sy:>9.3f} {ratio:>9.1f}  {'yes' if agree else 'NO'}")
        for r in ex.results:
            s = sy.result(r.prop.name)
            print(f"    {r.prop.name:34} explicit {r.verdict:9} {str(r.depth):>4}   bmc {s.verdict:9} {str(s.depth):>4}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
