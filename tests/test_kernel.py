"""The LUF kernel model: strict backend on every guard and effect, generated code against the
reference interpreter, pinned state counts, and every spec's expected verdicts."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import SPECS

from lufmodel.backends.codegen import compile_model
from lufmodel.commands.regress import mismatches
from lufmodel.explore import explore
from lufmodel.semantics import Interpreter, State
from lufmodel.spec import DEFAULT_SPEC, Spec, load_spec
from lufmodel.trace import replay


def sample_states(spec: Spec, count: int, seed: int) -> list[State]:
    """Reachable states: a breadth-first prefix, then random walks from it."""
    interp = Interpreter(spec.model)
    rng = random.Random(seed)
    states = [spec.model.init]
    seen = {spec.model.init}
    i = 0
    while len(states) < count // 2 and i < len(states):
        for _, succ in interp.successors(states[i]):
            if succ not in seen:
                seen.add(succ)
                states.append(succ)
        i += 1
    for _ in range(count // 20):
        s = spec.model.init
        for _ in range(60):
            succs = interp.successors(s)
            if not succs:
                break
            s = rng.choice(succs)[1]
            if s not in seen:
                seen.add(s)
                states.append(s)
    return states


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_guard_effect_event_and_property_runs_under_the_strict_backend(path: Path) -> None:
    spec = load_spec(path)
    strict = Interpreter(spec.model, strict=True)
    plain = Interpreter(spec.model)
    props = spec.model.properties
    for state in sample_states(spec, 120, seed=1):
        assert strict.broken_in_state(state, props) == plain.broken_in_state(state, props)
        assert strict.reached_in_state(state, props) == plain.reached_in_state(state, props)
        for inst in spec.model.instances:
            on = strict.enabled(state, inst)
            assert on == plain.enabled(state, inst)
            if on:
                assert strict.step(state, inst) == plain.step(state, inst)
                assert strict.broken_on_step(state, inst, props) == plain.broken_on_step(state, inst, props)
                assert strict.reached_on_step(state, inst, props) == plain.reached_on_step(state, inst, props)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_generated_code_agrees_with_the_interpreter_state_by_state(path: Path) -> None:
    spec = load_spec(path)
    model = spec.model
    props = model.properties
    compiled = compile_model(model, props)
    interp = Interpreter(model)
    for state in sample_states(spec, 200, seed=2):
        bad, hit = compiled.state_check(state)
        assert {p.name for i, p in enumerate(props) if bad >> i & 1} == {p.name for p in interp.broken_in_state(state, props)}
        assert {p.name for i, p in enumerate(props) if hit >> i & 1} == {p.name for p in interp.reached_in_state(state, props)}
        for inst, fn in zip(model.instances, compiled.steps):
            r = fn(state)
            assert (r is not None) == interp.enabled(state, inst), inst.label
            if r is None:
                continue
            succ, ebad, ehit = r
            assert succ == interp.step(state, inst), inst.label
            assert {p.name for i, p in enumerate(props) if ebad >> i & 1} == {p.name for p in interp.broken_on_step(state, inst, props)}
            assert {p.name for i, p in enumerate(props) if ehit >> i & 1} == {p.name for p in interp.reached_on_step(state, inst, props)}


PINNED_STATES = {
    "default": 42_748,
    "L5-slab-reuse-v12": 1_406,
    "L5-slab-reuse-v12-no-takeoff": 1_260,
    "L2-file-write-v12": 2_669,
    "L1-map-fixed-v12": 2_685,
    "baseline-none": 44_392,
}


@pytest.mark.parametrize("name", sorted(PINNED_STATES))
def test_pinned_distinct_state_counts(name: str) -> None:
    path = DEFAULT_SPEC if name == "default" else Path(__file__).parent.parent / "specs" / f"{name}.toml"
    spec = load_spec(path)
    run = explore(spec.model, spec.props)
    assert run.complete
    assert run.stats.states == PINNED_STATES[name]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_spec_gives_the_verdicts_it_expects(path: Path) -> None:
    spec = load_spec(path)
    assert spec.expect, f"{path.name} pins no expectations"
    run = explore(spec.model, spec.props, spec.limits)
    assert run.complete
    assert mismatches(spec, run) == []
    for r in run.results:
        if r.trace is not None:
            trace, shows = replay(spec.model, [s.instance for s in r.trace.steps], r.prop)
            assert shows, f"{r.prop.name} trace no longer shows the property"
            assert trace.depth == r.depth


def test_the_baseline_breaks_no_rule_and_no_safety_property() -> None:
    spec = load_spec(Path(__file__).parent.parent / "specs" / "baseline-none.toml")
    run = explore(spec.model, spec.props)
    assert all(r.verdict == "holds" for r in run.results if r.prop.is_always)


def test_removing_the_takeoff_flush_lets_a_stale_entry_read_slab_memory() -> None:
    spec = load_spec(Path(__file__).parent.parent / "specs" / "L5-slab-reuse-v12-no-takeoff.toml")
    run = explore(spec.model, [spec.model.prop("P1")])
    r = run.result("P1")
    assert r.verdict == "violated" and r.trace is not None
    actions = [s.instance.action.name for s in r.trace.steps]
    assert "kalloc.use" in actions and actions[-1] == "load"
    assert any("stale" in n for n in spec.model.annotate(r.trace.final))
