"""``lufmodel bmc`` and ``lufmodel prove``: the symbolic engine (Z3) from the command line.

``bmc SPEC... --depth K`` checks the selected properties on all runs of at most K steps
(shortest, fewest-switch counterexamples); ``prove SPEC... [--max-k K]`` tries k-induction,
then Spacer. Exit codes: 0 every property holds (or holds within the bound), 1 a property is
violated, 2 bad input, 3 unknown.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable

from lufmodel.commands.common import load_specs, print_json, run_guarded, select_props, summary_lines
from lufmodel.explore import Progress
from lufmodel.results import RunResult
from lufmodel.spec import Spec


def register(subparsers: Any) -> None:
    """Add the ``bmc`` and ``prove`` subcommands."""
    p = subparsers.add_parser(
        "bmc",
        help="bounded model checking with Z3 (shortest, fewest-switch counterexamples)",
        description="Check the properties of each spec on all runs of at most --depth steps with Z3.",
    )
    p.add_argument("specs", nargs="*", metavar="SPEC", help="spec files (default: the bundled LUF v12 spec)")
    p.add_argument("--depth", type=int, required=True, metavar="K", help="the bound: runs of at most K steps")
    _common_options(p)
    p.set_defaults(run=run_bmc)

    q = subparsers.add_parser(
        "prove",
        help="unbounded proofs with Z3: k-induction, then Spacer (CHC)",
        description="Prove the properties of each spec for every reachable state (k-induction, then Spacer).",
    )
    q.add_argument("specs", nargs="*", metavar="SPEC", help="spec files (default: the bundled LUF v12 spec)")
    q.add_argument("--max-k", type=int, default=8, metavar="K", help="the largest k for k-induction (default 8)")
    q.add_argument("--no-spacer", action="store_true", help="do not try Spacer after k-induction")
    _common_options(q)
    q.set_defaults(run=run_prove)


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--property", action="append", metavar="NAME", help="check only this property (repeatable)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="wall-clock limit per spec")
    p.add_argument("--json", action="store_true", help="print one JSON document (format 1)")


def _bad(message: str) -> int:
    print(f"lufmodel: {message}", file=sys.stderr)
    return 2


def run_bmc(args: argparse.Namespace) -> int:
    if args.depth < 0:
        return _bad(f"--depth: must be at least 0, got {args.depth}")
    if args.timeout is not None and args.timeout <= 0:
        return _bad(f"--timeout: must be positive, got {args.timeout}")
    from lufmodel.symbolic import bmc

    def engine(spec: Spec) -> RunResult:
        progress = None if args.json else _depth_printer(spec.name)
        try:
            return bmc(spec.model, select_props(spec, args.property), depth=args.depth, timeout=args.timeout,
                       progress=progress, spec_name=spec.name)
        finally:
            _end_progress(progress is not None)

    return run_guarded(lambda: _run_each(args, engine))


def run_prove(args: argparse.Namespace) -> int:
    if args.max_k < 1:
        return _bad(f"--max-k: must be at least 1, got {args.max_k}")
    if args.timeout is not None and args.timeout <= 0:
        return _bad(f"--timeout: must be positive, got {args.timeout}")
    from lufmodel.symbolic import prove

    def engine(spec: Spec) -> RunResult:
        return prove(spec.model, select_props(spec, args.property), max_k=args.max_k, timeout=args.timeout,
                     spacer=not args.no_spacer, spec_name=spec.name)

    return run_guarded(lambda: _run_each(args, engine))


def _run_each(args: argparse.Namespace, engine: Callable[[Spec], RunResult]) -> int:
    from lufmodel.render.text import render_trace
    from lufmodel.report import run_to_json

    codes: list[int] = []
    docs: list[dict[str, Any]] = []
    for spec in load_specs(args.specs):
        run = engine(spec)
        codes.append(run.exit_code)
        if args.json:
            docs.append(run_to_json(run))
            continue
        print("\n".join(summary_lines(run)))
        for r in run.results:
            if r.trace is not None and r.prop.is_always:
                print()
                print(f"{r.prop.name}: shortest counterexample, {r.depth} steps, {r.trace.cpu_switches()} CPU switches "
                      "(replayed)")
                print(render_trace(r.trace))
        print()
    if args.json:
        print_json(docs)
    return 1 if 1 in codes else max(codes, default=0)


def _depth_printer(label: str, after: float = 2.0) -> Callable[[Progress], None] | None:
    """A progress line on stderr (depth reached) for runs longer than ``after`` seconds."""
    if not sys.stderr.isatty():
        return None
    start = time.monotonic()

    def show(p: Progress) -> None:
        if time.monotonic() - start >= after:
            sys.stderr.write(f"\r{label}: no violation within depth {p.depth}, {p.seconds:.0f} s   ")
            sys.stderr.flush()

    return show


def _end_progress(active: bool) -> None:
    if active:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
