"""The LUF kernel model: strict backend on every guard and effect, generated code against the
reference interpreter, pinned state counts, and every spec's expected verdicts."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

import pytest
from conftest import SPECS

from lufmodel.backends.codegen import compile_model
from lufmodel.commands.regress import mismatches
from lufmodel.explore import explore
from lufmodel.builder import ModelBuilder
from lufmodel.kernel.state import FAULT_GUP, Kernel, declare
from lufmodel.model import Instance
from lufmodel.semantics import Interpreter, State
from lufmodel.spec import DEFAULT_SPEC, Spec, load_spec, load_spec_text
from lufmodel.trace import replay
from lufmodel.results import PropertyResult


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


StepFn = Callable[[Instance, State], "tuple[State, int, int] | None"]


def assert_agrees_with_interpreter(spec: Spec, step: StepFn, state_check: Callable[[State], tuple[int, int]], seed: int) -> None:
    """A compiled backend's steps and property bits equal the reference interpreter's."""
    model = spec.model
    props = model.properties
    interp = Interpreter(model)
    for state in sample_states(spec, 200, seed=seed):
        bad, hit = state_check(state)
        assert {p.name for i, p in enumerate(props) if bad >> i & 1} == {p.name for p in interp.broken_in_state(state, props)}
        assert {p.name for i, p in enumerate(props) if hit >> i & 1} == {p.name for p in interp.reached_in_state(state, props)}
        for inst in model.instances:
            r = step(inst, state)
            assert (r is not None) == interp.enabled(state, inst), inst.label
            if r is None:
                continue
            succ, ebad, ehit = r
            assert succ == interp.step(state, inst), inst.label
            assert {p.name for i, p in enumerate(props) if ebad >> i & 1} == {p.name for p in interp.broken_on_step(state, inst, props)}
            assert {p.name for i, p in enumerate(props) if ehit >> i & 1} == {p.name for p in interp.reached_on_step(state, inst, props)}


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_generated_code_agrees_with_the_interpreter_state_by_state(path: Path) -> None:
    spec = load_spec(path)
    compiled = compile_model(spec.model, spec.model.properties)
    assert_agrees_with_interpreter(spec, lambda inst, s: compiled.steps[inst.number](s), compiled.state_check, seed=2)


PINNED_STATES = {
    "default": 39_342,
    "L5-slab-reuse-v12": 1_284,
    "L5-slab-reuse-v12-no-takeoff": 1_160,
    "L2-file-write-v12": 2_482,
    "L1-map-fixed-v12": 2_591,
    "baseline-none": 40_623,
    "migrate-v12": 1_071,
    "writeback-v12": 61_701,
    "dma-v12": 119_502,
    "mremap-v12": 2_119,
    "madvise-v12": 8_107,
    "madvise-concurrent-v12": 1_740,
    "truncate-v12": 1_832,
    "L6-nfs-invalidate-v12": 3_444,
    "cow-private-v12": 19_314,
    "L8-uprobes-v12": 15_150,
    "ksm-v12": 86_178,
    "luf-v12-bookkeeping-key-collision": 10_561,
    "luf-v12-bookkeeping-mm-mark": 21_994,
    "luf-v12-atomic-alloc": 2_087,
    "luf-v12-arm64": 1_795,
    "L5-slab-reuse-v12-two-readers": 24_190,
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


def test_migration_under_v12_breaks_only_the_literal_rules_and_vanilla_migration_breaks_nothing() -> None:
    specs = Path(__file__).parent.parent / "specs"
    spec = load_spec(specs / "migrate-v12.toml")
    run = explore(spec.model, spec.props)
    verdicts = {r.prop.name: r.verdict for r in run.results}
    assert verdicts["R1"] == verdicts["R2"] == "violated"
    assert all(verdicts[n] == "holds" for n in ("R1_refined", "R2_refined", "P0", "P1", "P2_strict", "P2_causal", "P3", "P4"))
    assert verdicts["luf_deferred"] == "holds"
    last = {n: run.result(n).trace.steps[-1].instance.action.name for n in ("R1", "R2")}  # type: ignore[union-attr]
    assert last == {"R1": "migrate.remap.0", "R2": "migrate.mapping"}
    for name in ("migrate-batched", "migrate-none"):
        base = load_spec(specs / f"{name}.toml")
        assert all(r.verdict == "holds" for r in explore(base.model, base.props).results if r.prop.is_always), name


def test_migration_without_the_flush_before_the_move_loses_a_store_through_a_writable_entry() -> None:
    spec = load_spec(Path(__file__).parent.parent / "specs" / "migrate-v12-no-batch-flush.toml")
    run = explore(spec.model, [spec.model.prop("P3")])
    r = run.result("P3")
    assert r.verdict == "violated" and r.trace is not None
    actions = [s.instance.action.name for s in r.trace.steps]
    assert actions.index("migrate.copy") < actions.index("migrate.mapping") < len(actions) - 1
    assert actions[-1] == "store"


# ---- writeback and DMA (kernel/writeback.py, kernel/gup.py) ----------------------------


def _spec(name: str) -> Spec:
    return load_spec(Path(__file__).parent.parent / "specs" / f"{name}.toml")


def _drive(spec: Spec, steps: list[tuple[str, dict[str, int]]]) -> tuple[State, Callable[[str], int]]:
    """Run the named instances from the initial state, each enabled when its turn comes."""
    interp = Interpreter(spec.model)
    state = spec.model.init
    for name, args in steps:
        [inst] = [i for i in spec.model.instances
                  if i.action.name == name and all(i.args.as_dict()[k] == v for k, v in args.items())]
        assert interp.enabled(state, inst), inst.label
        state = interp.step(state, inst)
    final = state
    pos = {v.name: v.pos for v in spec.model.variables}
    return final, lambda var: final[pos[var]]


WRITE_FAULT = [("fault", {"c": 0, "m": 0, "v": 0, "write": 1}), ("fault.lookup", {"c": 0}),
               ("fault.alloc", {"c": 0, "p": 0}), ("fault.takeoff", {"c": 0}), ("fault.add", {"c": 0}),
               ("fault.set_pte", {"c": 0, "m": 0}), ("fault.end", {"c": 0, "m": 0})]


def test_writeback_write_protects_flushes_and_cleans_before_the_io() -> None:
    spec = _spec("writeback-v12")
    steps = WRITE_FAULT + [("tlb_fill", {"c": 0, "m": 0, "v": 0}), ("writeback", {"c": 1, "p": 0}),
                           ("writeback.mkclean.0", {"c": 1}), ("writeback.clear", {"c": 1})]
    _, val = _drive(spec, steps)
    assert val("tlb[0,0,0]") == 0 and val("pte_w[0,0]") == 0 and val("pte_dirty[0,0]") == 0
    assert val("frame_dirty[0]") == 0 and val("frame_writeback[0]") == 1 and val("folio_lock[0]") == 0
    with pytest.raises(AssertionError):  # reclaim does not take a folio under writeback
        _drive(spec, steps + [("reclaim", {"c": 1, "p": 0})])
    _, val = _drive(spec, steps + [("writeback.io", {"c": 1})])
    assert val("frame_writeback[0]") == 0 and val("disk[0]") == val("frame_ver[0]")


def test_removing_the_mkclean_flush_loses_a_store_through_the_surviving_writable_entry() -> None:
    spec = _spec("writeback-v12-no-mkclean-flush")
    run = explore(spec.model, [spec.model.prop("P3")])
    r = run.result("P3")
    assert r.verdict == "violated" and r.trace is not None
    actions = [s.instance.action.name for s in r.trace.steps]
    assert actions.index("writeback.mkclean.0") < actions.index("writeback.clear") < len(actions) - 1
    assert actions[-1] == "store"


def test_gup_faults_the_page_in_pins_it_and_reclaim_keeps_the_pinned_folio() -> None:
    spec = _spec("dma-v12")
    steps = [("dma", {"c": 0, "m": 0, "v": 0}), ("dma.pin", {"c": 0, "m": 0})]
    _, val = _drive(spec, steps)
    [pc0] = [v for v in spec.model.variables if v.name == "pc[0]"]
    assert spec.model.describe_value(pc0, val("pc[0]")) == "fault.lookup" and val("reg_kind[0]") == FAULT_GUP
    steps += WRITE_FAULT[1:] + [("dma.pin", {"c": 0, "m": 0})]
    _, val = _drive(spec, steps)
    assert val("pin_refs[0]") == 1 and val("mmap_lock[0]") == 0 and val("pte_w[0,0]") == 1
    steps += [("reclaim", {"c": 1, "p": 0}), ("reclaim.unmap.0", {"c": 1}), ("reclaim.remove", {"c": 1})]
    _, val = _drive(spec, steps)
    assert val("slot[0]") == 1 and val("frame_state[0]") == 1  # kept in the page cache
    steps += [("dma.write", {"c": 0}), ("dma.unpin", {"c": 0})]
    _, val = _drive(spec, steps)
    assert val("ver[0]") == 1 and val("frame_ver[0]") == 1 and val("frame_dirty[0]") == 1 and val("pin_refs[0]") == 0


def test_without_the_fault_end_flush_the_device_writes_a_new_page_while_a_stale_entry_reads_the_old() -> None:
    spec = _spec("dma-v12-no-fault-end")
    run = explore(spec.model, [spec.model.prop("P2_strict")])
    r = run.result("P2_strict")
    assert r.verdict == "violated" and r.trace is not None
    actions = [s.instance.action.name for s in r.trace.steps]
    assert "dma.write" in actions and "reclaim.remove" in actions and actions[-1] == "load"


READ_FAULT = [("fault", {"c": 0, "m": 0, "v": 0, "write": 0})] + WRITE_FAULT[1:]


def test_mremap_moves_the_pte_flushes_the_old_translation_and_waits_for_a_half_done_rmap_walk() -> None:
    spec = _spec("mremap-v12")
    move = [("mremap", {"c": 0, "m": 0, "v": 0, "to": 1}), ("mremap.move", {"c": 0, "m": 0})]
    steps = READ_FAULT + [("tlb_fill", {"c": 0, "m": 0, "v": 0})] + move
    steps += [("munmap.zap", {"c": 0, "m": 0}), ("munmap.flush", {"c": 0, "m": 0})]
    _, val = _drive(spec, steps)
    assert val("pte[0,0]") == 0 and val("pte[0,1]") == 1 and val("tlb[0,0,0]") == 0
    assert val("vma[0,0]") == 0 and val("vma[0,1]") == 1 and val("mmap_lock[0]") == 0 and val("pc[0]") == 0
    # Reclaim's rmap walk holds i_mmap_rwsem throughout; move_ptes takes it (take_rmap_locks).
    walk = READ_FAULT + [("reclaim", {"c": 1, "p": 0}), ("reclaim.unmap.0", {"c": 1}), move[0]]
    with pytest.raises(AssertionError):
        _drive(spec, walk + [move[1]])
    _drive(spec, walk + [("reclaim.unmap.1", {"c": 1}), move[1]])


def test_a_dontneed_finding_the_pte_zapped_by_another_caller_returns_only_after_that_callers_flush() -> None:
    race = READ_FAULT[:-1] + [("tlb_fill", {"c": 0, "m": 0, "v": 0}), ("madvise", {"c": 1, "m": 0, "v": 0}),
                              ("madvise.zap", {"c": 1, "m": 0}), READ_FAULT[-1], ("madvise", {"c": 0, "m": 0, "v": 0}),
                              ("madvise.zap", {"c": 0, "m": 0}), ("madvise.flush", {"c": 0, "m": 0})]
    _, val = _drive(_spec("madvise-concurrent-v12"), race)  # tlb_finish_mmu sees two gathers: flush_tlb_mm
    assert val("tlb[0,0,0]") == 0 and val("dontneed_stale[0,0,0]") == 0 and val("tlb_flush_pending[0]") == 1
    spec = _spec("madvise-concurrent-v12-no-force-flush")
    _, val = _drive(spec, race)
    assert val("tlb[0,0,0]") == 1 and val("dontneed_stale[0,0,0]") == 1 and val("pte[0,0]") == 0
    run = explore(spec.model, [spec.model.prop("P4")])
    r = run.result("P4")
    assert r.verdict == "violated" and r.trace is not None
    steps = [(s.instance.action.name, s.instance.args.as_dict().get("c")) for s in r.trace.steps]
    assert steps.index(("madvise.zap", 1)) < steps.index(("madvise.zap", 0)) < steps.index(("madvise.flush", 0))
    assert ("madvise.flush", 1) not in steps and steps[-1] == ("load", 0)



def test_a_cpu_without_faults_pins_only_a_present_writable_pte() -> None:
    text = (_spec("dma-v12").text.split("[expect]")[0]
            .replace('events = ["tlb", "load", "reclaim", "writeback"]', 'events = ["tlb", "load", "dma"]'))
    spec = load_spec_text(text, "dma-no-fault-cpu.toml")
    with pytest.raises(AssertionError):  # no PTE yet: CPU1 cannot fault it in
        _drive(spec, [("dma", {"c": 1, "m": 0, "v": 0}), ("dma.pin", {"c": 1, "m": 0})])
    _, val = _drive(spec, WRITE_FAULT + [("dma", {"c": 1, "m": 0, "v": 0}), ("dma.pin", {"c": 1, "m": 0})])
    assert val("pin_refs[0]") == 1


# ---- hole punch, invalidate_inode_pages2, remote change (kernel/truncate.py, kernel/remote.py) ----


def _run_one(name: str, prop: str) -> tuple[Spec, PropertyResult]:
    spec = load_spec(Path(__file__).parent.parent / "specs" / f"{name}.toml")
    run = explore(spec.model, [spec.model.prop(prop)])
    return spec, run.result(prop)  # an early stop (a violation found) is not "holds"


def test_the_truncate_flush_is_what_saves_a_page_lufd_after_the_punchs_zap() -> None:
    spec, r = _run_one("truncate-v12-no-flush", "P2_strict")
    assert r.verdict == "violated" and r.trace is not None
    names = [s.instance.action.name for s in r.trace.steps]
    # The punch's zap (and its tlb_end_vma flush) runs before reclaim LUFs the page; the punch
    # returns (blocks freed, a new version) and the read goes through the stale entry.
    assert names.index("truncate.gather.0") < names.index("reclaim.unmap.0") < names.index("truncate.commit")
    assert names[-1] == "load" and "truncate.remove" not in names
    assert any("stale" in n for n in spec.model.annotate(r.trace.steps[-1].before))
    for name in ("truncate-v12", "truncate-v12-no-zap-tlb-end-vma"):
        assert _run_one(name, "P2_strict")[1].verdict == "holds", name


def test_the_empty_mapping_invalidate_flush_is_what_saves_l6() -> None:
    spec, r = _run_one("L6-nfs-invalidate-v12-no-empty-flush", "P2_causal")
    assert r.verdict == "violated" and r.trace is not None
    names = [s.instance.action.name for s in r.trace.steps]
    lock = r.trace.steps[names.index("filelock")]
    slot = next(v for v in spec.model.variables if v.name == "slot[0]")
    assert lock.before[slot.pos] == 0  # NFS revalidates an empty mapping: returns at once
    assert not any(n.startswith("inval.") for n in names) and names[-1] == "load"
    assert any("stale" in n for n in spec.model.annotate(r.trace.steps[-1].before))
    assert _run_one("L6-nfs-invalidate-v12", "P2_causal")[1].verdict == "holds"
    assert _run_one("L6-nfs-invalidate-none", "P2_causal")[1].verdict == "holds"


def _stale_reads_of_an_uncached_page(name: str) -> int:
    """Reads breaking P2_causal while the page cache holds no copy of the page."""
    spec = load_spec(Path(__file__).parent.parent / "specs" / f"{name}.toml")
    interp = Interpreter(spec.model)
    prop = spec.model.prop("P2_causal")
    slot = next(v for v in spec.model.variables if v.name == "slot[0]")
    seen = {spec.model.init}
    todo = [spec.model.init]
    hits = 0
    while todo:
        s = todo.pop()
        for inst, t in interp.successors(s):
            if inst.action.name == "load" and s[slot.pos] == 0 and interp.broken_on_step(s, inst, [prop]):
                hits += 1
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return hits


def test_without_invalidation_fuse_is_incoherent_without_luf_and_luf_adds_uncached_stale_reads() -> None:
    assert _run_one("L7-fuse-no-invalidate-none", "P2_causal")[1].verdict == "violated"
    assert _stale_reads_of_an_uncached_page("L7-fuse-no-invalidate-none") == 0
    assert _stale_reads_of_an_uncached_page("L7-fuse-no-invalidate-v12") > 0


def _fired_and_broken(spec: Spec, action: str, prop: str) -> tuple[int, int]:
    """Over every reachable transition: how often ``action`` fires, and how often it breaks ``prop``."""
    props = list(spec.model.properties)
    bit = 1 << [p.name for p in props].index(prop)
    compiled = compile_model(spec.model, props)
    seen = {spec.model.init}
    todo = [spec.model.init]
    fired = broken = 0
    while todo:
        s = todo.pop()
        for inst, fn in zip(spec.model.instances, compiled.steps):
            r = fn(s)
            if r is None:
                continue
            if inst.action.name == action:
                fired += 1
                broken += bool(r[1] & bit)
            if r[0] not in seen:
                seen.add(r[0])
                todo.append(r[0])
    return fired, broken


def test_cow_on_a_lufd_pte_makes_it_writable_before_the_fault_end_flush_and_that_flush_is_what_saves_p2() -> None:
    spec, r = _run_one("cow-private-v12", "R1_refined")
    assert r.verdict == "violated" and r.trace is not None
    actions = [s.instance.action.name for s in r.trace.steps]
    assert actions[-1] == "cow.set" and "cowfile.lookup" in actions  # do_cow_fault into the LUF'd none PTE
    assert _run_one("cow-private-v12", "P2_strict")[1].verdict == "holds"
    spec, r = _run_one("cow-private-v12-no-fault-end", "P2_strict")
    assert r.verdict == "violated" and r.trace is not None
    actions = [s.instance.action.name for s in r.trace.steps]
    assert actions[-1] == "load" and actions.index("cow.set") < actions.index("store")
    assert any("stale" in n for n in spec.model.annotate(r.trace.steps[-1].before))
    # R1 breaks on cow.set too: do_cow_fault installs into the LUF'd none PTE with no flush.
    fired, broken = _fired_and_broken(_spec("cow-private-v12"), "cow.set", "R1")
    assert fired and broken


def test_v12s_ptep_clear_flush_cancel_point_is_never_taken_on_the_cow_path() -> None:
    with_it, without = _spec("cow-private-v12"), _spec("cow-private-v12-no-ptep-clear-flush")
    a, b = explore(with_it.model, with_it.props), explore(without.model, without.props)
    assert a.stats.states == b.stats.states
    assert [(r.prop.name, r.verdict, r.depth) for r in a.results] == [(r.prop.name, r.verdict, r.depth) for r in b.results]


def test_uprobes_replace_never_rewrites_a_lufd_pte_with_its_walk_check_or_its_page_held() -> None:
    fired, broken = _fired_and_broken(_spec("L8-uprobes-v12"), "uprobe.replace", "R1")
    assert fired and not broken
    # No walk check, but the old page referenced and locked: reclaim keeps it and flushes at once.
    path = Path(__file__).parent.parent / "specs" / "L8-uprobes-v12.toml"
    text = path.read_text().replace("[events]", "[uprobes]\nwalk_check = false\n\n[events]")
    spec = load_spec_text(text, str(path))
    assert not spec.config.uprobe_walk_check and spec.config.uprobe_hold_page
    fired, broken = _fired_and_broken(spec, "uprobe.replace", "R1")
    assert fired and not broken
    run = explore(spec.model, [spec.model.prop("P2_strict")])
    assert run.result("P2_strict").verdict == "holds"


def test_an_unchecked_rewrite_of_a_lufd_pte_is_saved_only_by_v12s_ptep_clear_flush() -> None:
    fired, broken = _fired_and_broken(_spec("L8-uprobes-v12-no-walk-check"), "uprobe.replace", "R1")
    assert fired and not broken
    assert _run_one("L8-uprobes-v12-no-walk-check", "P2_strict")[1].verdict == "holds"
    spec, r = _run_one("L8-uprobes-v12-no-walk-check-no-ptep-clear-flush", "R1")
    assert r.verdict == "violated" and r.trace is not None
    assert r.trace.steps[-1].instance.action.name == "uprobe.replace"
    spec, r = _run_one("L8-uprobes-v12-no-walk-check-no-ptep-clear-flush", "P2_strict")
    assert r.verdict == "violated" and r.trace is not None
    actions = [s.instance.action.name for s in r.trace.steps]
    assert actions[-1] == "load" and "uprobe.replace" in actions
    assert any("stale" in n for n in spec.model.annotate(r.trace.steps[-1].before))


def test_ksm_replaces_only_present_ptes_so_it_never_breaks_r1() -> None:
    spec = _spec("ksm-v12")
    for prop in ("R1", "R1_refined", "P2_strict"):
        fired, broken = _fired_and_broken(spec, "ksm.replace", prop)
        assert fired and not broken, prop


def _spec(name: str) -> Spec:
    return load_spec(Path(__file__).parent.parent / "specs" / f"{name}.toml")


def test_ugen_before_is_the_kernels_signed_difference_on_the_models_width() -> None:
    from lufmodel.backends.concrete import ConcreteOps
    from lufmodel.kernel import ugen

    ops = ConcreteOps()
    wrap = build_model_kernel("luf-v12-bookkeeping-wrap")
    exact = build_model_kernel("luf-v12-bookkeeping")
    # 3 bits: (a - b) mod 8 read as a signed 3-bit number. 7 is before 1 (7 - 1 = 6 = -2),
    # 1 is before 5 (1 - 5 = -4), but 1 reads as after 6 (1 - 6 = -5 = 3): wrapped.
    assert ugen.before(wrap, ops, 7, 1) and ugen.before(wrap, ops, 1, 5)
    assert not ugen.before(wrap, ops, 1, 6) and ugen.before(wrap, ops, 6, 1)
    assert ugen.before(exact, ops, 1, 6) and not ugen.before(exact, ops, 6, 1)


def build_model_kernel(name: str) -> Kernel:
    cfg = _spec(name).config
    return declare(cfg, ModelBuilder(name, cfg.cpus))


def test_unbounded_ugens_settle_to_ranks_that_keep_their_order() -> None:
    from lufmodel.backends.concrete import ConcreteOps, TupleRead
    from lufmodel.kernel import ugen
    from lufmodel.model import Write

    spec = _spec("luf-v12-bookkeeping")
    k = build_model_kernel("luf-v12-bookkeeping")
    slots = ugen.slots(k)
    init = list(spec.model.init)
    values = [9, 3, 7, 0, 0, 3, 3, 5, 9]  # counter, ugen_done[2], reg_ugen[2], lb_ugen[2], mm, mapping
    assert len(values) == len(slots)
    for var, val in zip(slots, values):
        init[var.pos] = val
    w = Write(TupleRead(tuple(init)))
    ugen.settle(k, ConcreteOps(), w)
    got = [w.get(v) for v in slots]
    assert got == [4, 1, 3, 0, 0, 1, 1, 2, 4]


def test_marking_ugen_done_before_the_flush_breaks_p5_and_after_it_holds() -> None:
    good = _spec("luf-v12-bookkeeping-write")
    bad = _spec("luf-v12-bookkeeping-mark-before-flush")
    assert explore(good.model, [good.model.prop("P5")]).result("P5").verdict == "holds"
    r = explore(bad.model, [bad.model.prop("P5")]).result("P5")
    assert r.verdict == "violated" and r.trace is not None
    actions = [s.instance.action.name for s in r.trace.steps]
    # The take-off marked CPU0 done before flushing it; CPU0's write(2) then skips itself.
    assert "kalloc.takeoff" in actions and "kalloc.takeoff_end" not in actions
    assert actions[-1] == "write.flush"


def test_arch_mm_mark_ugen_marks_a_cpu_running_another_mm_done() -> None:
    spec = _spec("luf-v12-bookkeeping-mm-mark")
    r = explore(spec.model, [spec.model.prop("P5")]).result("P5")
    assert r.verdict == "violated" and r.trace is not None
    steps = r.trace.steps
    assert [s.instance.action.name for s in steps][-2:] == ["munmap.zap", "munmap.flush"]
    switched = [s for s in steps if s.instance.action.name == "switch"]
    assert len(switched) == 1  # CPU0 runs mm1 from then on: no switch-in flush could help
    fixed = _spec("luf-v12-bookkeeping-no-mm-mark")
    run = explore(fixed.model, [fixed.model.prop("P5"), fixed.model.prop("P1")])
    assert run.result("P5").verdict == "holds" and run.result("P1").verdict == "holds"


def test_arm64_luf_frees_the_page_before_the_reclaim_cpus_dsb() -> None:
    spec = _spec("luf-v12-arm64")
    r = explore(spec.model, [spec.model.prop("P6")]).result("P6")
    assert r.verdict == "violated" and r.trace is not None
    actions = [s.instance.action.name for s in r.trace.steps]
    assert actions[-1] == "kalloc.alloc" and "preempt" not in actions
    assert any("TLBI issued by CPU1, not completed" in n for n in spec.model.annotate(r.trace.final))
