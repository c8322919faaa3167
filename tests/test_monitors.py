"""The debug monitors (kernel/monitors.py) measured against the ground truth (lufmodel/monitoring.py):
the matrix for small specs, observers that never change the kernel, every committed witness
replays, and bad input is refused."""

from __future__ import annotations

import functools
from collections import deque
from pathlib import Path

import pytest

from lufmodel.backends.codegen import compile_model
from lufmodel.builder import ModelBuilder
from lufmodel.cli import main
from lufmodel.errors import ModelDefinitionError, SpecError
from lufmodel.kernel.monitors import property_name
from lufmodel.model import Model
from lufmodel.monitoring import (
    CAUGHT,
    EARLY,
    FALSE_ALARM_CELL,
    MISSED_CELL,
    NONE,
    NOT_BROKEN,
    check,
    matrix_lines,
    monitored_spec,
    nothing_breakable_after,
)
from lufmodel.render.tracefile import load_trace_file, replay_saved
from lufmodel.spec import load_spec, load_spec_text

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
WITNESSES = sorted((ROOT / "counterexamples" / "monitors").glob("*/*/*/trace.json"))

# The matrix for small specs, as `lufmodel monitors` prints it (cell texts).
EXPECTED = {
    ("L5-slab-reuse-v12-no-takeoff", "bp-debug"): {"P1": "MISSED 16", "P2_strict": "MISSED 16", "false_alarm": "none"},
    ("L5-slab-reuse-v12-no-takeoff", "bp-debug+takeoff-check"): {"P1": CAUGHT, "P2_strict": CAUGHT, "false_alarm": EARLY},
    ("L5-slab-reuse-v12-no-takeoff", "v12-debug"): {"P1": CAUGHT, "P2_strict": CAUGHT, "false_alarm": EARLY},
    ("L2-file-write-v12-no-write-begin", "bp-debug"): {"P2_strict": "MISSED 19", "R2_refined": CAUGHT, "P1": NOT_BROKEN},
    ("L2-file-write-v12-no-write-begin", "bp-debug+copy-check"): {"P2_strict": CAUGHT, "R2_refined": CAUGHT, "false_alarm": NONE},
    ("L2-file-write-v12-no-write-begin", "v12-debug"): {"P2_strict": "MISSED 19", "R2_refined": "MISSED 17"},
    ("L2-file-write-v12-no-write-begin", "v12-debug+object-level"): {"P2_strict": CAUGHT, "R2_refined": CAUGHT,
                                                                     "false_alarm": NONE},
}


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda k: f"{k[0]}-{k[1]}")
def test_the_matrix_of_small_specs(key: tuple[str, str]) -> None:
    spec_name, monitor = key
    report = check(load_spec(SPECS / f"{spec_name}.toml"), monitor)
    assert report.run.complete
    for column, text in EXPECTED[key].items():
        cell = report.cell(column)
        assert cell.text == text, (column, cell.text, cell.note)
        if cell.status in (MISSED_CELL, FALSE_ALARM_CELL):
            assert cell.trace is not None and cell.trace.depth == cell.depth
    assert any(spec_name in line and monitor in line for line in matrix_lines([report]))


def test_a_false_alarm_is_a_warning_from_whose_state_nothing_can_break() -> None:
    spec = load_spec(SPECS / "L5-slab-reuse-v12-no-takeoff.toml")
    report = check(spec, "v12-debug")
    # v12-debug warns at take-off before anything is broken: an early warning, since the
    # stale read of the slab page is still to come; a warning on a state from which
    # nothing can be broken would be a false alarm.
    assert report.cell("false_alarm").status == EARLY
    assert report.cell("alarm_without_harm").trace is not None


def _reachable(model: Model) -> set[tuple[int, ...]]:
    compiled = compile_model(model, [])
    seen = {model.init}
    queue = deque([model.init])
    while queue:
        s = queue.popleft()
        for fn in compiled.steps:
            r = fn(s)
            if r is not None and r[0] not in seen:
                seen.add(r[0])
                queue.append(r[0])
    return seen


def test_monitors_never_change_what_the_kernel_does() -> None:
    spec = load_spec(SPECS / "L2-file-write-v12-no-write-begin.toml")
    monitored = monitored_spec(spec, ["bp-debug+copy-check+mkwrite-check", "v12-debug+object-level"]).model
    assert monitored.observed and not spec.model.observed
    kernel = [v.pos for v in monitored.variables if v.family not in monitored.observed]
    assert [monitored.variables[p].name for p in kernel] == [v.name for v in spec.model.variables]
    plain = _reachable(spec.model)
    projected = {tuple(s[p] for p in kernel) for s in _reachable(monitored)}
    assert projected == plain


def test_a_spec_without_monitors_has_no_observer_state() -> None:
    spec = load_spec(SPECS / "luf-v12.toml")
    assert not spec.model.observed
    assert not any(p.category == "monitor" for p in spec.model.properties)


@functools.lru_cache(maxsize=8)
def _model_of(text: str, path: str) -> Model:
    """The witness's model (one per monitor and spec: the witnesses of a row share it)."""
    return load_spec_text(text, path).model


@pytest.mark.parametrize("path", WITNESSES, ids=lambda p: "/".join(p.parts[-4:-1]))
def test_every_committed_monitor_witness_replays_and_still_shows_its_cell(path: Path) -> None:
    monitor, spec_name, cell = path.parts[-4:-1]
    saved = load_trace_file(path)
    model = _model_of(saved.spec_text, saved.spec_path)
    trace, shows = replay_saved(saved, model)
    assert shows, f"{path} no longer shows {trace.property}"
    if cell.startswith("missed-"):
        assert trace.property == property_name(monitor, "missed", cell.removeprefix("missed-"))
    elif cell == "false-alarm":
        assert trace.property == property_name(monitor, "false_alarm")
        assert nothing_breakable_after(load_spec(SPECS / f"{spec_name}.toml"), trace)
    else:
        assert cell == "alarm-without-harm" and trace.property == property_name(monitor, "alarm_without_harm")
    # Committed witnesses keep the replayable JSON and the text view; `lufmodel show` draws
    # the other formats (DOT, GraphML, SVG, PNG, HTML) from the JSON.
    assert (path.parent / "trace.txt").stat().st_size > 0


@pytest.mark.skipif(not WITNESSES, reason="no witnesses yet: `lufmodel monitors SPEC...` (docs/luf-debug.md) writes them")
def test_every_blind_spot_cell_of_the_committed_matrix_has_a_witness() -> None:
    doc = (ROOT / "docs" / "luf-debug.md").read_text(encoding="utf-8")
    rows = [line for line in doc.splitlines() if line.startswith("| ") and ("MISSED" in line or "FALSE ALARM" in line)]
    assert rows
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        spec_name, monitor = cells[0], cells[1]
        folder = ROOT / "counterexamples" / "monitors" / monitor / spec_name
        assert folder.is_dir(), folder
        missed = sum(c.startswith("MISSED") for c in cells)
        assert len(list(folder.glob("missed-*/trace.json"))) == missed, line


def test_bad_monitor_names_are_refused() -> None:
    text = (SPECS / "luf-v12.toml").read_text(encoding="utf-8")
    with pytest.raises(SpecError, match="unknown monitor"):
        load_spec_text(text + '\n[monitors]\nenabled = ["kasan"]\n', "x.toml")
    with pytest.raises(SpecError, match="has no fix"):
        load_spec_text(text + '\n[monitors]\nenabled = ["bp-debug+object-level"]\n', "x.toml")
    with pytest.raises(SpecError, match="already enables monitors"):
        monitored_spec(load_spec_text(text + '\n[monitors]\nenabled = ["bp-debug"]\n', "x.toml"), ["v12-debug"])


def test_the_command_gives_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitors", "--monitor", "nope", str(SPECS / "luf-v12.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown monitor" in err[0]
    assert main(["monitors", str(SPECS / "no-such-spec.toml")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_the_command_prints_the_matrix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["monitors", "--monitor", "bp-debug+takeoff-check", "--out", str(tmp_path),
                 str(SPECS / "L5-slab-reuse-v12-no-takeoff.toml")])
    out = capsys.readouterr().out
    assert code == 1  # the literal rules are still missed
    assert "| L5-slab-reuse-v12-no-takeoff | bp-debug+takeoff-check |" in out.replace("  ", " ").replace("  ", " ")
    assert (tmp_path / "bp-debug+takeoff-check" / "L5-slab-reuse-v12-no-takeoff" / "missed-R1" / "trace.json").is_file()


def test_an_observer_may_write_only_its_own_families() -> None:
    def model(observer_writes: str, action_writes: list[str]) -> ModelBuilder:
        b = ModelBuilder("toy", 1)
        x = b.scalar("x", 0, 1)
        seen = b.scalar("seen", 0, 1)
        b.action("set", path="p", step="s", params={"c": (0,)}, guard=lambda ops, s, a: ops.const(True),
                 effect=lambda ops, s, a, w: w.__setitem__(x, ops.const(1)), writes=action_writes)
        target = x if observer_writes == "x" else seen
        b.observe("spy", ["seen"], lambda ops, s, act, a, w, events: w.__setitem__(target, ops.const(1)))
        return b

    assert model("seen", ["x"]).build({}, lambda v, n: str(n)).observed == frozenset({"seen"})
    with pytest.raises(ModelDefinitionError, match="may write only"):
        model("x", ["x"]).build({}, lambda v, n: str(n))
    with pytest.raises(ModelDefinitionError, match="observer families"):
        model("seen", ["x", "seen"]).build({}, lambda v, n: str(n))
