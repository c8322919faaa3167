"""The native explorer: generated C against the reference interpreter state by state, and
the native engine against the generated-Python engine (same states, transitions, verdicts,
depths and traces), with one and two threads."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SPECS
from test_kernel import assert_agrees_with_interpreter

from lufmodel.backends.native import load
from lufmodel.explore import explore_python
from lufmodel.explore_native import collision_probability, explore_native
from lufmodel.results import Limits, RunResult
from lufmodel.spec import DEFAULT_SPEC, load_spec

SMALL = [DEFAULT_SPEC] + [p for p in SPECS if p.stem.startswith(("L1-", "L2-", "L5-", "baseline-none"))]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_generated_c_agrees_with_the_interpreter_state_by_state(path: Path) -> None:
    spec = load_spec(path)
    native = load(spec.model, spec.model.properties)
    assert_agrees_with_interpreter(spec, lambda inst, s: native.step(inst.number, s), native.state_check, seed=3)


def _same(a: RunResult, b: RunResult) -> None:
    assert (a.stats.states, a.stats.transitions, a.stats.depth) == (b.stats.states, b.stats.transitions, b.stats.depth)
    assert (a.complete, a.stopped_by) == (b.complete, b.stopped_by)
    for x, y in zip(a.results, b.results, strict=True):
        assert (x.prop.name, x.verdict, x.depth) == (y.prop.name, y.verdict, y.depth)
        if x.trace is None:
            assert y.trace is None
            continue
        assert y.trace is not None
        assert [s.instance.number for s in x.trace.steps] == [s.instance.number for s in y.trace.steps], x.prop.name


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.stem)
def test_native_and_python_engines_agree_on_a_whole_search(path: Path) -> None:
    spec = load_spec(path)
    python = explore_python(spec.model, spec.props, spec.limits)
    for threads in (1, 2):
        _same(python, explore_native(spec.model, spec.props, spec.limits, threads=threads, parallel_min=1))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_native_and_python_engines_agree_to_depth_twelve(path: Path) -> None:
    spec = load_spec(path)
    limits = Limits(max_depth=12)
    _same(explore_python(spec.model, spec.props, limits), explore_native(spec.model, spec.props, limits, threads=2, parallel_min=1))


@pytest.mark.slow
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_native_and_python_engines_agree_on_every_spec(path: Path) -> None:
    spec = load_spec(path)
    _same(explore_python(spec.model, spec.props, spec.limits), explore_native(spec.model, spec.props, spec.limits, threads=2))


def test_the_collision_probability_is_tlcs_estimate() -> None:
    assert collision_probability(2**32) == pytest.approx(0.5)
    run = explore_native(load_spec(DEFAULT_SPEC).model)
    assert run.collision_probability == pytest.approx(run.stats.states**2 / 2**65)


def test_without_a_c_compiler_auto_falls_back_to_the_python_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lufmodel.backends import native
    from lufmodel.explore import explore

    def no_compiler() -> str:
        raise native.NativeUnavailable("no C compiler found")

    monkeypatch.setenv("LUFMODEL_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "_compiler", no_compiler)
    spec = load_spec(DEFAULT_SPEC)
    run = explore(spec.model, spec.props)
    assert run.collision_probability is None and run.complete
    with pytest.raises(native.NativeUnavailable):
        explore(spec.model, spec.props, engine="native")


SYMMETRIC = [p for p in SPECS if p.stem.startswith(("cow-private-v12", "L8-uprobes-v12", "ksm-none"))]


@pytest.mark.parametrize("path", SYMMETRIC, ids=lambda p: p.stem)
def test_frame_symmetry_keeps_verdicts_depths_and_switches(path: Path) -> None:
    spec = load_spec(path)
    assert spec.model.symmetry is not None
    plain = explore_native(spec.model, spec.props, spec.limits)
    reduced = explore_native(spec.model, spec.props, spec.limits, symmetry=True, threads=2, parallel_min=1)
    assert reduced.stats.states < plain.stats.states
    assert reduced.reduction is not None and plain.reduction is None
    for x, y in zip(plain.results, reduced.results, strict=True):
        assert (x.verdict, x.depth) == (y.verdict, y.depth), x.prop.name
        if x.trace is not None:
            assert y.trace is not None  # concretized and replayed by the interpreter
            assert y.trace.cpu_switches() == x.trace.cpu_switches()


@pytest.mark.slow
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_frame_symmetry_keeps_verdicts_on_every_spec(path: Path) -> None:
    spec = load_spec(path)
    if spec.model.symmetry is None:
        pytest.skip("fewer than 3 frames")
    plain = explore_native(spec.model, spec.props, spec.limits)
    reduced = explore_native(spec.model, spec.props, spec.limits, symmetry=True)
    for x, y in zip(plain.results, reduced.results, strict=True):
        assert (x.verdict, x.depth) == (y.verdict, y.depth), x.prop.name


def test_every_variable_family_is_classified_for_frame_symmetry() -> None:
    from lufmodel.kernel.symmetry import unclassified

    for path in SPECS + [DEFAULT_SPEC]:
        model = load_spec(path).model
        assert unclassified(v.family for v in model.variables) == [], path.name


def test_the_canonical_form_is_a_renaming_invariant() -> None:
    spec = load_spec(SYMMETRIC[0])
    native = load(spec.model, spec.props, symmetry=True)
    from test_kernel import sample_states

    sym = spec.model.symmetry
    assert sym is not None
    positions = {v.name: v.pos for v in spec.model.variables}
    dims, offsets = dict(sym.index_dims), dict(sym.value_offset)
    swap = {1: 2, 2: 1}  # frames 1 and 2 exchanged; frame 0 stays
    for state in sample_states(spec, 150, seed=5):
        renamed = [0] * len(state)
        for var in spec.model.variables:
            index = list(var.index)
            for d in dims.get(var.family, ()):
                index[d] = swap.get(index[d], index[d])
            value = state[var.pos]
            off = offsets.get(var.family)
            if off is not None and value >= off:
                value = swap.get(value - off, value - off) + off
            name = var.family + (f"[{','.join(map(str, index))}]" if index else "")
            renamed[positions[name]] = value
        assert native.canon(state) == native.canon(renamed)


LARGE = sorted((Path(__file__).resolve().parent.parent / "specs" / "large").glob("*.toml"))


@pytest.mark.slow
@pytest.mark.parametrize("path", LARGE, ids=lambda p: p.stem)
def test_the_large_all_paths_specs_give_their_expected_verdicts(path: Path) -> None:
    from lufmodel.commands.regress import mismatches

    spec = load_spec(path)
    run = explore_native(spec.model, spec.props, spec.limits, threads=2, symmetry=spec.model.symmetry is not None)
    assert run.complete
    assert mismatches(spec, run) == []
