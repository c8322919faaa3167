"""``lufmodel replay TRACE.json``: re-run a saved counterexample against the current model.

Prints the CPU-column view and the verdict. Exit codes: 1 if the run still breaks its
property (or, for a saved ``sometimes`` witness, no longer reaches it: the run became
vacuous), 0 if a counterexample no longer violates (or a witness still reaches), 2 if the
trace no longer applies (a step no longer exists or is not enabled, the property is gone,
the spec no longer loads) or the file is bad.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lufmodel.commands.show import build_model
from lufmodel.errors import LufModelError, ReplayError
from lufmodel.render import tracefile
from lufmodel.render.text import render_trace
from lufmodel.render.tracefile import SavedTrace


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "replay",
        help="re-run a saved counterexample against the current model",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("trace", metavar="TRACE.json", help="a trace file written by verify --out or show --format json")
    p.add_argument("--short", action="store_true", help="fold steps the verdict does not depend on")
    p.add_argument("--width", type=int, default=120, help="line width (default: 120)")
    p.set_defaults(run=run)


def _steps_listing(saved: SavedTrace, bad: int) -> str:
    lines = []
    for k, (name, args) in enumerate(saved.steps, 1):
        label = f"{name}({', '.join(f'{a}={v}' for a, v in args)})"
        mark = "!!" if k == bad else "  "
        lines.append(f"{mark} {k:>3}  {label}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        saved = tracefile.load_trace_file(args.trace)
        model = build_model(saved)
    except LufModelError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        trace, shows = tracefile.replay_saved(saved, model)
    except ReplayError as exc:
        print(f"{args.trace}: no longer applies to the current model: {exc}")
        if exc.step_index > 0:
            print(_steps_listing(saved, exc.step_index))
        return 2
    sys.stdout.write(render_trace(trace, short=args.short, width=args.width, shows=shows))
    violation = trace.outcome == "violation"
    if violation:
        if shows:
            print(f"still violates {trace.property}")
            return 1
        print(f"no longer violates {trace.property}: the steps replay but the property holds")
        return 0
    if shows:
        print(f"still reaches {trace.property}")
        return 0
    print(f"no longer reaches {trace.property}: the steps replay but never reach it")
    return 1
