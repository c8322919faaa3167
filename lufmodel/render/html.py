"""One self-contained HTML page for a trace: CPU columns and the race-diagram graph side by side.

Buttons and keys (left/right or j/k, Home/End) step through the run; the current step's row,
its edge and label in the graph, and the state after it are highlighted. Everything (CSS,
JavaScript, the SVG, the states) is inline: the page loads no URL.
"""

from __future__ import annotations

import json
from html import escape

from lufmodel.render.draw import to_svg
from lufmodel.render.graph import StateGraph, state_drawing, trace_drawing
from lufmodel.render.view import TraceView, trace_view
from lufmodel.trace import Trace

_CSS = """
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; margin: 0 0 4px 0; }
.meta { color: #555; font-size: 13px; margin-bottom: 8px; }
.verdict { font-weight: bold; margin: 6px 0 10px 0; }
.verdict.violation { color: #d0021b; } .verdict.witness { color: #2e7d32; }
.controls { margin: 8px 0; position: sticky; top: 0; background: #fff; padding: 6px 0; z-index: 2; }
.controls button { font-size: 14px; padding: 2px 10px; margin-right: 4px; }
.panes { display: flex; gap: 16px; align-items: flex-start; }
.pane { overflow: auto; border: 1px solid #ddd; padding: 8px; max-height: 85vh; }
.left { flex: 1 1 50%; } .right { flex: 1 1 50%; }
table.cols { border-collapse: collapse; font-family: DejaVu Sans Mono, Menlo, Consolas, monospace; font-size: 12px; }
table.cols th { text-align: left; border-bottom: 2px solid #1f5fbf; color: #1f5fbf; padding: 2px 8px; }
table.cols td { vertical-align: top; padding: 2px 8px; }
tr.step td.num { color: #888; text-align: right; }
tr.step td.cell { font-weight: bold; }
tr.detail td { color: #666; font-size: 11px; padding-bottom: 6px; border-bottom: 1px solid #eee; }
tr.detail .new { color: #b35900; font-weight: bold; } tr.detail .gone { color: #2e7d32; }
tr.last td.cell { color: #d0021b; }
tr.cur td { background: #fff3c4; }
.state { font-family: DejaVu Sans Mono, Menlo, Consolas, monospace; font-size: 11px; margin-top: 10px; }
.state .chg { background: #fff3c4; font-weight: bold; }
.state .notes { color: #b35900; font-weight: bold; }
svg line.cur, svg polygon.cur { stroke-width: 5; }
svg text.cur { font-weight: bold; }
svg circle.cur { stroke: #1f5fbf; stroke-width: 4; }
.help { color: #777; font-size: 12px; margin-left: 8px; }
"""

_JS = """
(function () {
  var data = JSON.parse(document.getElementById('trace-data').textContent);
  var n = data.steps, cur = n;
  function esc(s) {
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }
  function mark(sel, on) {
    var els = document.querySelectorAll(sel);
    for (var i = 0; i < els.length; i++) {
      if (on) { els[i].classList.add('cur'); } else { els[i].classList.remove('cur'); }
    }
  }
  function show(k) {
    mark('.cur', false);
    cur = Math.max(0, Math.min(n, k));
    if (cur > 0) { mark('.step-' + cur, true); mark('tr.s' + cur, true); }
    mark('.node-' + cur, true);
    document.getElementById('pos').textContent = cur === 0 ? 'initial state' : 'step ' + cur + ' / ' + n;
    var st = data.states[cur], prev = cur > 0 ? data.states[cur - 1] : st, out = [];
    for (var i = 0; i < data.vars.length; i++) {
      var t = esc(data.vars[i] + '=' + st[i]);
      out.push(st[i] !== prev[i] ? '<span class="chg">' + t + '</span>' : t);
    }
    var notes = data.notes[cur].map(function (x) { return '<div class="notes">! ' + esc(x) + '</div>'; }).join('');
    document.getElementById('state').innerHTML =
      '<b>' + (cur === 0 ? 'initial state' : 'state after step ' + cur) + '</b>' + notes + '<div>' + out.join('  ') + '</div>';
    var row = document.querySelector('tr.s' + cur);
    if (row && row.scrollIntoView) { row.scrollIntoView({block: 'nearest'}); }
  }
  document.getElementById('first').onclick = function () { show(0); };
  document.getElementById('prev').onclick = function () { show(cur - 1); };
  document.getElementById('next').onclick = function () { show(cur + 1); };
  document.getElementById('last').onclick = function () { show(n); };
  var rows = document.querySelectorAll('tr[data-step]');
  for (var i = 0; i < rows.length; i++) {
    rows[i].onclick = function () { show(parseInt(this.getAttribute('data-step'), 10)); };
  }
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight' || e.key === 'j' || e.key === 'ArrowDown') { show(cur + 1); e.preventDefault(); }
    else if (e.key === 'ArrowLeft' || e.key === 'k' || e.key === 'ArrowUp') { show(cur - 1); e.preventDefault(); }
    else if (e.key === 'Home') { show(0); } else if (e.key === 'End') { show(n); }
  });
  show(n);
})();
"""


def _columns_table(view: TraceView) -> str:
    lanes = view.lanes
    out = ['<table class="cols">', "<tr><th>#</th>" + "".join(f"<th>{escape(l)}</th>" for l in lanes) + "</tr>"]
    if view.init_notes:
        notes = "<br>".join(f'<span class="new">! {escape(n)}</span>' for n in view.init_notes)
        out.append(f'<tr class="detail s0" data-step="0"><td></td><td colspan="{len(lanes)}">initially: {notes}</td></tr>')
    for sv in view.steps:
        cls = f"step s{sv.number}" + (" last" if sv.last else "")
        cells = "".join(
            f'<td class="cell">{escape(sv.title_with_args)}</td>' if lane == sv.lane else "<td></td>" for lane in lanes
        )
        marker = "&gt;&gt; " if sv.last else ""
        out.append(f'<tr class="{cls}" data-step="{sv.number}"><td class="num">{marker}{sv.number}</td>{cells}</tr>')
        detail = [escape(sv.changes_text())] if sv.changes else []
        detail += [f'<span class="new">! {escape(n)}</span>' for n in sv.new_notes]
        detail += [f'<span class="gone">- {escape(n)}</span>' for n in sv.vanished_notes]
        col = lanes.index(sv.lane)
        pad = "<td></td>" * col
        out.append(
            f'<tr class="detail s{sv.number}" data-step="{sv.number}"><td></td>{pad}'
            f'<td colspan="{len(lanes) - col}">{"<br>".join(detail)}</td></tr>'
        )
    out.append("</table>")
    return "\n".join(out)


def render_html(trace: Trace, *, spec_path: str = "", states: StateGraph | None = None) -> str:
    """The page for ``trace``; ``states`` (a small explored state graph) is drawn below if given."""
    view = trace_view(trace)
    model = trace.model
    all_states = [trace.init] + [s.after for s in trace.steps]
    notes = [list(view.init_notes)]
    for sv in view.steps:
        notes.append([n for n in notes[-1] if n not in sv.gone_notes] + list(sv.new_notes))
    data = {
        "steps": len(view.steps),
        "vars": [v.name for v in model.variables],
        "states": [[model.describe_value(v, st[v.pos]) for v in model.variables] for st in all_states],
        "notes": notes,
    }
    payload = json.dumps(data).replace("</", "<\\/")
    svg = to_svg(trace_drawing(trace, view), element_id="trace-graph")
    state_svg = ""
    if states is not None:
        state_svg = (
            '<h2 style="font-size:15px">Explored state graph</h2><div class="pane">'
            + to_svg(state_drawing(states), element_id="state-graph")
            + "</div>"
        )
    meta = f"model {escape(view.model)}, {view.cpus} CPUs"
    if spec_path:
        meta = f"spec {escape(spec_path)}, " + meta
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(view.headline)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{escape(view.headline)}</h1>
<div class="meta">{meta}</div>
<div class="verdict {escape(view.outcome)}">&gt;&gt; {escape(view.verdict_line)}</div>
<div class="controls">
<button id="first" title="initial state (Home)">&#x23EE;</button><button id="prev" title="previous step (left, k)">&#x25C0;</button><button id="next" title="next step (right, j)">&#x25B6;</button><button id="last" title="last step (End)">&#x23ED;</button>
<span id="pos"></span><span class="help">keys: left/right or j/k, Home/End; click a row</span>
</div>
<div class="panes">
<div class="pane left">
{_columns_table(view)}
<div class="state" id="state"></div>
</div>
<div class="pane right">
{svg}
</div>
</div>
{state_svg}
<script type="application/json" id="trace-data">{payload}</script>
<script>{_JS}</script>
</body>
</html>
"""
