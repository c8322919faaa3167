"""Time to the first violation: the fuzzer against the explicit explorer, in one process.

For each spec in ``specs/*.toml`` whose expectations say a property is "violated" (or,
without specs, a few sizes of the toy lost-update model from ``tests/toy.py``), run
``explore`` on that property and ``fuzz`` on that property with a few seeds, and print the
seconds each needed and their ratio. The fuzzer's time to first violation excludes
shrinking; its total includes it. Explicit search is exhaustive and returns a shortest
trace; the fuzzer's depth is after minimisation.

    python benchmarks/fuzz_vs_explicit.py [--examples N] [--steps M] [--seeds K]
        [--timeout S] [--override cpus=4 ...] [SPEC ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from lufmodel.explore import explore  # noqa: E402
from lufmodel.fuzz import fuzz  # noqa: E402
from lufmodel.model import Model, Property  # noqa: E402
from lufmodel.results import VIOLATED, Limits  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    model: Model
    prop: Property


@dataclass(frozen=True)
class Row:
    case: str
    prop: str
    explicit_s: float | None
    explicit_depth: int | None
    explicit_states: int
    fuzz_first_s: list[float]
    fuzz_total_s: list[float]
    fuzz_depths: list[int]
    fuzz_examples: list[int]
    misses: int


def spec_cases(paths: list[Path], overrides: dict[str, int]) -> list[Case]:
    """One case per ``always`` property a spec expects "violated" (a ``sometimes``
    property expected "violated" is vacuous: only an exhaustive search can show that)."""
    from lufmodel.spec import load_spec

    cases: list[Case] = []
    for path in paths:
        spec = load_spec(str(path), overrides or None)
        suffix = "".join(f" {k}={v}" for k, v in overrides.items())
        for name, expectation in spec.expect.items():
            if expectation.verdict != "violated":
                continue
            prop = spec.model.prop(name)
            if prop.is_always:
                cases.append(Case(f"{path.stem}{suffix}", spec.model, prop))
    return cases


def toy_cases() -> list[Case]:
    from toy import toy_model

    out = []
    for cpus, limit in ((2, 2), (3, 3), (4, 4), (5, 5)):
        m = toy_model(cpus=cpus, limit=limit)
        out.append(Case(f"toy cpus={cpus}", m, m.prop("no_lost_update")))
    return out


def measure(case: Case, examples: int, steps: int, seeds: int, timeout: float | None) -> Row:
    t0 = time.monotonic()
    run = explore(case.model, [case.prop], Limits(timeout=timeout))
    explicit_s = time.monotonic() - t0
    res = run.result(case.prop.name)
    ok = res.verdict == VIOLATED
    firsts: list[float] = []
    totals: list[float] = []
    depths: list[int] = []
    found_at: list[int] = []
    misses = 0
    for seed in range(seeds):
        t1 = time.monotonic()
        f = fuzz(case.model, [case.prop], examples=examples, steps=steps, seed=seed, timeout=timeout)
        total = time.monotonic() - t1
        d = f.discovery(case.prop.name)
        fr = f.run.result(case.prop.name)
        if d is None or fr.depth is None:
            misses += 1
            continue
        firsts.append(d.seconds)
        totals.append(total)
        depths.append(fr.depth)
        found_at.append(d.example)
    return Row(
        case.name,
        case.prop.name,
        explicit_s if ok else None,
        res.depth if ok else None,
        run.stats.states,
        firsts,
        totals,
        depths,
        found_at,
        misses,
    )


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def report(rows: list[Row], seeds: int) -> str:
    head = (
        f"{'case':<34} {'property':<28} {'explicit s':>10} {'depth':>5} {'states':>9} "
        f"{'fuzz 1st s':>10} {'fuzz tot s':>10} {'depth':>9} {'example':>8} {'found':>6} {'1st/expl':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        med_first = statistics.median(r.fuzz_first_s) if r.fuzz_first_s else None
        med_total = statistics.median(r.fuzz_total_s) if r.fuzz_total_s else None
        ratio = med_first / r.explicit_s if med_first is not None and r.explicit_s else None
        depths = f"{min(r.fuzz_depths)}..{max(r.fuzz_depths)}" if r.fuzz_depths else "-"
        example = f"{int(statistics.median(r.fuzz_examples))}" if r.fuzz_examples else "-"
        lines.append(
            f"{r.case:<34} {r.prop:<28} {_fmt(r.explicit_s):>10} {str(r.explicit_depth or '-'):>5} "
            f"{r.explicit_states:>9} {_fmt(med_first):>10} {_fmt(med_total):>10} {depths:>9} {example:>8} "
            f"{seeds - r.misses:>3}/{seeds:<2} {('-' if ratio is None else f'{ratio:.2f}'):>8}"
        )
    lines.append("fuzz columns: median over the seeds that found it; 1st/expl = fuzz time to first violation / explicit time")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("specs", nargs="*", type=Path, help="spec files (default: specs/*.toml)")
    ap.add_argument("--examples", type=int, default=500)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0, help="per engine run")
    ap.add_argument("--override", action="append", default=[], metavar="KEY=N", help="spec override, e.g. cpus=4")
    ap.add_argument("--toy", action="store_true", help="use the toy model even if specs exist")
    args = ap.parse_args(argv)
    overrides = {k: int(v) for k, v in (o.split("=", 1) for o in args.override)}
    paths = args.specs or sorted((ROOT / "specs").glob("*.toml"))
    cases: list[Case] = []
    if paths and not args.toy:
        try:
            cases = spec_cases(paths, overrides)
        except ImportError as exc:
            print(f"cannot load specs ({exc}); using the toy model", file=sys.stderr)
    if not cases:
        cases = toy_cases()
    rows = []
    for case in cases:
        rows.append(measure(case, args.examples, args.steps, args.seeds, args.timeout))
        print(f"done {case.name} {case.prop.name}", file=sys.stderr, flush=True)
    print(report(rows, args.seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
