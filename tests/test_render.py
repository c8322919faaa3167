"""Renderers and the show/replay commands, on the toy model (no LUF kernel needed)."""

from __future__ import annotations

import argparse
import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from lufmodel.commands import replay as replay_cmd
from lufmodel.commands import show as show_cmd
from lufmodel.explore import explore
from lufmodel.model import Model
from lufmodel.render import read_trace_json, relevant_steps, render_trace, tracefile, write_trace_json
from lufmodel.render.corpus import write_all_formats
from lufmodel.render.draw import to_png, to_svg
from lufmodel.render.graph import state_drawing, state_graph, to_dot, to_graphml, trace_drawing, trace_graph
from lufmodel.render.html import render_html
from lufmodel.render.tracefile import TraceFileError, load_trace_file, parse_trace_doc
from lufmodel.trace import Trace, replay, resolve
from toy import toy_model

GOLDEN = Path(__file__).parent / "golden"
SPEC_PATH = "toy.toml"
SPEC_TEXT = "# the toy model (tests/toy.py)\n"


@pytest.fixture(scope="module")
def toy_trace() -> Trace:
    result = explore(toy_model())
    trace = result.result("no_lost_update").trace
    assert trace is not None
    return trace


def _run(model: Model, steps: list[tuple[str, dict[str, int]]], prop: str = "no_lost_update") -> tuple[Trace, bool]:
    return replay(model, resolve(model, steps), model.prop(prop))


# ---- text -------------------------------------------------------------------------------


def test_text_view_has_columns_steps_marker_and_verdict(toy_trace: Trace) -> None:
    text = render_trace(toy_trace)
    lines = text.splitlines()
    header = next(line for line in lines if "CPU0" in line)
    assert "CPU1" in header and header.index("CPU0") < header.index("CPU1")
    assert text.count("inc: load counter") == 2 and text.count("inc: store counter+1") == 2
    for k in range(1, 5):
        assert any(line.lstrip(" >").startswith(f"{k}  ") for line in lines), k
    marked = [line for line in lines if line.startswith(">> 4")]
    assert len(marked) == 1 and "inc: store counter+1" in marked[0]
    assert lines[-1] == ">> step 4 breaks no_lost_update (always: the counter equals the number of finished increments)"
    # CPU1's steps are in CPU1's column.
    cpu1_col = header.index("CPU1")
    step2 = next(line for line in lines if line.startswith("   2"))
    assert step2.index("inc: load counter") == cpu1_col
    assert "counter: 0 -> 1; done[1]: 0 -> 1; pc[1]: 1 -> 2" in text
    assert all(len(line) <= 120 for line in lines)


def test_text_view_golden(toy_trace: Trace) -> None:
    expect = GOLDEN / "toy_trace.expect"
    text = render_trace(toy_trace)
    if os.environ.get("LUFMODEL_UPDATE_GOLDEN"):
        expect.write_text(text, encoding="utf-8")
    assert text == expect.read_text(encoding="utf-8")


def test_short_folds_steps_the_verdict_does_not_depend_on() -> None:
    model = toy_model(cpus=3, limit=3)
    trace, shows = _run(
        model, [("load", {"c": 2}), ("load", {"c": 0}), ("load", {"c": 1}), ("store", {"c": 1}), ("store", {"c": 0})]
    )
    assert shows
    assert relevant_steps(trace) == (False, True, True, True, True)
    short = render_trace(trace, short=True)
    assert "step 1 folded: CPU2 inc: load counter" in short
    assert "pc[2]" not in short
    assert "4 of 5 steps shown" in short
    full = render_trace(trace)
    assert "pc[2]: 0 -> 1" in full


def test_narrow_width_and_many_columns_fit() -> None:
    model = toy_model(cpus=4, limit=4)
    trace = explore(model).result("both_done").trace
    assert trace is not None
    for width in (60, 80, 120):
        text = render_trace(trace, width=width)
        assert max(len(line) for line in text.splitlines()) <= width
    assert "reaches both_done (sometimes: every CPU finished)" in render_trace(trace).replace("\n   ", " ")


def test_no_longer_shows_is_said() -> None:
    model = toy_model()
    trace, shows = _run(model, [("load", {"c": 0}), ("store", {"c": 0})])
    assert not shows
    text = render_trace(trace, shows=False)
    assert "no_lost_update no longer violated" in text
    assert text.splitlines()[-1].startswith(">> step 2 no longer breaks no_lost_update")


# ---- JSON trace files ---------------------------------------------------------------------


def test_json_roundtrip_and_replay(toy_trace: Trace) -> None:
    doc = write_trace_json(toy_trace, SPEC_PATH, SPEC_TEXT)
    doc = json.loads(json.dumps(doc))
    assert doc["format"] == 1 and doc["cpus"] == 2 and doc["outcome"] == "violation"
    assert len(doc["states"]) == 5 and doc["states"][0]["counter"] == 0
    assert doc["steps"][2]["changes"][0] == {
        "var": "counter", "before": 0, "after": 1, "before_text": "0", "after_text": "1",
    }
    assert [s["cpu"] for s in doc["steps"]] == [0, 1, 1, 0]
    spec_text, spec_path, steps, prop = read_trace_json(doc)
    assert (spec_text, spec_path, prop) == (SPEC_TEXT, SPEC_PATH, "no_lost_update")
    model = toy_model()
    again, shows = replay(model, resolve(model, steps), model.prop(prop))
    assert shows
    assert [s.instance.label for s in again.steps] == [s.instance.label for s in toy_trace.steps]
    assert [model.state_dict(s.after) for s in again.steps] == doc["states"][1:]


@pytest.mark.parametrize(
    "doc, message",
    [
        ([], "expected a JSON object"),
        ({"format": 2}, "unsupported trace format 2"),
        ({"format": 1, "spec": {"path": "x"}}, '"spec" must be'),
        ({"format": 1, "spec": {"path": "x", "text": ""}, "property": "p", "steps": [{"action": "a", "args": {"c": "0"}}]},
         'step 1: "args"'),
        ({"format": 1, "spec": {"path": "x", "text": ""}, "property": "p", "steps": {}}, '"steps" must be a list'),
    ],
)
def test_bad_documents_are_rejected_with_the_source(doc: Any, message: str) -> None:
    with pytest.raises(TraceFileError) as exc:
        parse_trace_doc(doc, "t.json")
    assert str(exc.value).startswith("t.json: ") and message in str(exc.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match="no such file"):
        load_trace_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(TraceFileError, match=r"bad\.json: not JSON"):
        load_trace_file(bad)


# ---- graphs and drawings ------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_trace_graph_dot_and_graphml_parse_back(toy_trace: Trace) -> None:
    g = trace_graph(toy_trace)
    assert list(g.nodes) == ["s0", "s1", "s2", "s3", "s4"]
    assert g.nodes["s2"]["lane"] == "CPU1"
    back = nx.read_graphml(io.BytesIO(to_graphml(g).encode()))
    assert back.number_of_nodes() == 5 and back.number_of_edges() == 4
    bad = [(a, b) for a, b, d in back.edges(data=True) if d["violating"]]
    assert bad == [("s3", "s4")]
    assert back.nodes["s1"]["lane"] == "CPU0"
    pydot = pytest.importorskip("pydot")
    (parsed,) = pydot.graph_from_dot_data(to_dot(g))
    dg = nx.nx_pydot.from_pydot(parsed)
    assert {"s0", "s1", "s2", "s3", "s4"} <= set(dg.nodes)
    assert dg.number_of_edges() == 4
    red = [(a, b) for a, b, d in dg.edges(data=True) if d.get("violating") == '"true"' or d.get("violating") == "true"]
    assert red == [("s3", "s4")]


def test_state_graph_highlights_the_path(toy_trace: Trace) -> None:
    sg = state_graph(toy_trace)
    assert sg.complete and sg.states == 13
    on = [(a, b) for a, b, d in sg.graph.edges(data=True) if d["on_trace"]]
    assert len(on) == 4
    assert sum(1 for _, _, d in sg.graph.edges(data=True) if d["violating"]) == 1
    capped = state_graph(toy_trace, max_states=3)
    assert not capped.complete
    assert sum(1 for _, d in capped.graph.nodes(data=True) if d["on_trace"]) == 5
    svg = to_svg(state_drawing(sg))
    ET.fromstring(svg)
    assert "13 states" in svg
    nx.read_graphml(io.BytesIO(to_graphml(sg.graph).encode()))


def test_svg_names_cpus_and_the_violating_step(toy_trace: Trace) -> None:
    svg = to_svg(trace_drawing(toy_trace))
    root = ET.fromstring(svg)
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "CPU0" in texts and "CPU1" in texts
    assert "4. inc: store counter+1" in texts
    assert any("breaks no_lost_update" in t for t in texts)
    red = [e for e in root.iter("{http://www.w3.org/2000/svg}line") if e.get("stroke") == "#d0021b" and "step-4" in (e.get("class") or "")]
    assert red


def test_png_is_a_png(toy_trace: Trace) -> None:
    data = to_png(trace_drawing(toy_trace))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    assert img.width > 300 and img.height > 200


def test_html_is_self_contained_and_steppable(toy_trace: Trace) -> None:
    page = render_html(toy_trace, spec_path=SPEC_PATH, states=state_graph(toy_trace))
    assert page.startswith("<!DOCTYPE html>")
    assert "CPU0" in page and "CPU1" in page and "4. inc: store counter+1" in page
    assert "breaks no_lost_update" in page
    assert 'id="next"' in page and "keydown" in page and 'id="state-graph"' in page
    stripped = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in stripped and "https://" not in stripped
    assert "<link" not in page and " src=" not in page


def test_corpus_writes_every_format(toy_trace: Trace, tmp_path: Path) -> None:
    written = write_all_formats(toy_trace, SPEC_PATH, SPEC_TEXT, tmp_path / "out")
    names = {p.name for p in written}
    assert {"trace.txt", "trace.json", "trace.dot", "trace.graphml", "trace.svg", "trace.png", "trace.html"} <= names
    assert all(p.stat().st_size > 0 for p in written)
    doc = json.loads((tmp_path / "out" / "trace.json").read_text())
    assert doc["property"] == "no_lost_update"


# ---- commands -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lufmodel")
    sub = parser.add_subparsers()
    show_cmd.register(sub)
    replay_cmd.register(sub)
    return parser


@pytest.fixture()
def toy_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracefile, "model_from_spec", lambda saved: toy_model())


def _save(tmp_path: Path, doc: dict[str, Any], name: str = "t.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def _main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    code: int = args.run(args)
    return code


@pytest.mark.usefixtures("toy_loader")
def test_show_every_format(toy_trace: Trace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _save(tmp_path, write_trace_json(toy_trace, SPEC_PATH, SPEC_TEXT))
    assert _main(["show", path]) == 0
    assert capsys.readouterr().out == render_trace(toy_trace)
    assert _main(["show", path, "--short"]) == 0
    assert "short: 4 of 4" in capsys.readouterr().out
    for fmt in ("json", "dot", "graphml", "svg", "png", "html"):
        out = tmp_path / f"o.{fmt}"
        assert _main(["show", path, "--format", fmt, "-o", str(out)]) == 0, fmt
        assert out.stat().st_size > 0
    assert json.loads((tmp_path / "o.json").read_text())["steps"] == json.loads(Path(path).read_text())["steps"]
    assert _main(["show", path, "--format", "svg", "--states", "-o", str(tmp_path / "s.svg")]) == 0
    assert "13 states" in (tmp_path / "s.svg").read_text()


@pytest.mark.usefixtures("toy_loader")
def test_replay_exit_codes(toy_trace: Trace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = write_trace_json(toy_trace, SPEC_PATH, SPEC_TEXT)
    assert _main(["replay", _save(tmp_path, doc)]) == 1
    out = capsys.readouterr().out
    assert ">> 4" in out and out.rstrip().endswith("still violates no_lost_update")

    fixed = dict(doc, steps=[{"action": "load", "args": {"c": 0}}, {"action": "store", "args": {"c": 0}}])
    assert _main(["replay", _save(tmp_path, fixed)]) == 0
    assert "no longer violates no_lost_update" in capsys.readouterr().out

    gone = dict(doc, steps=doc["steps"][:2] + [{"action": "flush", "args": {"c": 1}}])
    assert _main(["replay", _save(tmp_path, gone)]) == 2
    assert "step 3: the model has no action flush" in capsys.readouterr().out

    disabled = dict(doc, steps=[{"action": "store", "args": {"c": 0}}])
    assert _main(["replay", _save(tmp_path, disabled)]) == 2
    out = capsys.readouterr().out
    assert "step 1 (store(c=0)) is not enabled" in out and "!!   1  store(c=0)" in out

    no_prop = dict(doc, property="renamed")
    assert _main(["replay", _save(tmp_path, no_prop)]) == 2
    assert "no property 'renamed'" in capsys.readouterr().out


def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "missing.json")
    notjson = tmp_path / "x.json"
    notjson.write_text("nope", encoding="utf-8")
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": 0}), encoding="utf-8")
    for cmd in ("show", "replay"):
        for path, what in ((missing, "no such file"), (str(notjson), "not JSON"), (str(old), "unsupported trace format 0")):
            assert _main([cmd, path]) == 2
            captured = capsys.readouterr()
            err = captured.err.strip()
            assert "\n" not in err and err.startswith(path) and what in err, (cmd, err)
            assert "Traceback" not in captured.err
