"""Counterexamples people can read: CPU-column text, JSON trace files, graphs, SVG/PNG, HTML.

Every renderer starts from a replayed ``Trace`` and the model's own words for values
(``Model.describe_value``) and states (``Model.annotate``), gathered once by
``lufmodel.render.view.trace_view``. Library code here returns strings, bytes or graphs;
only ``lufmodel.commands`` prints or writes files given on the command line
(``lufmodel.render.corpus`` writes into a folder its caller names).
"""

from __future__ import annotations

from lufmodel.render.text import render_trace
from lufmodel.render.tracefile import SavedTrace, TraceFileError, read_trace_json, write_trace_json
from lufmodel.render.view import TraceView, relevant_steps, trace_view

__all__ = [
    "SavedTrace",
    "TraceFileError",
    "TraceView",
    "read_trace_json",
    "relevant_steps",
    "render_trace",
    "trace_view",
    "write_trace_json",
]
