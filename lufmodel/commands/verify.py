"""``lufmodel verify [SPEC ...]``: explore every interleaving and give a verdict per property.

With no SPEC, the bundled default spec (LUF v12 at a size that finishes in seconds).
Every counterexample is the shortest, with the fewest CPU switches among the shortest, and
was replayed through the reference interpreter before it is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lufmodel.commands.common import (
    add_engine_options,
    check_engine_options,
    check_symmetry,
    end_progress,
    print_json,
    progress_printer,
    run_guarded,
    select_props,
    summary_lines,
    load_specs,
)
from lufmodel.explore import explore
from lufmodel.report import run_to_json
from lufmodel.results import Limits, RunResult
from lufmodel.spec import Spec


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("verify", help="explore a spec exhaustively (breadth-first) and check its properties",
                              description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("specs", nargs="*", metavar="SPEC", help="spec files (default: the bundled LUF v12 spec)")
    p.add_argument("--property", action="append", metavar="NAME", help="check only this property (repeatable)")
    p.add_argument("--max-depth", type=int, metavar="K", help="explore at most K steps deep (verdict: holds up to depth K)")
    p.add_argument("--max-states", type=int, metavar="N", help="stop after N distinct states")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="print one JSON document (format 1)")
    p.add_argument("--short", action="store_true", help="fold steps a counterexample does not depend on")
    p.add_argument("--out", metavar="DIR", help="write every counterexample in all formats under DIR/<spec>/<property>/")
    add_engine_options(p)
    p.set_defaults(run=run)


def limits_for(spec: Spec, args: argparse.Namespace) -> Limits:
    base = spec.limits
    return Limits(
        max_depth=args.max_depth if args.max_depth is not None else base.max_depth,
        max_states=args.max_states if args.max_states is not None else base.max_states,
        timeout=args.timeout if args.timeout is not None else base.timeout,
    )


def check(spec: Spec, args: argparse.Namespace) -> RunResult:
    check_symmetry(spec, args)
    props = select_props(spec, args.property)
    progress = None if args.json else progress_printer(spec.name)
    try:
        return explore(spec.model, props, limits_for(spec, args), progress=progress, spec_name=spec.name,
                       engine=args.engine, threads=args.threads, symmetry=args.symmetry)
    finally:
        if progress is not None:
            end_progress()


def write_out(spec: Spec, run: RunResult, root: Path) -> list[Path]:
    from lufmodel.render.corpus import write_all_formats

    written: list[Path] = []
    for r in run.results:
        if r.trace is not None and r.prop.is_always:
            written += write_all_formats(r.trace, spec.path, spec.text, root / spec.name / r.prop.name)
    return written


def run(args: argparse.Namespace) -> int:
    for flag in ("max_depth", "max_states"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            print(f"lufmodel: --{flag.replace('_', '-')}: must be at least 1, got {value}", file=sys.stderr)
            return 2
    if args.timeout is not None and args.timeout <= 0:
        print(f"lufmodel: --timeout: must be positive, got {args.timeout}", file=sys.stderr)
        return 2
    error = check_engine_options(args)
    if error is not None:
        print(error, file=sys.stderr)
        return 2
    return run_guarded(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from lufmodel.render.text import render_trace

    specs = load_specs(args.specs)
    codes = []
    docs = []
    for spec in specs:
        result = check(spec, args)
        codes.append(result.exit_code)
        if args.out:
            write_out(spec, result, Path(args.out))
        if args.json:
            docs.append(run_to_json(result))
            continue
        print("\n".join(summary_lines(result)))
        if result.stopped_by == "interrupted":
            print(f"  interrupted: covered {result.stats.states:,} states to depth {result.stats.depth}")
        for r in result.results:
            if r.trace is not None and r.prop.is_always:
                print()
                print(f"{r.prop.name}: shortest counterexample, {r.depth} steps, {r.trace.cpu_switches()} CPU switches "
                      "(replayed)")
                print(render_trace(r.trace, short=args.short))
        print()
    if args.json:
        print_json(docs)
    return max(codes) if 1 not in codes else 1
