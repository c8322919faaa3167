"""The native explorer: generated C against the reference interpreter state by state, and
the native engine against the generated-Python engine (same states, transitions, verdicts,
depths and traces), with one and two threads."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest
from conftest import SPECS
from test_kernel import assert_agrees_with_interpreter

from lufmodel.backends.native import NativeModel, load
from lufmodel.explore import explore_python
from lufmodel.explore_native import collision_probability, explore_native
from lufmodel.model import Model
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


SYMMETRIC = [p for p in SPECS if p.stem.startswith(("cow-private-v12", "L8-uprobes-v12", "ksm-none", "L5-slab-reuse-v12-two-readers"))]
CPU_SYMMETRIC = [p for p in SPECS if p.stem.startswith("L5-slab-reuse-v12-two-readers")]
BENCH_4CPU = Path(__file__).resolve().parent.parent / "benchmarks" / "specs" / "L5-slab-reuse-v12-4cpu.toml"


@pytest.mark.parametrize("path", SYMMETRIC, ids=lambda p: p.stem)
def test_symmetry_keeps_verdicts_depths_and_switches(path: Path) -> None:
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
def test_symmetry_keeps_verdicts_on_every_spec(path: Path) -> None:
    spec = load_spec(path)
    if spec.model.symmetry is None:
        pytest.skip("a single frame and no two CPUs of one role")
    plain = explore_native(spec.model, spec.props, spec.limits)
    reduced = explore_native(spec.model, spec.props, spec.limits, symmetry=True, threads=2)
    assert reduced.stats.states <= plain.stats.states
    for x, y in zip(plain.results, reduced.results, strict=True):
        assert (x.verdict, x.depth) == (y.verdict, y.depth), x.prop.name
        if x.trace is not None and y.trace is not None:
            assert x.trace.cpu_switches() == y.trace.cpu_switches(), x.prop.name


def test_every_variable_family_is_classified_for_frame_and_cpu_symmetry() -> None:
    from lufmodel.kernel.symmetry import cpu_unclassified, unclassified

    for path in SPECS + [DEFAULT_SPEC]:
        model = load_spec(path).model
        assert unclassified(v.family for v in model.variables) == [], path.name
        assert cpu_unclassified(v.family for v in model.variables) == [], path.name


@pytest.mark.parametrize("path", [SYMMETRIC[0], CPU_SYMMETRIC[0], BENCH_4CPU], ids=lambda p: p.stem)
def test_the_canonical_form_is_a_renaming_invariant(path: Path) -> None:
    import math

    from test_kernel import sample_states

    spec = load_spec(path)
    native = load(spec.model, spec.props, symmetry=True)
    sym = spec.model.symmetry
    assert sym is not None
    perms = sym.permutations()
    cpu_classes = [cls for s in sym.sorts if s.name == "CPU" for cls in s.classes]
    expected = math.factorial(spec.config.frames) * math.prod(math.factorial(len(c)) for c in cpu_classes)
    assert len(perms) == expected == native.lib.native_permutations()  # every frame, frame 0 too
    assert len(set(perms)) == len(perms) and perms[0] == tuple(tuple(range(s.items)) for s in sym.sorts)
    for state in sample_states(spec, 150, seed=5):
        rep = native.canon(state)
        assert native.canon(rep) == rep
        assert rep in {sym.rename(spec.model.variables, p, state) for p in perms}
        for perm in perms:
            assert native.canon(sym.rename(spec.model.variables, perm, state)) == rep


PINNED_REPRESENTATIVES = {
    "L5-slab-reuse-v12-two-readers": (24_190, 6_348),  # frames and CPUs 0, 2: 4 renamings
    "cow-private-v12": (19_314, 3_569),  # 3 frames: 6 renamings
    "luf-v12": (147_029, 73_919),  # 2 frames: 2 renamings
}


@pytest.mark.parametrize("name", sorted(PINNED_REPRESENTATIVES))
def test_pinned_representative_counts(name: str) -> None:
    spec = load_spec(Path(__file__).resolve().parent.parent / "specs" / f"{name}.toml")
    plain = explore_native(spec.model, spec.props, spec.limits)
    reduced = explore_native(spec.model, spec.props, spec.limits, symmetry=True)
    assert (plain.stats.states, reduced.stats.states) == PINNED_REPRESENTATIVES[name]


def test_cpus_of_one_role_are_renamed_and_others_are_not() -> None:
    sym = load_spec(CPU_SYMMETRIC[0]).model.symmetry
    assert sym is not None
    assert [(s.name, s.classes) for s in sym.sorts] == [("frame", ((0, 1),)), ("CPU", ((0, 2), (1,)))]
    assert load_spec(DEFAULT_SPEC).model.symmetry is not None  # frames only: CPU0 and CPU1 differ
    assert [s.name for s in load_spec(DEFAULT_SPEC).model.symmetry.sorts] == ["frame"]  # type: ignore[union-attr]


SYMMETRY_CHECKED = SYMMETRIC + [BENCH_4CPU] + [p for p in SPECS if p.stem in ("luf-v12", "migrate-v12", "cow-private-v12", "truncate-v12",
                                                                 "dma-v12", "writeback-v12", "ksm-v12", "L8-uprobes-v12")]


@pytest.mark.parametrize("path", SYMMETRY_CHECKED, ids=lambda p: p.stem)
def test_every_renaming_commutes_with_every_step(path: Path) -> None:
    """The symmetry is one of the model, not only of the compiled canonical form: on
    sampled reachable states, the reference interpreter's successors of a renamed state are
    the renamed successors, with the same property bits, and state properties agree."""
    from test_kernel import sample_states

    from lufmodel.semantics import Interpreter

    spec = load_spec(path)
    model, sym = spec.model, spec.model.symmetry
    if sym is None:
        pytest.skip("a single frame")
    interp = Interpreter(model)
    props = model.properties
    perms = sym.permutations()[1:]

    def moves(state: tuple[int, ...]) -> set[tuple[tuple[int, ...], tuple[str, ...], tuple[str, ...]]]:
        return {(succ, tuple(p.name for p in interp.broken_on_step(state, inst, props)),
                 tuple(p.name for p in interp.reached_on_step(state, inst, props)))
                for inst, succ in interp.successors(state)}

    def checks(state: tuple[int, ...]) -> tuple[list[str], list[str]]:
        return ([p.name for p in interp.broken_in_state(state, props)],
                [p.name for p in interp.reached_in_state(state, props)])

    for state in sample_states(spec, 60, seed=11):
        here = moves(state)
        for perm in perms:
            renamed = sym.rename(model.variables, perm, state)
            assert moves(renamed) == {(sym.rename(model.variables, perm, t), b, r) for t, b, r in here}, perm
            assert checks(renamed) == checks(state)


LARGE = sorted((Path(__file__).resolve().parent.parent / "specs" / "large").glob("*.toml"))


@pytest.mark.slow
@pytest.mark.parametrize("path", LARGE, ids=lambda p: p.stem)
def test_the_large_all_paths_specs_give_their_expected_verdicts(path: Path) -> None:
    from lufmodel.commands.regress import mismatches

    spec = load_spec(path)
    run = explore_native(spec.model, spec.props, spec.limits, threads=2, symmetry=spec.model.symmetry is not None)
    assert run.complete
    assert mismatches(spec, run) == []


def _whole_graph(native: NativeModel, model: Model, threads: int, chunk: int) -> tuple[object, ...]:
    """Every level's size, every event in order (all properties kept open), every state's
    parent and instance, the transitions and the table's size, of a search driven directly."""
    lib = native.lib
    ctx = lib.ctx_new(native.state(model.init))
    assert ctx
    st, inst, bits, parent = ctypes.c_uint32(), ctypes.c_int32(), ctypes.c_uint64(), ctypes.c_uint32()
    events: list[tuple[int, int, int]] = []
    try:
        levels, level = [1], 1
        while level:
            for lo in range(0, level, chunk):
                assert lib.ctx_expand(ctx, lo, min(level, lo + chunk), (1 << len(model.properties)) - 1, threads) == 0
                for i in range(lib.ctx_events(ctx)):
                    lib.ctx_event(ctx, i, ctypes.byref(st), ctypes.byref(inst), ctypes.byref(bits))
                    events.append((st.value, inst.value, bits.value))
                lib.ctx_clear_events(ctx)
            level = lib.ctx_advance(ctx)
            levels.append(level)
        links = [(lib.ctx_link(ctx, i, ctypes.byref(parent)), parent.value) for i in range(lib.ctx_states(ctx))]
        assert lib.ctx_link(ctx, len(links), ctypes.byref(parent)) == -2
        return levels, events, links, lib.ctx_transitions(ctx), lib.ctx_stored_bytes(ctx)
    finally:
        lib.ctx_free(ctx)


@pytest.mark.parametrize("name, chunk", [("L5-slab-reuse-v12", 3), ("L5-slab-reuse-v12", 100), ("default", 997)])
def test_the_threaded_expansion_builds_the_same_graph_and_events(name: str, chunk: int) -> None:
    """Same indices, parents, instances, events in the same order, transitions and table, with
    any thread count and chunk size (chunks smaller than the thread count's pieces too)."""
    spec = load_spec(DEFAULT_SPEC if name == "default" else Path(__file__).parent.parent / "specs" / f"{name}.toml")
    native = load(spec.model, spec.model.properties)
    one = _whole_graph(native, spec.model, 1, chunk)
    assert one[1], "no events: the comparison would not see their order"
    for threads in (2, 3, 8):
        assert _whole_graph(native, spec.model, threads, chunk) == one, threads


def test_the_sharded_table_grows_alike_with_one_and_two_threads() -> None:
    """A spec large enough for every shard of the table to double several times: the same
    run with one and two threads (tiny chunks, every level threaded), the same table size."""
    spec = load_spec(Path(__file__).parent.parent / "specs" / "dma-v12.toml")
    native = load(spec.model, spec.props)
    runs = [explore_native(spec.model, spec.props, spec.limits, threads=t, native=native, parallel_min=1, chunk=chunk)
            for t, chunk in ((1, 32768), (2, 500), (2, 32768))]
    for run in runs[1:]:
        _same(runs[0], run)
        assert run.stats.stored_bytes == runs[0].stats.stored_bytes
    states, stored = runs[0].stats.states, runs[0].stats.stored_bytes or 0
    assert states > 100_000
    table = stored - states * 6  # 4-byte parent and 2-byte instance per state
    assert states * 8 / 0.85 <= table <= states * 8 / 0.42 + 2**16  # every shard at 42-85% load
