"""Every committed counterexample still replays against the current model and still violates,
and its spec still expects that violation (regenerate with ``lufmodel corpus``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lufmodel.render.tracefile import load_trace_file, model_from_spec, replay_saved
from lufmodel.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
TRACES = sorted((ROOT / "counterexamples").glob("*/trace.json"))


def test_the_corpus_is_not_empty() -> None:
    assert len(TRACES) >= 20


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.parent.name)
def test_committed_counterexample_replays_and_still_violates(path: Path) -> None:
    saved = load_trace_file(path)
    model = model_from_spec(saved)
    trace, shows = replay_saved(saved, model)
    assert shows, f"{path} no longer breaks {trace.property}"
    spec = load_spec(ROOT / "specs" / f"{path.parent.name}.toml")
    expected = spec.expect.get(trace.property)
    assert expected is not None and expected.verdict == "violated"
    assert expected.depth in (None, trace.depth)
    for ext in ("txt", "dot", "graphml", "svg", "png", "html"):
        assert (path.parent / f"trace.{ext}").stat().st_size > 0
