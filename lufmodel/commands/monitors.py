"""``lufmodel monitors [SPEC ...]``: measure the proposed LUF debug modes against the ground truth.

For every spec and every monitor (``--monitor``, repeatable; default: both designs, each with each
proposed fix and with all of them), an exhaustive run with the monitor built in gives one cell per rule and
property: MISSED (broken before the monitor warned), caught, - (never broken), not LUF; and
whether it raises a FALSE ALARM. The matrix is printed as a Markdown table; every missed,
false-alarm and alarm-without-harm cell's shortest run is written in every format under
OUT/<monitor>/<spec>/<cell>/ (default OUT: counterexamples/monitors). With no SPEC: every
spec in specs/.

Exit codes: 0 every row sound and precise; 1 a blind spot; 2 bad input; 3 a run was cut short.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from lufmodel.commands.common import UsageError, add_engine_options, check_engine_options, end_progress, load_specs, run_guarded
from lufmodel.kernel.monitors import BASES, FIXES, parse
from lufmodel.results import Limits

DEFAULT_OUT = "counterexamples/monitors"


def all_monitors() -> list[str]:
    """Both designs, each with each proposed fix, and each with all its fixes."""
    out = []
    for base in BASES:
        out.append(base)
        out += [f"{base}+{fix}" for fix in FIXES[base]]
        if len(FIXES[base]) > 1:
            out.append("+".join([base, *FIXES[base]]))
    return out


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("monitors", help="measure the LUF debug modes (monitors) against the ground truth",
                              description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("specs", nargs="*", metavar="SPEC", help="spec files (default: every spec in specs/)")
    p.add_argument("--monitor", action="append", metavar="NAME",
                   help="a monitor (repeatable): " + ", ".join(all_monitors()) + " (default: all)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"write each witness under DIR/<monitor>/<spec>/<cell>/ (default {DEFAULT_OUT}); '-' writes none")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop each run after this many seconds")
    p.add_argument("--no-refine", action="store_true",
                   help="count every warning with nothing broken so far as a false alarm (skip the state-graph search)")
    add_engine_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from lufmodel.monitoring import check, matrix_lines, witness_dir
    from lufmodel.render.corpus import write_all_formats

    bad = check_engine_options(args)
    if bad:
        raise UsageError(bad.removeprefix("lufmodel: "))
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout: must be a positive number of seconds, got {args.timeout}")
    monitors = args.monitor or all_monitors()
    for m in monitors:
        try:
            parse(m)
        except ValueError as exc:
            raise UsageError(f"--monitor: {exc}") from None
    paths = args.specs or [str(p) for p in sorted(Path("specs").glob("*.toml"))]
    if not paths:
        raise UsageError("no SPEC given and no specs/*.toml here")
    specs = load_specs(paths)
    limits = Limits(timeout=args.timeout)
    out = None if args.out == "-" else Path(args.out)
    reports = []
    for spec in specs:
        for m in monitors:
            if sys.stderr.isatty():
                sys.stderr.write(f"\r\033[K{spec.name} with {m} ...")
                sys.stderr.flush()
            report = check(spec, m, limits, engine=args.engine, refine=not args.no_refine)
            reports.append(report)
            if out is None:
                continue
            target = out / m / spec.name
            if target.exists():
                shutil.rmtree(target)
            for cell in report.cells:
                if cell.trace is not None:
                    write_all_formats(cell.trace, spec.path, report.spec.text, out / witness_dir(m, spec.name, cell.column),
                                      state_graph_cap=0)
    end_progress()
    print("\n".join(matrix_lines(reports)))
    blind = [f"{r.spec.name} / {r.monitor}: {c.column} {c.text}" for r in reports for c in r.cells if c.blind_spot]
    print()
    print(f"{len(reports)} runs, {sum(r.sound_and_precise for r in reports)} sound and precise, {len(blind)} blind-spot cells"
          + (f"; witnesses under {out}/" if out is not None and blind else ""))
    if any(not r.run.complete for r in reports):
        return 3
    return 1 if blind else 0
