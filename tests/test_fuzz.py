"""The fuzzer: the random-walk engine, the generated hypothesis state machine, the shared
scheduling policy, the trace minimiser, and the kernel specs' violations.

Every run here is pinned (explicit seed, no database) and small. The default run checks
ten small violating specs (about 15 seconds); ``pytest -m slow`` checks every violating
spec of the original 31 within the stated budget.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from lufmodel.minimise import CompiledReplayer, InterpreterReplayer, drop_loops
from lufmodel.model import Args, Event, Model, Read, Var, Write
from lufmodel.ops import Ops
from lufmodel.results import HOLDS, UNKNOWN, VIOLATED
from lufmodel.schedule import NO_CPU, Policy, RunShape
from lufmodel.trace import confirmed, replay

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from conftest import ROOT  # noqa: E402
from toy import toy_model  # noqa: E402

ENGINES = ("walk", "hypothesis")


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


def paths_model() -> Model:
    """Two CPUs, each running a three-step path (``pc`` 0 -> 1 -> 2 -> 0, its control
    variable) and a ``noise`` step that is always enabled and leaves ``pc`` alone."""
    b = ModelBuilder("paths", 2)
    pc = b.array("pc", (2,), 0, 2)
    rounds = b.array("rounds", (2,), 0, 3)
    noise = b.array("noise", (2,), 0, 1)

    def at(step: int) -> Any:
        return lambda ops, s, a: ops.eq(s[pc[a.c]], ops.const(step))

    def go(step: int) -> Any:
        def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
            w[pc[a.c]] = ops.const(step)
            if step == 0:
                w[rounds[a.c]] = ops.ite(ops.lt(s[rounds[a.c]], ops.const(3)), ops.add(s[rounds[a.c]], ops.const(1)),
                                         s[rounds[a.c]])
        return effect

    cpus = {"c": range(2)}
    b.action("enter", path="p", step="enter", params=cpus, guard=at(0), effect=go(1), writes=["pc"], kind="p")
    b.action("middle", path="p", step="middle", params=cpus, guard=at(1), effect=go(2), writes=["pc"], kind="p")
    b.action("leave", path="p", step="leave", params=cpus, guard=at(2), effect=go(0), writes=["pc", "rounds"],
             kind="p")
    b.action("noise", path="hw", step="noise", params=cpus, guard=lambda ops, s, a: ops.const(True),
             effect=lambda ops, s, a, w: w.__setitem__(noise[a.c], ops.sub(ops.const(1), s[noise[a.c]])),
             writes=["noise"], kind="hw")
    b.always("few_rounds", "CPU0 finishes fewer than 3 paths (false)", lambda ops, s: ops.lt(s[rounds[0]], ops.const(3)))

    def describe(var: Var, value: int) -> str:
        return str(value)

    model = b.build({}, describe)
    return dataclasses.replace(model, control=(model.var("pc[0]"), model.var("pc[1]")))


def fingerprint(r: FuzzResult) -> Any:
    """Everything about a result except wall-clock times."""
    return (
        [(p.prop.name, p.verdict, p.depth, None if p.trace is None else [s.instance.label for s in p.trace.steps])
         for p in r.run.results],
        r.run.stats.states, r.run.stats.transitions, r.run.stats.depth, r.run.stopped_by,
        r.examples, r.shrink_examples, r.steps, r.rounds, r.coverage,
        [(d.prop, d.example, d.first_depth, d.steps) for d in r.discoveries],
    )


# ---- finding violations --------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_finds_the_toy_lost_update_with_a_short_replayed_trace(engine: str) -> None:
    model = toy_model()
    r = fuzz(model, examples=50, steps=20, seed=0, engine=engine)
    res = r.run.result("no_lost_update")
    assert r.run.engine == "fuzz" and r.engine == engine
    assert res.verdict == VIOLATED
    assert res.trace is not None and res.depth == res.trace.depth
    assert res.depth == 4  # the shortest possible, after minimisation
    trace, shows = replay(model, [s.instance for s in res.trace.steps], res.prop)
    assert shows
    assert r.examples <= 50


def test_bigger_toy_is_minimised_to_the_shortest_depth() -> None:
    model = toy_model(cpus=4, limit=4)
    r = fuzz(model, examples=100, steps=30, seed=5)
    assert r.run.result("no_lost_update").depth == 4


@pytest.mark.parametrize("engine", ENGINES)
def test_event_property_violation_is_found_and_replays(engine: str) -> None:
    model = kinds_model()
    r = fuzz(model, examples=200, steps=30, seed=1, engine=engine)
    res = r.run.result("reset_with_flag_clear")
    assert res.verdict == VIOLATED
    assert res.depth == 5
    assert res.trace is not None
    assert res.trace.steps[-1].instance.action.name == "reset"
    confirmed(model, [s.instance for s in res.trace.steps], res.prop, "test")


def test_archive_continues_runs_past_their_length() -> None:
    """Runs of 2 steps reach the depth-4 race only by continuing from archived states."""
    model = toy_model()
    prop = model.prop("no_lost_update")
    plain = fuzz(model, [prop], examples=300, steps=2, seed=0, archive=False)
    assert plain.run.result("no_lost_update").verdict == UNKNOWN
    assert plain.run.stats.depth == 2
    chained = fuzz(model, [prop], examples=300, steps=2, seed=0)
    assert chained.run.result("no_lost_update").verdict == VIOLATED
    assert chained.run.result("no_lost_update").depth == 4
    assert chained.coverage.cells > 1
    d = chained.discovery("no_lost_update")
    assert d is not None and d.first_depth >= 4 and 0 < d.steps <= chained.steps


# ---- the minimiser ----------------------------------------------------------------------


def test_minimise_cuts_and_deletes_steps() -> None:
    model = toy_model(cpus=3, limit=3)
    prop = model.prop("no_lost_update")
    i = model.instance
    long = [i("load", {"c": 2}), i("store", {"c": 2}), i("load", {"c": 0}), i("load", {"c": 1}),
            i("store", {"c": 0}), i("store", {"c": 1})]
    short = minimise(model, prop, long)
    assert len(short) == 4
    confirmed(model, short, prop, "test")
    assert minimise(model, prop, long, replayer=CompiledReplayer(model, prop)) == short


def test_drop_loops_cuts_stretches_that_return_to_a_state() -> None:
    model = kinds_model()
    prop = model.prop("reset_with_flag_clear")
    i = model.instance
    toggle = model.instance("toggle", {})
    path = [toggle, toggle, toggle, i("inc", {"c": 0}), i("inc", {"c": 1}), toggle, toggle, i("inc", {"c": 0}),
            i("reset", {"c": 1})]
    for rep in (InterpreterReplayer(model, prop), CompiledReplayer(model, prop)):
        assert [s.action.name for s in drop_loops(rep, path)] == ["toggle"]  # reset returns to x=0, flag set
        cut = drop_loops(rep, path[:-1])
        assert [s.action.name for s in cut] == ["toggle", "inc", "inc", "inc"]
        assert rep.shown_at(cut + path[-1:]) == 5
        assert [s.action.name for s in minimise(model, prop, path, replayer=rep)] == ["toggle", "inc", "inc", "inc",
                                                                                      "reset"]
    assert rep.states([i("reset", {"c": 0})]) is None


# ---- the scheduling policy --------------------------------------------------------------


def _shape(policy: Policy, schedule: str, *, switch: int = 0, preempt: int = 0, leave: int = 0) -> RunShape:
    return RunShape((True,) * len(policy.kinds), (True,) * policy.model.cpus, schedule, switch, preempt, leave)


def _enabled(model: Model, state: tuple[int, ...]) -> list[int]:
    from lufmodel.semantics import Interpreter

    interp = Interpreter(model)
    return [inst.number for inst in model.instances if interp.enabled(state, inst)]


def test_policy_reads_paths_from_control_variables() -> None:
    model = paths_model()
    policy = Policy(model)
    names = {inst.number: inst.action.name for inst in model.instances}
    assert {names[n] for n, c in enumerate(policy.continues) if c} == {"enter", "middle", "leave"}
    inside = model.instance("enter", {"c": 0})
    from lufmodel.semantics import Interpreter

    state = Interpreter(model).step(model.init, inside)
    assert policy.busy(state, 0) and not policy.busy(state, 1) and not policy.busy(state, NO_CPU)
    assert not Policy(toy_model()).busy(toy_model().init, 0)  # no control variables: always idle


def test_path_schedule_keeps_a_cpu_in_its_path_and_preempts_on_request() -> None:
    model = paths_model()
    policy = Policy(model)
    from lufmodel.semantics import Interpreter

    state = Interpreter(model).step(model.init, model.instance("enter", {"c": 0}))
    enabled = _enabled(model, state)
    middle0 = model.instance("middle", {"c": 0}).number

    def first(n: int, label: str) -> int:
        return 0

    def last(n: int, label: str) -> int:
        return n - 1

    for draw in (first, last):
        stay = _shape(policy, "path", switch=256, preempt=0, leave=0)
        assert policy.choose(state, enabled, stay, 0, 1, None, draw) == (middle0, False)
    preempted = _shape(policy, "path", preempt=256)
    number, _ = policy.choose(state, enabled, preempted, 0, 1, None, last)
    assert model.instances[number].cpu == 1
    leaving = _shape(policy, "path", leave=256)
    number, _ = policy.choose(state, enabled, leaving, 0, 1, None, first)
    assert model.instances[number].action.name == "noise" and model.instances[number].cpu == 0


def test_swarm_is_a_preference_and_shapes_are_drawn() -> None:
    model = paths_model()
    policy = Policy(model)
    zero = policy.shape(lambda n, label: 0)
    assert zero.kinds_on == (True, True) and zero.schedule == "random"
    only_hw = dataclasses.replace(_shape(policy, "random"), kinds_on=tuple(k == "hw" for k in policy.kinds))
    no_hw = dataclasses.replace(only_hw, kinds_on=tuple(k != "hw" for k in policy.kinds))
    enabled = _enabled(model, model.init)
    number, starved = policy.choose(model.init, enabled, only_hw, NO_CPU, 0, None, lambda n, label: 0)
    assert model.instances[number].action.name == "noise" and not starved
    number, starved = policy.choose(model.init, enabled, no_hw, NO_CPU, 0, None, lambda n, label: 0)
    assert model.instances[number].action.name == "enter" and not starved
    nothing = dataclasses.replace(no_hw, kinds_on=(False, False))
    assert policy.choose(model.init, enabled, nothing, NO_CPU, 0, None, lambda n, label: 0)[1] is True
    with pytest.raises(ValueError):
        Policy(model, schedule="nope")


@pytest.mark.parametrize("schedule", ["pct", "sticky", "random", "path"])
def test_schedules_find_the_path_property_reproducibly(schedule: str) -> None:
    model = paths_model()
    a = fuzz(model, examples=200, steps=15, seed=9, schedule=schedule)
    b = fuzz(model, examples=200, steps=15, seed=9, schedule=schedule)
    assert a.schedule == schedule
    assert a.run.result("few_rounds").depth == 9
    assert fingerprint(a) == fingerprint(b)


# ---- verdicts: a fuzzer never proves ---------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_true_invariant_is_unknown_never_holds(engine: str) -> None:
    model = kinds_model()
    r = fuzz(model, [model.prop("x_in_range"), model.prop("x_full")], examples=30, steps=20, seed=2, engine=engine)
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
    r = fuzz(model, [model.prop("both_done")], examples=5, steps=1, seed=0, archive=False)
    res = r.run.result("both_done")  # needs two steps: unreachable with one
    assert res.verdict == UNKNOWN
    assert res.note.startswith("not reached in ")


# ---- the nothing-enabled policy ---------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_deadlocking_model_ends_runs_cleanly(engine: str) -> None:
    model = toy_model(cpus=1)  # two steps, then nothing is enabled
    r = fuzz(model, [model.prop("no_lost_update")], examples=40, steps=25, seed=3, engine=engine)
    assert r.run.result("no_lost_update").verdict == UNKNOWN
    assert r.coverage.deadlocks > 0
    assert r.run.stats.depth == 2
    assert r.examples == 40


# ---- reproducibility, budget, coverage --------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cpus", [1, 3])
def test_same_seed_same_run(cpus: int, engine: str) -> None:
    model = toy_model(cpus=cpus, limit=3)
    a = fuzz(model, examples=40, steps=15, seed=11, engine=engine)
    b = fuzz(model, examples=40, steps=15, seed=11, engine=engine)
    assert fingerprint(a) == fingerprint(b)


@pytest.mark.parametrize("engine", ENGINES)
def test_backends_agree(engine: str) -> None:
    model = kinds_model()
    a = fuzz(model, examples=30, steps=15, seed=4, backend="compiled", max_shrinks=30, engine=engine)
    b = fuzz(model, examples=30, steps=15, seed=4, backend="interpreter", max_shrinks=30, engine=engine)
    assert fingerprint(a) == fingerprint(b)


def test_coverage_counts_every_kind_and_action() -> None:
    model = kinds_model()
    r = fuzz(model, [model.prop("x_in_range"), model.prop("x_full")], examples=60, steps=20, seed=6)
    assert dict(r.coverage.kinds).keys() == {"work", "irq", "reset"}
    assert all(n > 0 for _, n in r.coverage.kinds), r.coverage.kinds
    assert all(n > 0 for _, n in r.coverage.actions), r.coverage.actions
    assert r.coverage.sometimes_count("x_full") > 0
    assert sum(n for _, n in r.coverage.kinds) == r.steps


def test_budget_and_timeout() -> None:
    model = kinds_model()
    r = fuzz(model, [model.prop("x_in_range")], examples=25, steps=10, seed=0)
    assert r.examples == 25 and r.run.stopped_by is None
    for engine in ENGINES:
        t = fuzz(model, [model.prop("x_in_range")], examples=10_000, steps=10, seed=0, timeout=0.0, engine=engine)
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
        fuzz(model, engine="nope")
    with pytest.raises(ValueError):
        fuzz(model, [toy_model().prop("both_done")])


# ---- pytest / unittest entry points -----------------------------------------------------


def test_make_test_fails_on_violation_and_passes_otherwise() -> None:
    failing = make_test(toy_model(), examples=30, steps=10, seed=0)
    assert failing.__name__ == "test_fuzz_toy"
    with pytest.raises(AssertionError, match="no_lost_update"):
        failing()
    make_test(toy_model(cpus=1), examples=10, steps=5, seed=0)()
    make_test(kinds_model(), examples=10, steps=5, seed=0, props=["x_in_range"], engine="hypothesis")()


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
    assert "seed 7" in out and "violated" in out and "coverage" in out and "--seed 7" in out and "cells" in out

    assert _cli(monkeypatch, ["fuzz", "toy.toml", "--examples", "20", "--steps", "10", "--seed", "7",
                              "--cpus", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    spec = doc["specs"][0]
    assert doc["format"] == 1 and spec["engine"] == "fuzz" and spec["complete"] is False
    assert spec["fuzz"]["seed"] == 7 and spec["fuzz"]["driver"] == "walk" and spec["fuzz"]["runs"] == 20
    assert set(spec["fuzz"]["coverage"]["kinds"]) == {"inc"}
    assert {r["verdict"] for r in spec["results"]} == {"unknown", "holds"}

    assert _cli(monkeypatch, ["fuzz", "toy.toml", "--examples", "5", "--steps", "1", "--seed", "0", "--no-archive",
                              "--cpus", "1", "--property", "both_done"]) == 3
    capsys.readouterr()
    assert _cli(monkeypatch, ["fuzz", "toy.toml", "--engine", "hypothesis", "--examples", "20", "--steps", "10",
                              "--seed", "7"]) == 1
    assert "--engine hypothesis" in capsys.readouterr().out
    assert _cli(monkeypatch, ["fuzz", "toy.toml", "--property", "nope"]) == 2
    assert _cli(monkeypatch, ["fuzz", "missing.toml"]) == 2
    assert _cli(monkeypatch, ["fuzz", "toy.toml", "--examples", "0"]) == 2


# ---- the kernel specs: every expected violation, within the stated budget ---------------

BUDGET = {"examples": 200_000, "steps": 10, "seed": 0}
"""The stated budget: per spec, at most 200,000 runs of at most 10 steps (two million model
steps; 30 to 90 seconds). With seed 0 the slowest of the 31 specs below needs about
260,000 steps; over seeds 0 to 9 the slowest property (luf-v11-no-wp-page's P2_strict)
needed 11,000 to 1,010,000 steps, median 236,000."""

VIOLATING_SPECS = (
    "L1-map-fixed-v11", "L1-map-fixed-v12-no-luf-flush-vma-nor-batched-pending", "L1-map-fixed-v12-no-tlb-end-vma",
    "L1-map-fixed-v12", "L2-file-write-v11", "L2-file-write-v12-no-write-begin", "L2-file-write-v12",
    "L3-two-mappings-two-threads-v12", "L3-two-mappings-v12-no-fault-end", "L3-two-mappings-v12",
    "L4-vfs-three-cpus-v12", "L5-slab-reuse-v12-no-takeoff", "L5-slab-reuse-v12", "batched",
    "luf-v11-mmap-write", "luf-v11-no-fault-mkwrite", "luf-v11-no-file-end-write", "luf-v11-no-mmap-write",
    "luf-v11-no-takeoff", "luf-v11-no-wp-page", "luf-v11", "luf-v12-dirty-check", "luf-v12-no-fault-end-mapping",
    "luf-v12-no-fault-end-mm", "luf-v12-no-mprotect-tlb-end-vma", "luf-v12-no-munmap-tlb-end-vma",
    "luf-v12-no-takeoff", "luf-v12-no-task-switch", "luf-v12-no-write-begin", "luf-v12-task-switch", "luf-v12",
)
"""The specs with a violated ``always`` property when the fuzzer was tuned (an explicit
list: specs added later are not checked here until someone states their budget).
``baseline-none`` is left out: its only "violated" entry is a ``sometimes`` property
never reached, which no fuzzer can show."""

SMALL_SPECS = (
    "L1-map-fixed-v12-no-luf-flush-vma-nor-batched-pending", "L2-file-write-v12-no-write-begin",
    "L3-two-mappings-v12-no-fault-end", "L4-vfs-three-cpus-v12", "L5-slab-reuse-v12-no-takeoff", "batched",
    "luf-v11-no-takeoff", "luf-v12", "luf-v12-no-takeoff", "luf-v12-no-write-begin",
)


def check_spec_violations(name: str) -> None:
    """Every ``always`` property the spec expects violated is violated by the fuzzer within
    ``BUDGET``; its minimised trace replays on the interpreter and is no shorter than the
    exhaustive search's shortest counterexample."""
    from lufmodel.spec import load_spec

    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    model = spec.model
    expected = {n: e for n, e in spec.expect.items() if e.verdict == VIOLATED and model.prop(n).is_always}
    assert expected, f"{name} expects no violated always property"
    props = [model.prop(n) for n in expected]
    r = fuzz(model, props, spec_name=spec.name, **BUDGET)  # type: ignore[arg-type]
    missed = [n for n in expected if r.run.result(n).verdict != VIOLATED]
    assert not missed, f"{name}: not violated within {BUDGET}: {missed}"
    for n, e in expected.items():
        res = r.run.result(n)
        assert res.trace is not None and res.depth is not None
        _, shows = replay(model, [s.instance for s in res.trace.steps], res.prop)
        assert shows, f"{name}: {n}: the minimised trace does not replay"
        assert e.depth is None or res.depth >= e.depth, f"{name}: {n}: shorter than the shortest ({res.depth})"


@pytest.mark.parametrize("name", SMALL_SPECS)
def test_small_specs_violations_are_found_within_the_budget(name: str) -> None:
    check_spec_violations(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(VIOLATING_SPECS) - set(SMALL_SPECS)))
def test_every_violating_spec_is_found_within_the_budget(name: str) -> None:
    check_spec_violations(name)
