"""The versioned JSON trace document: a counterexample that can be read, diffed and replayed.

::

    {"format": 1,
     "spec": {"path": "specs/x.toml", "text": "<the spec's TOML source>"},
     "model": "luf", "property": "no_stale_read", "outcome": "violation", "cpus": 2,
     "steps": [{"cpu": 0, "action": "unmap_clear", "args": {"c": 0, "mm": 0},
                "label": "unmap_clear(c=0, mm=0)", "path": "try_to_unmap_one",
                "step": "clear PTE, defer flush", "notes": ["stale: ..."],
                "changes": [{"var": "pte[0,0]", "before": 1, "after": 0,
                             "before_text": "frame1", "after_text": "none"}]}, ...],
     "states": [{"pte[0,0]": 1, ...}, ...]}

``states`` holds the initial state and the state after each step. The spec's source is
embedded, so a saved trace replays against the model that the *current* code builds from
that spec (``lufmodel replay``), not against a model pickled at save time. Only ``spec``,
``property`` and each step's ``action`` and ``args`` are needed to replay; the rest is for
people and other tools.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from lufmodel.errors import LufModelError, ReplayError
from lufmodel.model import Model
from lufmodel.render.view import trace_view
from lufmodel.trace import Trace, replay, resolve

FORMAT = 1


class TraceFileError(LufModelError, ValueError):
    """A trace file is missing, not JSON, of another format version, or malformed."""


StepRef = tuple[str, dict[str, int]]


@dataclass(frozen=True)
class SavedTrace:
    """The replayable part of a trace document."""

    source: str
    """Where the document came from (a file name), for messages."""
    spec_path: str
    spec_text: str
    steps: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    property: str
    outcome: str

    def step_refs(self) -> list[StepRef]:
        return [(name, dict(args)) for name, args in self.steps]


def write_trace_json(trace: Trace, spec_path: str, spec_text: str) -> dict[str, Any]:
    """The trace document of ``trace`` (a JSON-ready dict; see the module docstring)."""
    model = trace.model
    view = trace_view(trace)
    steps: list[dict[str, Any]] = []
    for sv in view.steps:
        steps.append(
            {
                "cpu": sv.cpu,
                "action": sv.action,
                "args": dict(sv.args),
                "label": sv.label,
                "path": sv.path,
                "step": sv.step,
                "notes": list(sv.new_notes),
                "changes": [
                    {
                        "var": c.var,
                        "before": c.before,
                        "after": c.after,
                        "before_text": c.before_text,
                        "after_text": c.after_text,
                    }
                    for c in sv.changes
                ],
            }
        )
    states = [model.state_dict(trace.init)] + [model.state_dict(s.after) for s in trace.steps]
    return {
        "format": FORMAT,
        "spec": {"path": spec_path, "text": spec_text},
        "model": model.name,
        "property": trace.property,
        "doc": view.doc,
        "outcome": trace.outcome,
        "cpus": model.cpus,
        "steps": steps,
        "states": states,
    }


def dumps(doc: Mapping[str, Any]) -> str:
    """The document as JSON text: one step or state per line region, stable key order."""
    return json.dumps(doc, indent=1) + "\n"


def read_trace_json(doc: Any, source: str = "trace") -> tuple[str, str, list[StepRef], str]:
    """``(spec_text, spec_path, [(action, args)], property)`` of a trace document.

    Raises ``TraceFileError`` naming ``source`` if the document is not a format-1 trace.
    """
    saved = parse_trace_doc(doc, source)
    return saved.spec_text, saved.spec_path, saved.step_refs(), saved.property


def parse_trace_doc(doc: Any, source: str = "trace") -> SavedTrace:
    def bad(what: str) -> TraceFileError:
        return TraceFileError(f"{source}: {what}")

    if not isinstance(doc, dict):
        raise bad("not a trace document (expected a JSON object)")
    fmt = doc.get("format")
    if fmt != FORMAT:
        raise bad(f"unsupported trace format {fmt!r} (this lufmodel reads format {FORMAT})")
    spec = doc.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("path"), str) or not isinstance(spec.get("text"), str):
        raise bad('"spec" must be {"path": str, "text": str}')
    prop = doc.get("property")
    if not isinstance(prop, str) or not prop:
        raise bad('"property" must be a property name')
    outcome = doc.get("outcome", "violation")
    if outcome not in ("violation", "witness"):
        raise bad(f'"outcome" must be "violation" or "witness", not {outcome!r}')
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, list):
        raise bad('"steps" must be a list')
    steps: list[tuple[str, tuple[tuple[str, int], ...]]] = []
    for k, st in enumerate(raw_steps, 1):
        if not isinstance(st, dict) or not isinstance(st.get("action"), str):
            raise bad(f'step {k}: needs an "action" name')
        args = st.get("args", {})
        if not isinstance(args, dict) or not all(
            isinstance(key, str) and isinstance(v, int) and not isinstance(v, bool) for key, v in args.items()
        ):
            raise bad(f'step {k}: "args" must map parameter names to integers')
        steps.append((st["action"], tuple(args.items())))
    return SavedTrace(source, spec["path"], spec["text"], tuple(steps), prop, outcome)


def load_trace_file(path: str | Path) -> SavedTrace:
    """Read and check a trace file; every problem is one ``TraceFileError`` naming the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceFileError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise TraceFileError(f"{p}: is a directory, not a trace file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceFileError(f"{p}: cannot read: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceFileError(f"{p}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    return parse_trace_doc(doc, str(p))


def model_from_spec(saved: SavedTrace) -> Model:
    """Build the current model from the spec embedded in a saved trace."""
    from lufmodel.spec import load_spec_text  # type: ignore[import-not-found,unused-ignore]

    spec = load_spec_text(saved.spec_text, saved.spec_path)
    model: Model = spec.model
    return model


def replay_saved(saved: SavedTrace, model: Model) -> tuple[Trace, bool]:
    """Replay a saved trace on ``model``: the trace and whether it still shows its property.

    Raises ``ReplayError`` if a step no longer exists or is not enabled (``step_index`` is
    1-based), or if the model no longer has the property (``step_index`` 0).
    """
    try:
        prop = model.prop(saved.property)
    except KeyError:
        raise ReplayError(f"the model has no property {saved.property!r} any more", 0) from None
    instances = resolve(model, saved.step_refs())
    return replay(model, instances, prop)


def trace_steps(instances: Sequence[tuple[str, Mapping[str, int]]]) -> list[StepRef]:
    """Normalise (action, args) pairs to the form ``resolve`` takes."""
    return [(name, dict(args)) for name, args in instances]
