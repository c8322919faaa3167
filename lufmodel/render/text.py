"""The CPU-column text view of a trace: the race diagram of a kernel commit message.

::

    toy: no_lost_update violated in 4 steps (2 CPUs, 2 CPU switches)

          CPU0                                  CPU1
          ------------------------------------  ------------------------------------
       1  inc: load counter
            pc[0]: 0 -> 1
       2                                        inc: load counter
                                                  pc[1]: 0 -> 1
    ...
    >> 4  inc: store counter+1
            done[0]: 0 -> 1; pc[0]: 1 -> 2

    >> step 4 breaks no_lost_update (always: the counter equals the number of finished increments)

One column per CPU (and an ``other`` column for steps that belong to no CPU), one row per
step with ``path: step`` in its CPU's column, and under it what changed (grouped by variable
family) and the model's notes that appear (``!``) or disappear (``-``) at that step. The last
step is marked ``>>``. With ``short=True`` the steps that ``relevant_steps`` folds are shown
as one ``..`` line per run of folded steps.
"""

from __future__ import annotations

import textwrap

from lufmodel.render.view import StepView, TraceView, trace_view
from lufmodel.trace import Trace

DEFAULT_WIDTH = 120
_GAP = 2
_MIN_DETAIL = 32
"""Detail lines (changes, notes) start under the step's column if that leaves this much width."""


def render_trace(trace: Trace, *, short: bool = False, width: int = DEFAULT_WIDTH, shows: bool = True) -> str:
    """The CPU-column view of ``trace`` as text, lines at most ``width`` columns wide.

    ``shows=False`` says in the last line that a replayed run no longer shows its property.
    """
    return render_view(trace_view(trace, shows=shows), short=short, width=width)


def render_view(view: TraceView, *, short: bool = False, width: int = DEFAULT_WIDTH) -> str:
    width = max(width, 60)
    numw = len(str(max(len(view.steps), 1)))
    prefix = 3 + numw + 2
    ncols = max(len(view.lanes), 1)
    colw = min(56, max(12, (width - prefix) // ncols - _GAP))
    starts = {lane: prefix + i * (colw + _GAP) for i, lane in enumerate(view.lanes)}

    out: list[str] = [view.headline]
    if short:
        shown = sum(1 for s in view.steps if s.relevant)
        out.append(
            f"(short: {shown} of {len(view.steps)} steps shown; the folded steps change nothing "
            "the verdict depends on)"
        )
    out.append("")
    out.append(_row(" " * prefix, [(starts[lane], lane) for lane in view.lanes]))
    out.append(_row(" " * prefix, [(starts[lane], "-" * colw) for lane in view.lanes]))
    for note in view.init_notes:
        out.extend(_wrap(f"initially: {note}", prefix, width))

    folded: list[StepView] = []
    for st in view.steps:
        if short and not st.relevant:
            folded.append(st)
            continue
        if folded:
            out.append(_folded_line(folded, numw, width))
            folded = []
        out.extend(_step_lines(st, numw, starts[st.lane], colw, width))
    if folded:
        out.append(_folded_line(folded, numw, width))
    out.append("")
    out.extend(textwrap.wrap(f">> {view.verdict_line}", width, subsequent_indent="   ", break_on_hyphens=False))
    return "\n".join(line.rstrip() for line in out) + "\n"


def _row(prefix: str, cells: list[tuple[int, str]]) -> str:
    line = prefix
    for start, text in cells:
        line = line.ljust(start) + text
    return line


def _step_lines(st: StepView, numw: int, start: int, colw: int, width: int) -> list[str]:
    marker = ">> " if st.last else "   "
    head = f"{marker}{st.number:>{numw}}  "
    cell = textwrap.wrap(st.title_with_args, colw, break_long_words=True, break_on_hyphens=False) or [""]
    lines = [_row(head if i == 0 else " " * len(head), [(start, text)]) for i, text in enumerate(cell)]
    indent = start + 2 if width - (start + 2) >= _MIN_DETAIL else 3 + numw + 4
    groups = st.change_groups()
    if groups:
        lines.extend(_pack([g + ";" for g in groups[:-1]] + [groups[-1]], indent, width))
    for note in st.new_notes:
        lines.extend(_wrap(f"! {note}", indent, width))
    for note in st.vanished_notes:
        lines.extend(_wrap(f"- {note}", indent, width))
    return lines


def _pack(items: list[str], indent: int, width: int) -> list[str]:
    """Lay ``items`` out left to right, starting a new line rather than splitting an item."""
    lines: list[str] = []
    cur = ""
    for item in items:
        if cur and indent + len(cur) + 1 + len(item) > width:
            lines.append(cur)
            cur = ""
        cur = f"{cur} {item}" if cur else item
    if cur:
        lines.append(cur)
    out: list[str] = []
    for k, line in enumerate(lines):
        out.extend(_wrap(line, indent + (2 if k else 0), width))
    return out


def _wrap(text: str, indent: int, width: int) -> list[str]:
    pad = " " * indent
    return textwrap.wrap(
        text, width, initial_indent=pad, subsequent_indent=pad + "  ", break_long_words=True, break_on_hyphens=False
    )


def _folded_line(folded: list[StepView], numw: int, width: int) -> str:
    first, last = folded[0].number, folded[-1].number
    span = f"step {first}" if first == last else f"steps {first}-{last}"
    what = "; ".join(f"{s.lane} {s.title}" for s in folded)
    return _truncate(f"   {'..':>{numw}}  {span} folded: {what}", width)


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
