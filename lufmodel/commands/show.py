"""``lufmodel show TRACE.json``: render a saved trace as text, JSON, DOT, GraphML, SVG, PNG or HTML.

The trace is replayed against the model built from the spec it embeds, so what is shown is
what the current code does with those steps. A trace that no longer replays is reported
(exit 2) with the step that no longer applies; use ``lufmodel replay`` to check verdicts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lufmodel.errors import LufModelError, ReplayError
from lufmodel.model import Model
from lufmodel.render import tracefile
from lufmodel.render.draw import to_png, to_svg
from lufmodel.render.graph import state_drawing, state_graph, to_dot, to_graphml, trace_drawing, trace_graph
from lufmodel.render.html import render_html
from lufmodel.render.text import render_trace
from lufmodel.render.tracefile import SavedTrace, TraceFileError
from lufmodel.trace import Trace

FORMATS = ("text", "json", "dot", "graphml", "svg", "png", "html")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "show",
        help="render a saved trace (text, json, dot, graphml, svg, png, html)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("trace", metavar="TRACE.json", help="a trace file written by verify --out or show --format json")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.add_argument("--short", action="store_true", help="text: fold steps the verdict does not depend on")
    p.add_argument("--width", type=int, default=120, help="text: line width (default: 120)")
    p.add_argument(
        "--states",
        action="store_true",
        help="dot/graphml/svg/png: the explored state graph with the run highlighted, instead of the run; "
        "html: add it below",
    )
    p.add_argument("--max-states", type=int, default=400, metavar="N", help="cap for --states (default: 400)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(run=run)


def load_and_replay(path: str) -> tuple[SavedTrace, Trace, bool]:
    """Read a trace file, rebuild its model and replay it (errors are ``LufModelError``)."""
    saved = tracefile.load_trace_file(path)
    model = build_model(saved)
    trace, shows = tracefile.replay_saved(saved, model)
    return saved, trace, shows


def build_model(saved: SavedTrace) -> Model:
    try:
        return tracefile.model_from_spec(saved)
    except ImportError as exc:
        raise TraceFileError(f"{saved.source}: cannot build the model of {saved.spec_path}: {exc}") from None
    except (LufModelError, ValueError) as exc:
        raise TraceFileError(f"{saved.source}: the embedded spec {saved.spec_path} no longer loads: {exc}") from None


def render(args: argparse.Namespace, saved: SavedTrace, trace: Trace, shows: bool) -> str | bytes:
    fmt = args.format
    if fmt == "text":
        return render_trace(trace, short=args.short, width=args.width, shows=shows)
    if fmt == "json":
        return tracefile.dumps(tracefile.write_trace_json(trace, saved.spec_path, saved.spec_text))
    states = state_graph(trace, args.max_states) if args.states else None
    if fmt == "html":
        return render_html(trace, spec_path=saved.spec_path, states=states)
    if fmt in ("dot", "graphml"):
        g = states.graph if states is not None else trace_graph(trace)
        return to_dot(g) if fmt == "dot" else to_graphml(g)
    drawing = state_drawing(states) if states is not None else trace_drawing(trace)
    return to_svg(drawing) if fmt == "svg" else to_png(drawing)


def run(args: argparse.Namespace) -> int:
    try:
        saved, trace, shows = load_and_replay(args.trace)
    except ReplayError as exc:
        print(f"{args.trace}: the trace no longer applies to the current model: {exc}", file=sys.stderr)
        return 2
    except LufModelError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.format == "png" and args.output is None and sys.stdout.isatty():
        print(f"{args.trace}: PNG output needs -o FILE (or a pipe)", file=sys.stderr)
        return 2
    output = render(args, saved, trace, shows)
    if not shows:
        what = "violates" if trace.outcome == "violation" else "reaches"
        print(f"note: {args.trace} no longer {what} {trace.property} under the current model", file=sys.stderr)
    return write_output(output, args.output)


def write_output(output: str | bytes, dest: str | None) -> int:
    if dest is None:
        if isinstance(output, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(output)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(output)
        return 0
    try:
        if isinstance(output, bytes):
            Path(dest).write_bytes(output)
        else:
            Path(dest).write_text(output, encoding="utf-8")
    except OSError as exc:
        print(f"{dest}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
