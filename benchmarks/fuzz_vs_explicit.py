"""Time to the first violation: the fuzzer against the explicit explorer, in one process.

For each violating spec (default: the 31 of ``tests/test_fuzz.py VIOLATING_SPECS``; or the
spec files given; ``--all`` for every spec in ``specs/`` with a violated ``always``
property in its ``[expect]``) and each ``always`` property it expects violated:

* the explicit explorer (breadth-first; it stops at the level where the property is
  decided) on that property alone, with the generated-Python engine (code generation
  included) and with the native engine (its C library compiled and cached by a warm-up
  run first: compilation excluded);
* the fuzzer (walk engine, the stated budget: ``--examples`` runs of ``--steps`` steps) on
  all of the spec's expected violations at once, once per seed: the seconds (code
  generation included) and model steps until it first broke each property, and the
  depth after minimisation.

Printed per property: the explicit times, depth and states; the fuzzer's median time and
steps to first violation over the seeds that found it, how many seeds found it, its
depths; and the ratios fuzz / explicit. Explicit search is exhaustive and returns a
shortest trace; on these small specs it is expected to win, by a lot with the native
engine: the fuzzer is for sizes it cannot finish (``--override cpus=4 ...``, where the
explicit columns show the timeout).

    python benchmarks/fuzz_vs_explicit.py [--examples N] [--steps M] [--seeds K]
        [--timeout S] [--override cpus=4 ...] [--all | --toy | SPEC ...]
"""

from __future__ import annotations

import argparse
import math
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
    """One spec and the ``always`` properties it expects violated."""

    name: str
    model: Model
    props: tuple[Property, ...]


@dataclass(frozen=True)
class Explicit:
    seconds: float | None
    """None: not violated within the timeout."""
    depth: int | None
    states: int


@dataclass(frozen=True)
class Row:
    case: str
    prop: str
    python: Explicit
    native: Explicit | None
    first_s: list[float]
    first_steps: list[int]
    depths: list[int]
    seeds: int


def spec_cases(paths: list[Path], overrides: dict[str, int]) -> list[Case]:
    """One case per spec with an ``always`` property expected "violated" (a ``sometimes``
    property expected "violated" is never reached: only an exhaustive search can show that)."""
    from lufmodel.spec import load_spec

    cases: list[Case] = []
    for path in paths:
        spec = load_spec(str(path), overrides or None)
        suffix = "".join(f" {k}={v}" for k, v in overrides.items())
        props = tuple(spec.model.prop(n) for n, e in spec.expect.items()
                      if e.verdict == "violated" and spec.model.prop(n).is_always)
        if props:
            cases.append(Case(f"{path.stem}{suffix}", spec.model, props))
    return cases


def toy_cases() -> list[Case]:
    from toy import toy_model

    out = []
    for cpus, limit in ((2, 2), (3, 3), (4, 4), (5, 5)):
        m = toy_model(cpus=cpus, limit=limit)
        out.append(Case(f"toy cpus={cpus}", m, (m.prop("no_lost_update"),)))
    return out


def explicit(model: Model, prop: Property, engine: str, timeout: float | None) -> Explicit:
    t0 = time.monotonic()
    run = explore(model, [prop], Limits(timeout=timeout), engine=engine)
    seconds = time.monotonic() - t0
    res = run.result(prop.name)
    ok = res.verdict == VIOLATED
    return Explicit(seconds if ok else None, res.depth if ok else None, run.stats.states)


def native_available(model: Model) -> bool:
    from lufmodel.backends.native import NativeUnavailable

    try:
        explore(model, [model.properties[0]], Limits(max_depth=1), engine="native")
    except NativeUnavailable:
        return False
    return True


def explicit_native(model: Model, prop: Property, timeout: float | None) -> Explicit:
    """The native engine's second run: the first compiles the C library for this property
    set and caches it."""
    explore(model, [prop], Limits(max_depth=1), engine="native")
    return explicit(model, prop, "native", timeout)


def measure(case: Case, examples: int, steps: int, seeds: int, timeout: float | None, native: bool) -> list[Row]:
    found: dict[str, tuple[list[float], list[int], list[int]]] = {p.name: ([], [], []) for p in case.props}
    for seed in range(seeds):
        f = fuzz(case.model, case.props, examples=examples, steps=steps, seed=seed, timeout=timeout,
                 spec_name=case.name)
        for p in case.props:
            d = f.discovery(p.name)
            res = f.run.result(p.name)
            if d is not None and res.depth is not None:
                found[p.name][0].append(d.seconds)
                found[p.name][1].append(d.steps)
                found[p.name][2].append(res.depth)
    use_native = native and native_available(case.model)
    rows = []
    for p in case.props:
        py = explicit(case.model, p, "python", timeout)
        nat = explicit_native(case.model, p, timeout) if use_native else None
        firsts, steps_, depths = found[p.name]
        rows.append(Row(case.name, p.name, py, nat, firsts, steps_, depths, seeds))
    return rows


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b <= 0 else f"{a / b:.1f}"


def report(rows: list[Row], timeout: float | None) -> str:
    head = (
        f"{'spec':<46} {'property':<11} {'py s':>7} {'nat s':>7} {'depth':>5} {'states':>8} "
        f"{'fuzz s':>7} {'steps':>8} {'found':>5} {'depths':>7} {'f/py':>6} {'f/nat':>7}"
    )
    lines = [head, "-" * len(head)]
    ratios_py: list[float] = []
    ratios_nat: list[float] = []
    for r in rows:
        first = statistics.median(r.first_s) if r.first_s else None
        steps = f"{int(statistics.median(r.first_steps))}" if r.first_steps else "-"
        depths = f"{min(r.depths)}..{max(r.depths)}" if r.depths else "-"
        nat = r.native.seconds if r.native is not None else None
        if first is not None and r.python.seconds:
            ratios_py.append(first / r.python.seconds)
        if first is not None and nat:
            ratios_nat.append(first / nat)
        py_s = _s(r.python.seconds) if r.python.seconds is not None else f">{timeout}"
        lines.append(
            f"{r.case:<46} {r.prop:<11} {py_s:>7} {_s(nat):>7} {str(r.python.depth or '-'):>5} "
            f"{r.python.states:>8} {_s(first):>7} {steps:>8} {len(r.first_s):>2}/{r.seeds:<2} {depths:>7} "
            f"{_ratio(first, r.python.seconds):>6} {_ratio(first, nat):>7}"
        )
    lines.append("")
    lines.append("py s / nat s: explicit explorer (generated Python / native C) to the level where the property "
                 "is violated; depth: its shortest counterexample; states: explored by then")
    lines.append("fuzz s, steps: median over the seeds that found it, time and model steps to first violation; "
                 "depths: after minimisation; f/py, f/nat: fuzz s / explicit s")
    missed = sum(r.seeds - len(r.first_s) for r in rows)
    lines.append(f"{len(rows)} properties, {sum(len(r.first_s) for r in rows)} of {sum(r.seeds for r in rows)} "
                 f"fuzz runs found theirs ({missed} missed)")
    for name, ratios in (("f/py", ratios_py), ("f/nat", ratios_nat)):
        if ratios:
            geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
            lines.append(f"{name}: geometric mean {geo:.1f}, median {statistics.median(ratios):.1f}, "
                         f"min {min(ratios):.2f}, max {max(ratios):.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("specs", nargs="*", type=Path, help="spec files (default: the 31 of tests/test_fuzz.py)")
    ap.add_argument("--examples", type=int, default=200_000, help="fuzz runs per seed (default: the stated budget)")
    ap.add_argument("--steps", type=int, default=10, help="steps per fuzz run")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0, help="per engine run, seconds")
    ap.add_argument("--override", action="append", default=[], metavar="KEY=N", help="spec override, e.g. cpus=4")
    ap.add_argument("--all", action="store_true", help="every spec in specs/ with a violated always property")
    ap.add_argument("--toy", action="store_true", help="the toy lost-update model instead of specs")
    ap.add_argument("--no-native", action="store_true", help="skip the native explicit engine")
    args = ap.parse_args(argv)
    overrides = {k: int(v) for k, v in (o.split("=", 1) for o in args.override)}
    if args.toy:
        cases = toy_cases()
    else:
        if args.specs:
            paths = args.specs
        elif args.all:
            paths = sorted((ROOT / "specs").glob("*.toml"))
        else:
            from test_fuzz import VIOLATING_SPECS

            paths = [ROOT / "specs" / f"{name}.toml" for name in VIOLATING_SPECS]
        cases = spec_cases(paths, overrides)
    rows: list[Row] = []
    for case in cases:
        rows.extend(measure(case, args.examples, args.steps, args.seeds, args.timeout, not args.no_native))
        print(f"done {case.name}", file=sys.stderr, flush=True)
    print(report(rows, args.timeout))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
