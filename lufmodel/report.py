"""Machine-readable results: the ``--json`` document every engine's command prints."""

from __future__ import annotations

from typing import Any, Sequence

from lufmodel.results import RunResult
from lufmodel.trace import Trace


def trace_to_json(trace: Trace) -> list[dict[str, Any]]:
    """The steps of a trace: CPU, kernel path and step, action and arguments, changes."""
    model = trace.model
    steps = []
    for st in trace.steps:
        inst = st.instance
        steps.append(
            {
                "cpu": inst.cpu,
                "path": inst.action.path,
                "step": inst.action.step,
                "action": inst.action.name,
                "args": inst.args.as_dict(),
                "changes": [
                    {
                        "var": ch.var.name,
                        "before": ch.before,
                        "after": ch.after,
                        "text": f"{model.describe_value(ch.var, ch.before)} -> {model.describe_value(ch.var, ch.after)}",
                    }
                    for ch in st.changes
                ],
                "notes": list(model.annotate(st.after)),
            }
        )
    return steps


def run_to_json(run: RunResult) -> dict[str, Any]:
    return {
        "spec": run.spec,
        "engine": run.engine,
        "complete": run.complete,
        "stopped_by": run.stopped_by,
        "stats": {
            "states": run.stats.states,
            "transitions": run.stats.transitions,
            "depth": run.stats.depth,
            "seconds": round(run.stats.seconds, 3),
        },
        "storage": "full states" if run.collision_probability is None else "64-bit fingerprints",
        "collision_probability": run.collision_probability,
        "reduction": run.reduction,
        "results": [
            {
                "property": r.prop.name,
                "modality": r.prop.modality,
                "category": r.prop.category,
                "verdict": r.verdict,
                "depth": r.depth,
                "note": r.note,
                "cpu_switches": r.trace.cpu_switches() if r.trace is not None else None,
                "trace": trace_to_json(r.trace) if r.trace is not None else None,
            }
            for r in run.results
        ],
    }


def document(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"format": 1, "specs": list(runs)}
