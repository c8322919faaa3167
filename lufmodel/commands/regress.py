"""``lufmodel regress [DIR]``: run every spec in DIR (default ``specs/``) against its expectations.

Exits 0 only if every property's verdict (and depth, where the spec pins one) matches
what the spec expects. A spec that expects nothing for a property only reports it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lufmodel.commands.common import UsageError, add_engine_options, check_engine_options, end_progress, progress_printer, run_guarded
from lufmodel.explore import explore
from lufmodel.results import RunResult
from lufmodel.spec import Spec, load_spec


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("regress", help="run every spec in a directory and compare verdicts with its [expect]",
                              description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("dir", nargs="?", default="specs", help="directory of spec files (default: specs/)")
    p.add_argument("--only", action="append", metavar="NAME", help="run only specs whose name contains NAME")
    add_engine_options(p)
    p.set_defaults(run=run)


def mismatches(spec: Spec, result: RunResult) -> list[str]:
    """How a run differs from its spec's expectations (empty: it matches)."""
    out = []
    for name, exp in spec.expect.items():
        try:
            got = result.result(name)
        except KeyError:
            out.append(f"{name}: expected {exp.verdict}, but the property was not checked")
            continue
        if got.verdict != exp.verdict:
            out.append(f"{name}: expected {exp.verdict}, got {got.verdict}")
        elif exp.depth is not None and got.depth != exp.depth:
            out.append(f"{name}: expected {exp.verdict} at depth {exp.depth}, got depth {got.depth}")
    return out


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    error = check_engine_options(args)
    if error is not None:
        raise UsageError(error.removeprefix("lufmodel: "))
    root = Path(args.dir)
    if not root.is_dir():
        raise UsageError(f"{args.dir}: not a directory")
    paths = sorted(root.glob("*.toml"))
    if args.only:
        paths = [p for p in paths if any(o in p.stem for o in args.only)]
    if not paths:
        raise UsageError(f"{args.dir}: no spec files (*.toml)")
    specs = [load_spec(p) for p in paths]
    failed = 0
    for spec in specs:
        progress = progress_printer(spec.name)
        try:
            result = explore(spec.model, spec.props, spec.limits, progress=progress, spec_name=spec.name,
                             engine=args.engine, threads=args.threads,
                             symmetry=args.symmetry and spec.model.symmetry is not None)
        finally:
            if progress is not None:
                end_progress()
        bad = mismatches(spec, result)
        s = result.stats
        status = "ok  " if not bad else "FAIL"
        print(f"{status} {spec.name}: {s.states:,} states, depth {s.depth}, {s.seconds:.1f} s")
        for line in bad:
            print(f"     {line}")
        failed += bool(bad)
    print(f"{len(specs) - failed} passed, {failed} failed")
    sys.stdout.flush()
    return 1 if failed else 0
