"""Counterexamples as graphs: networkx graphs, DOT and GraphML text, SVG and PNG drawings.

* ``trace_graph(trace)``: states ``s0 .. sN`` as nodes, steps as edges labelled with CPU and
  step; each node's ``lane`` is the CPU whose step produced it. The violating (last) step is
  ``violating=True`` and red; states with model notes (LUF: stale translations) are
  ``stale=True`` and orange.
* ``state_graph(trace, max_states)``: the reachable state graph around the run, enumerated
  breadth-first with the reference interpreter up to ``max_states`` states (the run's own
  states are always included), with the run's path highlighted.
* ``to_dot`` / ``to_graphml``: text exports that need no Graphviz.
* ``trace_drawing`` / ``state_drawing``: layouts for ``draw.to_svg`` and ``draw.to_png``. The
  trace drawing is a race diagram: one lane per CPU, time going down, each step drawn in its
  CPU's lane with what it changed.
"""

from __future__ import annotations

import io
import textwrap
from collections import deque
from dataclasses import dataclass
from typing import Any

import networkx as nx

from lufmodel.model import Instance, Model
from lufmodel.render.draw import Circle, Drawing, Item, Line, Rect, Text, arrow, text_width
from lufmodel.render.view import StepView, TraceView, lane_name, trace_view
from lufmodel.semantics import Interpreter, State
from lufmodel.trace import Trace

RED = "#d0021b"
ORANGE = "#f5a623"
BLUE = "#1f5fbf"
GREY = "#9a9a9a"
DARK = "#333333"


# ---- the counterexample graph ------------------------------------------------------------


def _state_text(model: Model, state: State) -> str:
    return " ".join(f"{v.name}={model.describe_value(v, state[v.pos])}" for v in model.variables)


def trace_graph(trace: Trace, view: TraceView | None = None) -> Any:
    """The run as a ``networkx.MultiDiGraph`` (see the module docstring)."""
    view = view or trace_view(trace)
    model = trace.model
    g = nx.MultiDiGraph(
        name=f"{view.model}: {view.prop_name}",
        model=view.model,
        property=view.prop_name,
        outcome=view.outcome,
        doc=view.doc,
        cpus=view.cpus,
        lanes=" ".join(view.lanes),
    )
    states = [trace.init] + [s.after for s in trace.steps]
    notes = [view.init_notes]
    for sv in view.steps:
        notes.append(tuple(n for n in notes[-1] if n not in sv.gone_notes) + sv.new_notes)
    final_bad = view.outcome == "violation"
    for i, state in enumerate(states):
        lane = view.steps[i - 1].lane if i > 0 else (view.steps[0].lane if view.steps else "CPU0")
        last = i == len(states) - 1
        g.add_node(
            f"s{i}",
            label=f"s{i}",
            index=i,
            lane=lane,
            state=_state_text(model, state),
            notes="\n".join(notes[i]),
            stale=bool(notes[i]),
            final=last,
            color=RED if last and final_bad else (ORANGE if notes[i] else DARK),
        )
    for sv in view.steps:
        g.add_edge(
            f"s{sv.number - 1}",
            f"s{sv.number}",
            key=sv.number,
            index=sv.number,
            cpu=-1 if sv.cpu is None else sv.cpu,
            lane=sv.lane,
            action=sv.action,
            args=", ".join(f"{k}={v}" for k, v in sv.args),
            path=sv.path,
            step=sv.step,
            label=f"{sv.number}. {sv.lane}: {sv.title_with_args}",
            changes=sv.changes_text(),
            notes="\n".join(sv.new_notes),
            violating=sv.last and final_bad,
            color=RED if sv.last and final_bad else DARK,
        )
    return g


# ---- the explored state graph -------------------------------------------------------------


@dataclass(frozen=True)
class StateGraph:
    graph: Any
    """A ``networkx.MultiDiGraph`` of states ``n0 ..`` (``n0`` is the initial state)."""
    complete: bool
    """Whether every reachable state is in it (else the search stopped at the cap)."""
    states: int
    edges: int


def state_graph(trace: Trace, max_states: int = 400) -> StateGraph:
    """The reachable states (breadth-first, at most ``max_states``) plus the run's path."""
    model = trace.model
    interp = Interpreter(model)
    prop = model.prop(trace.property)
    index: dict[State, int] = {model.init: 0}
    depth = [0]
    order: list[State] = [model.init]
    edges: list[tuple[int, int, Instance]] = []
    queue: deque[int] = deque([0])
    complete = True
    while queue:
        k = queue.popleft()
        for inst, succ in interp.successors(order[k]):
            if succ not in index:
                if len(order) >= max_states:
                    complete = False
                    continue
                index[succ] = len(order)
                order.append(succ)
                depth.append(depth[k] + 1)
                queue.append(index[succ])
            edges.append((k, index[succ], inst))
    # The run's states and steps are always in the graph.
    path_nodes = []
    prev: int | None = None
    on_path: dict[tuple[int, int, int], int] = {}
    for i, state in enumerate([trace.init] + [s.after for s in trace.steps]):
        if state not in index:
            index[state] = len(order)
            order.append(state)
            depth.append(i)
        path_nodes.append(index[state])
        if prev is not None:
            inst = trace.steps[i - 1].instance
            key = (prev, index[state], inst.number)
            on_path[key] = i
            if not any(e[0] == prev and e[1] == index[state] and e[2].number == inst.number for e in edges):
                edges.append((prev, index[state], inst))
        prev = index[state]

    g = nx.MultiDiGraph(name=f"{model.name} states", property=prop.name, complete=complete)
    step_of = {n: i for i, n in enumerate(path_nodes)}
    violation = trace.outcome == "violation"
    for k, state in enumerate(order):
        notes = model.annotate(state)
        bad = prop.event is None and prop in (
            interp.broken_in_state(state, [prop]) if prop.is_always else interp.reached_in_state(state, [prop])
        )
        g.add_node(
            f"n{k}",
            label=f"s{step_of[k]}" if k in step_of else "",
            depth=depth[k],
            on_trace=k in step_of,
            trace_step=step_of.get(k, -1),
            stale=bool(notes),
            notes="\n".join(notes),
            shows_property=bool(bad),
            state=_state_text(model, state),
        )
    last = len(trace.steps)
    for a, b, inst in edges:
        step = on_path.get((a, b, inst.number), -1)
        g.add_edge(
            f"n{a}",
            f"n{b}",
            key=inst.number,
            label=f"{lane_name(inst.cpu)}: {inst.label}",
            cpu=-1 if inst.cpu is None else inst.cpu,
            on_trace=step > 0,
            trace_step=step,
            violating=violation and step == last and last > 0,
        )
    return StateGraph(g, complete, g.number_of_nodes(), g.number_of_edges())


# ---- text exports -----------------------------------------------------------------------


def _dot_id(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot_attrs(attrs: dict[str, Any]) -> str:
    parts = []
    for k, v in attrs.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        parts.append(f"{k}={_dot_id(str(v))}")
    return "[" + ", ".join(parts) + "]" if parts else ""


def to_dot(g: Any) -> str:
    """DOT text of a graph from this module; nodes with a ``lane`` are grouped in clusters.

    Written directly (no pydot, no Graphviz); ``dot -Tsvg`` draws it where Graphviz exists.
    The violating edge is red and thick; stale states are filled orange.
    """
    name = str(g.graph.get("name", "trace"))
    out = [f"digraph {_dot_id(name)} {{", "  rankdir=TB;", '  node [shape=circle, fontname="monospace"];']
    out.append('  edge [fontname="monospace", fontsize=10];')
    for k, v in g.graph.items():
        if k != "name":
            out.append(f"  {k}={_dot_id(str(v))};")
    lanes: dict[str, list[str]] = {}
    for n, data in g.nodes(data=True):
        attrs = dict(data)
        if attrs.get("stale"):
            attrs.update(style="filled", fillcolor=ORANGE)
        if attrs.get("on_trace"):
            attrs.setdefault("color", BLUE)
            attrs["penwidth"] = 2
        lane = attrs.get("lane")
        line = f"{_dot_id(str(n))} {_dot_attrs(attrs)};"
        if isinstance(lane, str):
            lanes.setdefault(lane, []).append(line)
        else:
            out.append("  " + line)
    for lane, lines in lanes.items():
        out.append(f"  subgraph {_dot_id('cluster_' + lane)} {{")
        out.append(f"    label={_dot_id(lane)}; style=dashed;")
        out.extend("    " + line for line in lines)
        out.append("  }")
    for a, b, data in g.edges(data=True):
        attrs = dict(data)
        if attrs.get("violating"):
            attrs.update(color=RED, penwidth=3, fontcolor=RED)
        elif attrs.get("on_trace"):
            attrs.update(color=BLUE, penwidth=2)
        out.append(f"  {_dot_id(str(a))} -> {_dot_id(str(b))} {_dot_attrs(attrs)};")
    out.append("}")
    return "\n".join(out) + "\n"


def to_graphml(g: Any) -> str:
    """GraphML text (``networkx.write_graphml``); every attribute is a str, int or bool."""
    buf = io.BytesIO()
    nx.write_graphml(g, buf)
    return buf.getvalue().decode("utf-8")


# ---- the race-diagram drawing -------------------------------------------------------------

_WRAP = 46
_LINE = 14.0
_NODE_R = 7.0


def _step_block(sv: StepView) -> list[tuple[str, str, bool, float]]:
    """The text lines drawn beside a step: (text, color, bold, size)."""
    lines: list[tuple[str, str, bool, float]] = []
    title = textwrap.wrap(f"{sv.number}. {sv.title}", _WRAP, break_on_hyphens=False) or [""]
    color = RED if sv.last else DARK
    lines.extend((t, color, True, 12.0) for t in title)
    if sv.other_args:
        lines.append((f"({sv.other_args})", "#555", False, 11.0))
    for group in sv.change_groups():
        for t in textwrap.wrap(group, _WRAP + 4, break_on_hyphens=False):
            lines.append((t, "#666", False, 10.5))
    for note in sv.new_notes:
        for t in textwrap.wrap(f"! {note}", _WRAP + 4, break_on_hyphens=False):
            lines.append((t, "#b35900", True, 10.5))
    for note in sv.vanished_notes:
        for t in textwrap.wrap(f"- {note}", _WRAP + 4, break_on_hyphens=False):
            lines.append((t, "#2e7d32", False, 10.5))
    return lines


def trace_drawing(trace: Trace, view: TraceView | None = None) -> Drawing:
    """The run as a race diagram: lanes per CPU, time going down, the bad step in red."""
    view = view or trace_view(trace)
    margin = 20.0
    blocks = [_step_block(sv) for sv in view.steps]
    lane_w: dict[str, float] = {}
    for lane in view.lanes:
        widest = max(
            (text_width(t, size) for sv, block in zip(view.steps, blocks) if sv.lane == lane for t, _, _, size in block),
            default=0.0,
        )
        lane_w[lane] = max(160.0, min(460.0, widest + 44.0))
    lane_x: dict[str, float] = {}
    x = margin
    for lane in view.lanes:
        lane_x[lane] = x
        x += lane_w[lane]
    width = max(x + margin, text_width(view.headline, 13) + 2 * margin)

    def node_x(lane: str) -> float:
        return lane_x[lane] + 18.0

    items: list[Item] = []
    items.append(Text(margin, 26, view.headline, 13, DARK, bold=True))
    header_y = 56.0
    top = 70.0
    ys = [top + 12]
    for block in blocks:
        ys.append(ys[-1] + max(44.0, len(block) * _LINE + 22.0))
    bottom = ys[-1] + 20
    for lane in view.lanes:
        items.append(Rect(lane_x[lane] + 2, header_y - 16, lane_w[lane] - 8, 22, "#eef2f8", "none"))
        items.append(Text(lane_x[lane] + 8, header_y, lane, 13, BLUE, bold=True))
        items.append(Line(node_x(lane), top, node_x(lane), bottom, "#d5d9e0", 1, dash=True))

    first_lane = view.steps[0].lane if view.steps else (view.lanes[0] if view.lanes else "CPU0")
    positions = [(node_x(first_lane), ys[0])]
    for sv in view.steps:
        positions.append((node_x(sv.lane), ys[sv.number]))
    violation = view.outcome == "violation"
    for sv, block in zip(view.steps, blocks):
        (x0, y0), (x1, y1) = positions[sv.number - 1], positions[sv.number]
        bad = sv.last and violation
        color = RED if bad else (BLUE if not sv.last else "#2e7d32")
        w = 3.0 if sv.last else 1.6
        cls = f"step step-{sv.number}"
        if x0 != x1:
            items.append(Line(x0 + (_NODE_R if x1 > x0 else -_NODE_R), y0, x1, y0, color, w, cls=cls))
            items.extend(arrow(x1, y0 - w / 2, x1, y1, color, w, cls, gap=_NODE_R + 1, start_gap=0.0))
        else:
            items.extend(arrow(x0, y0 + _NODE_R, x1, y1, color, w, cls, gap=_NODE_R + 1))
        ty = y0 + 18
        for text, tcolor, bold, size in block:
            items.append(Text(x1 + 14, ty, text, size, tcolor, bold=bold, cls=cls + " label"))
            ty += _LINE
    node_notes = [view.init_notes]
    for sv in view.steps:
        node_notes.append(tuple(n for n in node_notes[-1] if n not in sv.gone_notes) + sv.new_notes)
    for i, (nx_, ny) in enumerate(positions):
        last = i == len(positions) - 1
        stale = bool(node_notes[i])
        fill = ORANGE if stale else "#ffffff"
        stroke = RED if last and violation else DARK
        title = f"s{i}" + ("\n" + "\n".join(node_notes[i]) if stale else "")
        items.append(Circle(nx_, ny, _NODE_R, fill, stroke, 2.5 if last else 1.2, cls=f"node node-{i}", title=title))
    fy = bottom + 18
    verdict_color = RED if violation else "#2e7d32"
    for t in textwrap.wrap(view.verdict_line, max(40, int((width - 2 * margin) / (12 * 0.62)))):
        items.append(Text(margin, fy, t, 12, verdict_color, bold=True))
        fy += 16
    legend_y = fy + 8
    items.append(Circle(margin + 6, legend_y - 4, 5, ORANGE, DARK))
    items.append(Text(margin + 16, legend_y, "state with a stale translation / model note", 10, "#555"))
    items.append(Line(margin + 330, legend_y - 4, margin + 356, legend_y - 4, RED, 3))
    items.append(Text(margin + 362, legend_y, "violating step", 10, "#555"))
    width = max(width, margin + 470)
    return Drawing(width, legend_y + 14, tuple(items), title=view.headline)


# ---- the state-graph drawing ----------------------------------------------------------------


def state_drawing(sg: StateGraph) -> Drawing:
    """The state graph in breadth-first layers (left to right), the run's path highlighted."""
    g = sg.graph
    layers: dict[int, list[str]] = {}
    for n, data in g.nodes(data=True):
        layers.setdefault(int(data["depth"]), []).append(n)
    row: dict[str, float] = {}
    for d in sorted(layers):
        nodes = layers[d]

        def bary(n: str) -> float:
            preds = [row[p] for p in g.predecessors(n) if p in row]
            return sum(preds) / len(preds) if preds else float("inf")

        if d > 0:
            nodes.sort(key=lambda n: (bary(n), n))
        for k, n in enumerate(nodes):
            row[n] = float(k)
    col_w, row_h, margin, top = 120.0, 26.0, 30.0, 60.0
    tallest = max(len(v) for v in layers.values())
    pos = {}
    for d, nodes in layers.items():
        offset = (tallest - len(nodes)) * row_h / 2
        for n in nodes:
            pos[n] = (margin + d * col_w + 10, top + offset + row[n] * row_h)
    width = margin * 2 + max(layers) * col_w + 200
    height = top + tallest * row_h + 40
    items: list[Item] = []
    title = (
        f"{g.graph.get('name', '')}: {sg.states} states, {sg.edges} transitions"
        + ("" if sg.complete else " (cut at the state cap)")
        + f"; path of {g.graph.get('property', '')} highlighted"
    )
    items.append(Text(margin, 24, title, 13, DARK, bold=True))
    width = max(width, text_width(title, 13) + 2 * margin)
    plain: list[Item] = []
    path: list[Item] = []
    for a, b, data in g.edges(data=True):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        if a == b:
            continue
        if data.get("violating"):
            path.extend(arrow(x0, y0, x1, y1, RED, 3.0, f"step step-{data['trace_step']}", gap=_NODE_R + 1))
        elif data.get("on_trace"):
            path.extend(arrow(x0, y0, x1, y1, BLUE, 2.2, f"step step-{data['trace_step']}", gap=_NODE_R + 1))
        else:
            plain.extend(arrow(x0, y0, x1, y1, "#c4c4c4", 0.7, gap=_NODE_R))
    items.extend(plain)
    items.extend(path)
    for a, b, data in g.edges(data=True):
        if data.get("on_trace"):
            (x0, y0), (x1, y1) = pos[a], pos[b]
            color = RED if data.get("violating") else BLUE
            items.append(Text((x0 + x1) / 2, (y0 + y1) / 2 - 5, str(data["label"])[:28], 9, color, anchor="middle"))
    for n, data in g.nodes(data=True):
        x, y = pos[n]
        fill = RED if data.get("shows_property") else (ORANGE if data.get("stale") else "#ffffff")
        stroke = BLUE if data.get("on_trace") else "#777"
        cls = f"node node-{data['trace_step']}" if data.get("on_trace") else ""
        items.append(Circle(x, y, _NODE_R, fill, stroke, 2.0 if data.get("on_trace") else 0.8, cls=cls, title=str(data["notes"])))
        if data.get("label"):
            items.append(Text(x, y - 10, str(data["label"]), 9, BLUE, bold=True, anchor="middle"))
    return Drawing(width, height, tuple(items), title=title)


__all__ = [
    "StateGraph",
    "state_drawing",
    "state_graph",
    "to_dot",
    "to_graphml",
    "trace_drawing",
    "trace_graph",
]
