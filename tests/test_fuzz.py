"""The fuzzer: a hypothesis state machine generated from the model.

Every run here is pinned (explicit seed, no database) and small; the file runs in a few
seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import unittest
from dataclasses import dataclass
from typing import Any

import pytest

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.commands import fuzz as fuzz_command
from lufmodel.fuzz import FuzzResult, PropertyViolation, fuzz, make_test, minimise, state_machine
from lufmodel.model import Args, Event, Model, Read, Var, Write
from lufmodel.ops import Ops
from lufmodel.results import HOLDS, UNKNOWN, VIOLATED
from lufmodel.trace import confirmed, replay

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from toy import toy_model  # noqa: E402


def kinds_model() -> Model:
    """Three kinds (one CPU-less, one with the default empty kind) and an event property.

    ``reset`` while ``flag`` is set breaks ``reset_with_flag_clear``: the shortest run is
    toggle, inc, inc, inc, reset (5 steps).
    """
    b = ModelBuilder("kinds", 2)
    x = b.scalar("x", 0, 3)
    flag = b.bools("flag", ())[()]

    def inc_guard(ops: Ops, s: Read, a: Args) -> O.Expr:
        return ops.lt(s[x], ops.const(3))

    def inc(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[x] = ops.add(s[x], ops.const(1))

    def toggle(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[flag] = ops.not_(s[flag])

    def reset_guard(ops: Ops, s: Read, a: Args) -> O.Expr:
        return ops.eq(s[x], ops.const(3))

    def reset(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[x] = ops.const(0)

    def reset_event(ops: Ops, s: Read, a: Args) -> list[Event]:
        return [Event("reset_seen", ops.const(True), {"flag": s[flag]})]

    b.action("inc", path="work", step="x += 1", params={"c": range(2)}, guard=inc_guard, effect=inc,
             writes=["x"], kind="work")
    b.action("toggle", path="irq", step="flip flag", params={}, guard=lambda ops, s, a: ops.const(True),
             effect=toggle, writes=["flag"], cpu_param=None, kind="irq")
    b.action("reset", path="work", step="x = 0", params={"c": range(2)}, guard=reset_guard, effect=reset,
             writes=["x"], emit=reset_event)
    b.always_on("reset_with_flag_clear", "reset only while flag is clear", "reset_seen",
                lambda ops, s, f: ops.not_(f["flag"]))
    b.always("x_in_range", "x stays within 0..3 (true)", lambda ops, s: O.le(ops, s[x], ops.const(3)))
    b.sometimes("x_full", "x reaches 3", lambda ops, s: ops.eq(s[x], ops.const(3)))

    def describe(var: Var, value: int) -> str:
        return str(value)

    return b.build({}, describe)


def fingerprint(r: FuzzResult) -> Any:
    """Everything about a result except wall-clock times."""
    return (
        [(p.prop.name, p.verdict, p.depth, None if p.trace is None else [s.instance.label for s in p.trace.steps])
         for p in r.run.results],
        r.run.stats.states, r.run.stats.transitions, r.run.stats.depth, r.run.stopped_by,
        r.examples, r.shrink_examples, r.steps, r.rounds, r.coverage,
        [(d.prop, d.example, d.first_depth) for d in r.discoveries],
    )


# ---- finding violations --------------------------------------------------------------


def test_finds_the_toy_lost_update_with_a_short_replayed_trace() -> None:
    model = toy_model()
    r = fuzz(model, examples=50, steps=20, seed=0)
    res = r.run.result("no_lost_update")
    assert r.run.engine == "fuzz"
    assert res.verdict == VIOLATED
    assert res.trace is not None and res.depth == res.trace.depth
    assert res.depth is not None and res.depth <= 6
    assert res.depth == 4  # the shortest possible, after minimisation
    trace, shows = replay(model, [s.instance for s in res.trace.steps], res.prop)
    assert shows
    assert r.examples <= 50


def test_bigger_toy_is_minimised_to_the_shortest_depth() -> None:
    model = toy_model(cpus=4, limit=4)
    r = fuzz(model, examples=100, steps=30, seed=5)
    assert r.run.result("no_lost_update").depth == 4


def test_event_property_violation_is_found_and_replays() -> None:
    model = kinds_model()
    r = fuzz(model, examples=200, steps=30, seed=1)
    res = r.run.result("reset_with_flag_clear")
    assert res.verdict == VIOLATED
    assert res.depth == 5
    assert res.trace is not None
    assert res.trace.steps[-1].instance.action.name == "reset"
    confirmed(model, [s.instance for s in res.trace.steps], res.prop, "test")


def test_minimise_cuts_and_deletes_steps() -> None:
    model = toy_model(cpus=3, limit=3)
    prop = model.prop("no_lost_update")
    i = model.instance
    long = [i("load", {"c": 2}), i("store", {"c": 2}), i("load", {"c": 0}), i("load", {"c": 1}),
            i("store", {"c": 0}), i("store", {"c": 1})]
    short = minimise(model, prop, long)
    assert len(short) == 4
    confirmed(model, short, prop, "test")


# ---- verdicts: a fuzzer never proves ---------------------------------------------------


def test_true_invariant_is_unknown_never_holds() -> None:
    model = kinds_model()
    r = fuzz(model, [model.prop("x_in_range"), model.prop("x_full")], examples=30, steps=20, seed=2)
    res = r.run.result("x_in_range")
    assert res.verdict == UNKNOWN
    assert res.trace is None
    assert res.note.startswith("not violated in ")
    assert "× 20 steps" in res.note
    reached = r.run.result("x_full")
    assert reached.verdict == HOLDS and reached.trace is not None
    assert r.run.complete is False


def test_unreached_sometimes_is_unknown() -> None:
    model = toy_model(cpus=1)
    r = fuzz(model, [model.prop("both_done")], examples=5, steps=1, seed=0)
    res = r.run.result("both_done")  # needs two steps: unreachable with one
    assert res.verdict == UNKNOWN
    assert res.note.startswith("not reached in ")


# ---- the nothing-enabled policy ---------------------------------------------------------


def test_deadlocking_model_ends_runs_cleanly() -> None:
    model = toy_model(cpus=1)  # two steps, then nothing is enabled
    r = fuzz(model, examples=40, steps=25, seed=3)
    assert r.run.result("no_lost_update").verdict == UNKNOWN
    assert r.run.result("both_done").verdict == HOLDS
    assert r.coverage.deadlocks > 0
    assert r.run.stats.depth == 2
    assert r.examples == 40


# ---- reproducibility, budget, coverage --------------------------------------------------


@pytest.mark.parametrize("cpus", [1, 3])
def test_same_seed_same_run(cpus: int) -> None:
    model = toy_model(cpus=cpus, limit=3)
    a = fuzz(model, examples=40, steps=15, seed=11)
    b = fuzz(model, examples=40, steps=15, seed=11)
    assert fingerprint(a) == fingerprint(b)


def test_backends_agree() -> None:
    model = kinds_model()
    a = fuzz(model, examples=30, steps=15, seed=4, backend="compiled", max_shrinks=30)
    b = fuzz(model, examples=30, steps=15, seed=4, backend="interpreter", max_shrinks=30)
    assert fingerprint(a) == fingerprint(b)


def test_coverage_counts_every_kind_and_action() -> None:
    model = kinds_model()
    r = fuzz(model, [model.prop("x_in_range"), model.prop("x_full")], examples=60, steps=20, seed=6)
    assert dict(r.coverage.kinds).keys() == {"work", "irq", "reset"}
    assert all(n > 0 for _, n in r.coverage.kinds), r.coverage.kinds
    assert all(n > 0 for _, n in r.coverage.actions), r.coverage.actions
    assert r.coverage.sometimes_count("x_full") > 0
    assert sum(n for _, n in r.coverage.kinds) == r.steps


@pytest.mark.parametrize("schedule", ["pct", "sticky", "random"])
def test_schedules_find_the_toy_race_reproducibly(schedule: str) -> None:
    model = toy_model(cpus=3, limit=3)
    a = fuzz(model, [model.prop("no_lost_update")], examples=40, steps=15, seed=9, schedule=schedule)
    b = fuzz(model, [model.prop("no_lost_update")], examples=40, steps=15, seed=9, schedule=schedule)
    assert a.schedule == schedule
    assert a.run.result("no_lost_update").depth == 4
    assert fingerprint(a) == fingerprint(b)


def test_budget_and_timeout() -> None:
    model = kinds_model()
    r = fuzz(model, [model.prop("x_in_range")], examples=25, steps=10, seed=0)
    assert r.examples == 25 and r.run.stopped_by is None
    t = fuzz(model, [model.prop("x_in_range")], examples=10_000, steps=10, seed=0, timeout=0.0)
    assert t.run.stopped_by == "timeout"
    assert t.run.result("x_in_range").verdict == UNKNOWN


def test_no_swarm_and_bad_arguments() -> None:
    model = kinds_model()
    r = fuzz(model, [model.prop("x_in_range")], examples=20, steps=10, seed=0, swarm=False)
    assert r.swarm is False and r.coverage.starved == 0
    with pytest.raises(ValueError):
        fuzz(model, examples=0)
    with pytest.raises(ValueError):
        fuzz(model, backend="nope")
    with pytest.raises(ValueError):
        fuzz(model, schedule="nope")
    with pytest.raises(ValueError):
        fuzz(model, [toy_model().prop("both_done")])


# ---- pytest / unittest entry points -----------------------------------------------------


def test_make_test_fails_on_violation_and_passes_otherwise() -> None:
    failing = make_test(toy_model(), examples=30, steps=10, seed=0)
    assert failing.__name__ == "test_fuzz_toy"
    with pytest.raises(AssertionError, match="no_lost_update"):
        failing()
    make_test(toy_model(cpus=1), examples=10, steps=5, seed=0)()
    make_test(kinds_model(), examples=10, steps=5, seed=0, props=["x_in_range"])()


def test_state_machine_testcase_is_pinned_and_fails() -> None:
    machine = state_machine(toy_model(), examples=30, steps=10, seed=0)
    settings = machine.TestCase.settings
    assert settings.database is None and settings.max_examples == 30 and settings.stateful_step_count == 10
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(machine.TestCase).run(result)
    assert len(result.failures) == 1
    assert "no_lost_update violated" in result.failures[0][1]
    assert PropertyViolation.__mro__[1] is AssertionError


# ---- the command ------------------------------------------------------------------------


@dataclass(frozen=True)
class _FakeSpec:
    model: Model
    props: tuple[Any, ...]
    name: str


def _cli(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> int:
    def load_spec(path: str, overrides: dict[str, int] | None = None) -> _FakeSpec:
        if path == "missing.toml":
            raise OSError(f"{path}: no such file")
        cpus = (overrides or {}).get("cpus", 2)
        m = toy_model(cpus=cpus)
        return _FakeSpec(m, m.properties, "toy")

    monkeypatch.setitem(sys.modules, "lufmodel.spec", types.SimpleNamespace(load_spec=load_spec))
    parser = argparse.ArgumentParser()
    fuzz_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


def test_cli_text_json_and_exit_codes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(monkeypatch, ["fuzz", "toy.toml", "--examples", "20", "--steps", "10", "--seed", "7"]) == 1
    out = capsys.readouterr().out
    assert "seed 7" in out and "violated" in out and "coverage" in out and "--seed 7" in out

    assert _cli(monkeypatch, ["fuzz", "toy.toml", "--examples", "20", "--steps", "10", "--seed", "7",
                              "--cpus", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["seed"] == 7 and doc["engine"] == "fuzz"
    assert {r["verdict"] for r in doc["results"]} == {"unknown", "holds"}

    assert _cli(monkeypatch, ["fuzz", "toy.toml", "--examples", "5", "--steps", "1", "--seed", "0",
                              "--cpus", "1", "--property", "both_done"]) == 3
    capsys.readouterr()
    assert _cli(monkeypatch, ["fuzz", "toy.toml", "--property", "nope"]) == 2
    assert _cli(monkeypatch, ["fuzz", "missing.toml"]) == 2
    assert _cli(monkeypatch, ["fuzz", "toy.toml", "--examples", "0"]) == 2
