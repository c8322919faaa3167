"""Every rendering of one trace, written into a folder: what ``verify --out DIR`` leaves behind.

``trace.txt`` (CPU columns), ``trace.json`` (the replayable trace document), ``trace.dot``
and ``trace.graphml`` (the run as a graph), ``trace.svg`` and ``trace.png`` (the race
diagram), ``trace.html`` (both side by side, steppable). When the model's reachable state
graph has at most ``state_graph_cap`` states, ``states.dot``, ``states.graphml`` and
``states.svg`` hold it with the run's path highlighted, and the HTML page shows it too.
"""

from __future__ import annotations

from pathlib import Path

from lufmodel.render.draw import to_png, to_svg
from lufmodel.render.graph import state_drawing, state_graph, to_dot, to_graphml, trace_drawing, trace_graph
from lufmodel.render.html import render_html
from lufmodel.render.text import render_trace
from lufmodel.render.tracefile import dumps, write_trace_json
from lufmodel.render.view import trace_view
from lufmodel.trace import Trace

DEFAULT_STATE_GRAPH_CAP = 400


def write_all_formats(
    trace: Trace,
    spec_path: str,
    spec_text: str,
    out_dir: str | Path,
    *,
    state_graph_cap: int = DEFAULT_STATE_GRAPH_CAP,
) -> list[Path]:
    """Write every format of ``trace`` into ``out_dir`` (created if needed); the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    view = trace_view(trace)
    graph = trace_graph(trace, view)
    drawing = trace_drawing(trace, view)
    states = state_graph(trace, state_graph_cap) if state_graph_cap > 0 else None
    small = states if states is not None and states.complete else None
    files: dict[str, str | bytes] = {
        "trace.txt": render_trace(trace),
        "trace.json": dumps(write_trace_json(trace, spec_path, spec_text)),
        "trace.dot": to_dot(graph),
        "trace.graphml": to_graphml(graph),
        "trace.svg": to_svg(drawing),
        "trace.png": to_png(drawing),
        "trace.html": render_html(trace, spec_path=spec_path, states=small),
    }
    if small is not None:
        files["states.dot"] = to_dot(small.graph)
        files["states.graphml"] = to_graphml(small.graph)
        files["states.svg"] = to_svg(state_drawing(small))
    written: list[Path] = []
    for name, content in files.items():
        path = out / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
