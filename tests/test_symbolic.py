"""The symbolic engine (Z3): backend agreement, BMC versus explicit search, induction,
and the rule that every returned trace replays."""

from __future__ import annotations

import glob
import os
from typing import Any, Callable, Sequence

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lufmodel import ops as O
from lufmodel.backends.concrete import ConcreteOps, TupleRead
from lufmodel.builder import ModelBuilder
from lufmodel.errors import EngineMismatch, ModelDefinitionError
from lufmodel.explore import explore
from lufmodel.model import Args, Event, Model, Property, Read, Var, Write
from lufmodel.ops import Expr, Ops
from lufmodel.results import BOUNDED, HOLDS, UNKNOWN, VIOLATED, RunResult
from lufmodel.semantics import Interpreter
from lufmodel.symbolic import bmc, prove
from lufmodel.symbolic.bmc import new_solver
from lufmodel.symbolic.encode import Encoder
from lufmodel.symbolic.induction import CTI_OUTCOME, prove_all
from lufmodel.symbolic.valuesets import value_lemmas, value_sets
from lufmodel.symbolic.z3ops import safe_width
from lufmodel.trace import replay
from toy import toy_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _describe(var: Var, value: int) -> str:
    return str(value)


# ---- small models ------------------------------------------------------------------------


def deadlock_model(top: int = 3) -> Model:
    """A counter that stops at ``top``: the bad state ``x == top`` has no successor."""
    b = ModelBuilder("deadlock", 2)
    x = b.scalar("x", 0, top)
    b.action(
        "inc",
        path="p",
        step="x += 1",
        params={"c": range(2)},
        guard=lambda ops, s, a: ops.lt(s[x], ops.const(top)),
        effect=lambda ops, s, a, w: w.__setitem__(x, ops.add(s[x], ops.const(1))),
        writes=["x"],
    )
    b.always("below_top", "x never reaches top", lambda ops, s: ops.lt(s[x], ops.const(top)))
    b.sometimes("at_top", "x reaches top", lambda ops, s: ops.eq(s[x], ops.const(top)))
    return b.build({}, _describe)


def event_model() -> Model:
    """Two CPUs increment ``x`` (and toggle a Boolean); each increment emits its pre-value."""
    b = ModelBuilder("events", 2)
    x = b.scalar("x", 0, 3)
    flag = b.bools("flag", ())[()]
    last = b.array("last", (2,), 0, 3)

    def guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.lt(s[x], ops.const(3))

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[x] = ops.add(s[x], ops.const(1))
        w[flag] = ops.not_(s[flag])
        w[last[a.c]] = s[x]

    def emit(ops: Ops, s: Read, a: Args) -> Sequence[Event]:
        return [Event("inc", O.true(ops), {"x": s[x], "flag": s[flag]})]

    b.action("inc", path="p", step="x += 1", params={"c": range(2)}, guard=guard, effect=effect,
             writes=["x", "flag", "last"], emit=emit)
    b.always_on("inc_below_2", "increments start below 2", "inc",
                lambda ops, s, f: ops.lt(f["x"], ops.const(2)))
    b.sometimes_on("inc_at_1", "an increment starts at 1", "inc",
                   lambda ops, s, f: ops.and_(ops.eq(f["x"], ops.const(1)), f["flag"]))
    b.sometimes_on("inc_at_5", "never: x stays below 4", "inc",
                   lambda ops, s, f: ops.eq(f["x"], ops.const(5)))
    b.always("flag_is_parity", "flag is the parity of x",
             lambda ops, s: ops.eq(s[flag], O.is_in(ops, s[x], [1, 3])))
    return b.build({}, _describe)


def lockstep_model(top: int = 10, width: int = 20) -> Model:
    """``x`` and ``y`` step together; ``y <= top`` holds but is not k-inductive for small k."""
    b = ModelBuilder("lockstep", 1)
    x = b.scalar("x", 0, width)
    y = b.scalar("y", 0, width)

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[x] = ops.add(s[x], ops.const(1))
        w[y] = ops.add(s[y], ops.const(1))

    def guard(ops: Ops, s: Read, a: Args) -> Expr:
        # the second conjunct keeps the domains 1-inductive
        return ops.and_(ops.lt(s[x], ops.const(top)), ops.lt(s[y], ops.const(width)))

    b.action("step", path="p", step="x, y += 1", params={"c": [0]}, guard=guard, effect=effect, writes=["x", "y"])
    b.always("y_bounded", "y never exceeds top", lambda ops, s: O.le(ops, s[y], ops.const(top)))
    b.always("x_bounded", "x never exceeds top (1-inductive)", lambda ops, s: O.le(ops, s[x], ops.const(top)))
    return b.build({}, _describe)


def escaping_model(reachable: bool) -> Model:
    """``y`` follows ``x``; from unreachable states (or, if ``reachable``, really) it leaves
    its domain, so the domain alone is not inductive."""
    b = ModelBuilder("escaping", 1)
    x = b.scalar("x", 0, 3)
    y = b.scalar("y", 0, 2 if reachable else 3)

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[x] = ops.add(s[x], ops.const(1))
        w[y] = ops.add(s[y], ops.const(1))

    b.action("step", path="p", step="x, y += 1", params={"c": [0]},
             guard=lambda ops, s, a: ops.lt(s[x], ops.const(3)), effect=effect, writes=["x", "y"])
    b.always("same", "x equals y", lambda ops, s: ops.eq(s[x], s[y]))
    return b.build({}, _describe)


SMALL_MODELS: list[Callable[[], Model]] = [toy_model, deadlock_model, event_model, lockstep_model]


# ---- (a) backend agreement ---------------------------------------------------------------


def _concrete_successor(model: Model, state: tuple[int, ...], number: int) -> tuple[int, ...]:
    """The raw successor by the concrete backend (no domain check: random states may be
    unreachable and step outside the domains; the Z3 encoding does not clamp either)."""
    inst = model.instances[number]
    read = TupleRead(state)
    w = Write(read)
    inst.action.effect(ConcreteOps(), read, inst.args, w)
    new = list(state)
    for var, value in w.assigned.items():
        new[var.pos] = int(value)
    return tuple(new)


def _assert_agrees(model: Model, enc: Encoder, state: tuple[int, ...]) -> None:
    interp = Interpreter(model)
    fixed = enc.state_is(0, state)
    solver = new_solver(enc)
    solver.add(fixed, *enc.transition(0))
    for inst in model.instances:
        want = interp.enabled(state, inst)
        guard = z3.simplify(z3.substitute(enc.guard(0, inst), *_pairs(model, enc, state)))
        assert z3.is_true(guard) if want else z3.is_false(guard), f"guard of {inst.label} in {state}"
        solver.push()
        solver.add(enc.indicator(0, inst))
        result = solver.check()
        assert (result == z3.sat) == want, f"{inst.label} enabled={want} but z3 says {result} in {state}"
        if want:
            succ = enc.decode_state(solver.model(), 1)
            assert succ == _concrete_successor(model, state, inst.number), f"successor of {inst.label} in {state}"
            solver.add(z3.Not(enc.state_is(1, succ)))
            assert solver.check() == z3.unsat, f"{inst.label}: successor not determined in {state}"
            for prop in model.properties:
                if prop.event is None:
                    continue
                shown = bool(interp.broken_on_step(state, inst, [prop]) or interp.reached_on_step(state, inst, [prop]))
                term = z3.simplify(z3.substitute(enc.shows(prop, 1), *_pairs(model, enc, state),
                                                 *[(enc.indicator(0, i), z3.BoolVal(i is inst)) for i in model.instances]))
                assert z3.is_true(term) == shown, f"event property {prop.name} on {inst.label} in {state}"
        solver.pop()
    for prop in model.properties:
        if prop.event is not None:
            continue
        want_shown = bool(interp.broken_in_state(state, [prop]) or interp.reached_in_state(state, [prop]))
        term = z3.simplify(z3.substitute(enc.shows_in_state(prop, 0), *_pairs(model, enc, state)))
        assert z3.is_true(term) == want_shown, f"state property {prop.name} in {state}"


def _pairs(model: Model, enc: Encoder, state: tuple[int, ...]) -> list[tuple[Any, Any]]:
    read = enc.read(0)
    return [(read.consts[v.pos], enc.ops.literal(v, state[v.pos])) for v in model.variables]


def _states(model: Model) -> st.SearchStrategy[tuple[int, ...]]:
    return st.tuples(*[st.integers(v.lo, v.hi) for v in model.variables])


AGREEMENT = settings(max_examples=25, derandomize=True, database=None, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _encoder(model: Model, encoding: str) -> Encoder:
    return Encoder(model, None if encoding == "int" else safe_width(model.variables))


@pytest.mark.parametrize("encoding", ["int", "bv"])
@pytest.mark.parametrize("make", SMALL_MODELS, ids=lambda f: f.__name__)
def test_backend_agreement_small_models(make: Callable[[], Model], encoding: str) -> None:
    model = make()
    enc = _encoder(model, encoding)

    @AGREEMENT
    @given(_states(model))
    def check(state: tuple[int, ...]) -> None:
        _assert_agrees(model, enc, state)

    check()


SPEC_FILES = sorted(glob.glob(os.path.join(ROOT, "specs", "*.toml")))


@pytest.mark.slow
@pytest.mark.parametrize("path", SPEC_FILES or ["<none>"], ids=os.path.basename)
def test_backend_agreement_specs(path: str) -> None:
    """Random states of every spec's model: Z3 (bit-vectors, as BMC uses) agrees with the
    concrete interpreter on guards, successors and property values."""
    if path == "<none>":
        pytest.skip("no specs/*.toml yet")
    from lufmodel.spec import load_spec

    model = load_spec(path).model
    enc = _encoder(model, "bv")

    @settings(max_examples=10, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_states(model))
    def check(state: tuple[int, ...]) -> None:
        _assert_agrees(model, enc, state)

    check()


def _walk(model: Model, choices: Sequence[int]) -> tuple[int, ...]:
    """The state a run from the initial state reaches by taking, at each step, the enabled
    instance ``choice % (number enabled)`` (it stops where nothing is enabled)."""
    interp = Interpreter(model)
    state = model.init
    for choice in choices:
        succ = interp.successors(state)
        if not succ:
            break
        state = succ[choice % len(succ)][1]
    return state


def _reachable(model: Model) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.integers(0, 10_000), max_size=40).map(lambda cs: _walk(model, cs))


def _check_reachable_agreement(path: str, examples: int) -> None:
    from lufmodel.spec import load_spec

    model = load_spec(path).model
    enc = _encoder(model, "bv")

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_reachable(model))
    def check(state: tuple[int, ...]) -> None:
        _assert_agrees(model, enc, state)

    check()


def test_backend_agreement_on_reachable_states_of_L5() -> None:
    """Random reachable states (random runs) of the L5 spec, every instance: concrete and
    Z3 give the same guard, the same successor, and the same property values."""
    _check_reachable_agreement(os.path.join(ROOT, "specs", "L5-slab-reuse-v12.toml"), 8)


@pytest.mark.slow
@pytest.mark.parametrize("path", SPEC_FILES or ["<none>"], ids=os.path.basename)
def test_backend_agreement_reachable_specs(path: str) -> None:
    """The same on random reachable states of every spec."""
    if path == "<none>":
        pytest.skip("no specs/*.toml yet")
    _check_reachable_agreement(path, 8)


@pytest.mark.parametrize("encoding", ["int", "bv"])
def test_agreement_on_reachable_states_of_toy(encoding: str) -> None:
    model = toy_model()
    enc = _encoder(model, encoding)
    interp = Interpreter(model)
    seen = {model.init}
    todo = [model.init]
    while todo:
        s = todo.pop()
        _assert_agrees(model, enc, s)
        for _, t in interp.successors(s):
            if t not in seen:
                seen.add(t)
                todo.append(t)


# ---- (b) BMC agrees with explicit search -------------------------------------------------


def _assert_engines_agree(model: Model, depth: int | None = None, props: Sequence[Any] | None = None,
                          below: bool = True) -> None:
    """BMC to ``depth`` (default: the deepest shortest trace the explicit engine found)
    gives the explicit engine's verdicts, the same shortest depths and CPU switch counts,
    and "holds up to ``depth``" for the rest. With ``below``, the property shown at the
    smallest depth ``d`` is also checked to hold up to ``d - 1`` by BMC alone."""
    explicit = explore(model, props)
    assert explicit.complete or explicit.stopped_by == "decided"
    shown = [e for e in explicit.results if e.trace is not None]
    if depth is None:
        depth = max([e.depth or 0 for e in shown] + [0])
    symbolic = bmc(model, props, depth=depth)
    assert symbolic.engine == "bmc"
    for e in explicit.results:
        s = symbolic.result(e.prop.name)
        if e.verdict in (VIOLATED, HOLDS) and e.trace is not None:
            assert s.verdict == e.verdict, e.prop.name
            assert s.depth == e.depth, e.prop.name
            assert s.trace is not None and s.trace.depth == e.depth
            assert s.trace.cpu_switches() == e.trace.cpu_switches(), e.prop.name
        elif e.prop.is_always:
            assert s.verdict == BOUNDED and s.depth == depth, e.prop.name
        else:
            assert s.verdict == UNKNOWN, e.prop.name
    if below and shown:
        first = min((e for e in shown if e.depth), key=lambda e: e.depth or 0, default=None)
        if first is not None and first.depth is not None:
            earlier = bmc(model, [first.prop], depth=first.depth - 1).result(first.prop.name)
            expected = BOUNDED if first.prop.is_always else UNKNOWN
            assert earlier.verdict == expected, f"{first.prop.name} shown below depth {first.depth}"


ENGINE_AGREEMENT_SPECS = ["L5-slab-reuse-v12", "L5-slab-reuse-v12-no-takeoff"]
"""Specs (an explicit list: new specs do not join the default run by themselves) whose
explicit search takes well under a second and whose BMC to the depth of their deepest
shortest trace (16) takes about 4-5 s of CPU each (benchmarks/bmc_vs_explicit.py). Together:
a safety violation (P1 without the take-off flush), rule violations, witnesses, and safety
properties that hold. L1-map-fixed-v12 (4.6 s of CPU) and every other spec are in the slow
test below."""


@pytest.mark.parametrize("name", ENGINE_AGREEMENT_SPECS)
def test_engine_agreement_small_specs(name: str) -> None:
    from lufmodel.spec import load_spec

    spec = load_spec(os.path.join(ROOT, "specs", f"{name}.toml"))
    # "holds below the shortest depth" costs one more BMC run: checked on the first spec here,
    # on every spec in the slow test
    _assert_engines_agree(spec.model, props=spec.props, below=name == ENGINE_AGREEMENT_SPECS[0])


@pytest.mark.slow
@pytest.mark.parametrize("path", SPEC_FILES or ["<none>"], ids=os.path.basename)
def test_engine_agreement_all_specs(path: str) -> None:
    """Every spec in specs/ (all are within the explicit explorer's reach)."""
    if path == "<none>":
        pytest.skip("no specs/*.toml yet")
    from lufmodel.spec import load_spec

    spec = load_spec(path)
    _assert_engines_agree(spec.model, props=spec.props)


@pytest.mark.parametrize("make", SMALL_MODELS, ids=lambda f: f.__name__)
def test_bmc_agrees_with_explore(make: Callable[[], Model]) -> None:
    _assert_engines_agree(make(), depth=12)


def test_bmc_toy_lost_update_at_depth_4() -> None:
    run = bmc(toy_model(), depth=6)
    r = run.result("no_lost_update")
    assert r.verdict == VIOLATED and r.depth == 4
    assert r.trace is not None and r.trace.cpu_switches() == 2
    assert run.result("both_done").verdict == HOLDS
    assert run.exit_code == 1


def test_bmc_finds_violation_in_deadlock_state() -> None:
    model = deadlock_model(3)
    final = Interpreter(model).step(Interpreter(model).step(Interpreter(model).step(model.init, model.instances[0]), model.instances[0]), model.instances[0])
    assert Interpreter(model).successors(final) == []  # the bad state has no successor
    run = bmc(model, depth=3)  # exactly 3 transitions, not 4
    r = run.result("below_top")
    assert r.verdict == VIOLATED and r.depth == 3
    assert r.trace is not None and r.trace.cpu_switches() == 0
    assert run.result("at_top").verdict == HOLDS


def test_bmc_bounded_and_unknown() -> None:
    run = bmc(deadlock_model(3), depth=2)
    assert run.result("below_top").verdict == BOUNDED and run.result("below_top").depth == 2
    assert run.result("at_top").verdict == UNKNOWN
    assert run.stopped_by == "max-depth" and run.exit_code == 3


def test_bmc_event_properties() -> None:
    run = bmc(event_model(), depth=6)
    assert run.result("inc_below_2").verdict == VIOLATED and run.result("inc_below_2").depth == 3
    assert run.result("inc_at_1").verdict == HOLDS and run.result("inc_at_1").depth == 2
    assert run.result("inc_at_5").verdict == UNKNOWN
    assert run.result("flag_is_parity").verdict == BOUNDED


def test_bmc_timeout_is_unknown() -> None:
    run = bmc(lockstep_model(), depth=50, timeout=0.0)
    assert all(r.verdict == UNKNOWN for r in run.results)
    assert "timeout" in run.results[0].note


# ---- (c) induction -----------------------------------------------------------------------


def test_prove_true_invariants() -> None:
    run = prove(event_model(), max_k=3)
    assert run.engine == "induction"
    assert run.result("flag_is_parity").verdict == HOLDS
    assert "induction" in run.result("flag_is_parity").note
    assert run.result("inc_below_2").verdict == VIOLATED and run.result("inc_below_2").depth == 3
    assert run.result("inc_at_1").verdict == HOLDS
    vacuous = run.result("inc_at_5")
    assert vacuous.verdict == VIOLATED and "vacuous" in vacuous.note


def test_prove_non_inductive_is_unknown_with_cti() -> None:
    model = lockstep_model()
    run = prove(model, max_k=3, spacer=False)
    r = run.result("y_bounded")
    assert r.verdict == UNKNOWN and r.note.startswith("not proved")
    assert "CTI (k=3, possibly unreachable)" in r.note
    assert run.result("x_bounded").verdict == HOLDS and run.result("x_bounded").note == "proved by 1-induction"
    # the CTI is a replayed run from a state that is not the initial one, marked as such
    cti = r.trace
    assert cti is not None and cti.outcome == CTI_OUTCOME and cti.depth == 3
    assert cti.init != model.init
    interp = Interpreter(model)
    state = cti.init
    for st_ in cti.steps:
        assert interp.enabled(state, st_.instance)
        assert not interp.broken_in_state(state, [model.prop("y_bounded")])
        state = interp.step(state, st_.instance)
    assert interp.broken_in_state(state, [model.prop("y_bounded")])


def _lemma(name: str, pred: Callable[[Ops, Read], Expr]) -> Property:
    return Property(name, name, "always", "lemma", None, state_pred=pred)


def test_lemmas_make_a_property_inductive_and_bad_lemmas_are_dropped() -> None:
    model = lockstep_model()
    x, y = model.var("x"), model.var("y")
    same = _lemma("same", lambda ops, s: ops.eq(s[x], s[y]))
    small = _lemma("x_small", lambda ops, s: ops.lt(s[x], ops.const(5)))  # true initially, not inductive
    odd = _lemma("y_odd", lambda ops, s: ops.eq(s[y], ops.const(1)))  # false initially
    proof = prove_all(model, [model.prop("y_bounded")], max_k=1, spacer=False, lemmas=[same, small, odd])
    r = proof.run.result("y_bounded")
    assert r.verdict == HOLDS and r.note.startswith("proved by 1-induction, jointly with 1 lemmas")
    assert "same" in r.note
    fate = {lm.prop.name: lm for lm in proof.lemmas}
    assert fate["same"].kept and fate["same"].note == "inductive"
    assert not fate["x_small"].kept and fate["x_small"].note == "not inductive"
    cti = fate["x_small"].cti
    assert cti is not None and cti.outcome == CTI_OUTCOME and cti.init[x.pos] == 4
    assert not fate["y_odd"].kept and fate["y_odd"].note == "false in the initial state"
    assert proof.domains_inductive


def test_lemmas_must_be_always_state_properties() -> None:
    model = lockstep_model()
    with pytest.raises(ModelDefinitionError, match="must be an 'always' state property"):
        prove(model, lemmas=[Property("e", "e", "sometimes", "lemma", None, state_pred=lambda ops, s: ops.const(True))])
    with pytest.raises(ModelDefinitionError, match="clash"):
        prove(model, lemmas=[_lemma("y_bounded", lambda ops, s: ops.const(True))])


def test_spacer_proves_what_k_induction_cannot() -> None:
    run = prove(lockstep_model(), max_k=2, spacer=True, timeout=60)
    r = run.result("y_bounded")
    assert r.verdict == HOLDS and r.note.startswith("proved by spacer")


def test_prove_with_non_inductive_domain() -> None:
    run = prove(escaping_model(reachable=False), max_k=2, spacer=False)
    assert run.result("same").verdict == HOLDS
    # with Spacer the domains are proved invariant first, then assumed everywhere
    run = prove(escaping_model(reachable=False), max_k=2, spacer=True, timeout=60)
    assert run.result("same").note == "proved by 1-induction"
    with pytest.raises(ModelDefinitionError, match="leaves its declared domain"):
        prove(escaping_model(reachable=True), max_k=4, spacer=False)


def test_prove_toy() -> None:
    run = prove(toy_model(), max_k=5)
    assert run.result("no_lost_update").verdict == VIOLATED and run.result("no_lost_update").depth == 4
    assert run.result("both_done").verdict == HOLDS


# ---- (d) every trace replays -------------------------------------------------------------


def _assert_traces_replay(run: RunResult, model: Model) -> None:
    for r in run.results:
        if r.trace is None:
            continue
        _, shows = replay(model, [s.instance for s in r.trace.steps], r.prop)
        assert shows, r.prop.name


@pytest.mark.parametrize("make", SMALL_MODELS, ids=lambda f: f.__name__)
def test_traces_replay(make: Callable[[], Model]) -> None:
    model = make()
    _assert_traces_replay(bmc(model, depth=8), model)
    _assert_traces_replay(prove(model, max_k=4, timeout=30), model)


def test_a_wrong_trace_is_an_engine_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    model = toy_model()

    def wrong_path(self: Encoder, m: Any, depth: int) -> list[Any]:
        return [model.instances[0]] * depth  # load(c=0) repeatedly: not enabled twice

    monkeypatch.setattr(Encoder, "decode_path", wrong_path)
    with pytest.raises(EngineMismatch):
        bmc(model, depth=6)


# ---- the command line --------------------------------------------------------------------

SMALL_SPEC = os.path.join(ROOT, "specs", "L5-slab-reuse-v12.toml")


@pytest.mark.skipif(not os.path.exists(SMALL_SPEC), reason="the L5 spec is not there")
def test_cli_bmc_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    from lufmodel.cli import main

    assert main(["bmc", SMALL_SPEC, "--depth", "2", "--property", "P1"]) == 0
    assert "holds up to depth 2" in capsys.readouterr().out
    assert main(["bmc", SMALL_SPEC, "--depth", "2", "--property", "no_such_property"]) == 2
    assert main(["bmc", SMALL_SPEC, "--depth", "-1"]) == 2
    assert main(["prove", SMALL_SPEC, "--max-k", "0"]) == 2


# ---- (e) the L5 proof and the kernel lemmas -----------------------------------------------

L5 = os.path.join(ROOT, "specs", "L5-slab-reuse-v12.toml")
L5_PROVED = ("R1_refined", "R2_refined", "P0", "P1", "P2_strict", "P2_causal", "P3", "P4")


def _kernel_lemmas(path: str) -> tuple[Any, Any]:
    from lufmodel.kernel.lemmas import lemmas_for
    from lufmodel.spec import load_spec

    spec = load_spec(path)
    return spec, value_lemmas(spec.model) + lemmas_for(spec.config, spec.model)


def test_L5_safety_is_proved_for_every_depth() -> None:
    """LUF v12 with every flush point: P0-P4 and the refined rules hold in every reachable
    state, by 1-induction strengthened with the kernel lemmas (all of them kept)."""
    spec, lemmas = _kernel_lemmas(L5)
    proof = prove_all(spec.model, [spec.model.prop(n) for n in L5_PROVED], max_k=1, spacer=False, lemmas=lemmas,
                      timeout=300)
    for name in L5_PROVED:
        r = proof.run.result(name)
        assert r.verdict == HOLDS and r.note.startswith("proved by 1-induction"), (name, r.note)
    assert proof.domains_inductive
    assert [lm.prop.name for lm in proof.lemmas if not lm.kept] == []
    assert "tlb_entry_covered" in proof.run.result("P1").note


def test_L5_P1_without_lemmas_is_not_proved_and_its_cti_is_marked() -> None:
    from lufmodel.spec import load_spec

    model = load_spec(L5).model
    p1 = model.prop("P1")
    run = prove(model, [p1], max_k=1, spacer=False, search_depth=1)
    r = run.result("P1")
    assert r.verdict == UNKNOWN and "possibly unreachable" in r.note
    assert r.trace is not None and r.trace.outcome == CTI_OUTCOME and r.trace.init != model.init
    interp = Interpreter(model)
    final = r.trace.final
    assert any(p1 in interp.broken_on_step(final, i, [p1]) for i in model.instances if interp.enabled(final, i))


def test_kernel_lemmas_hold_on_every_reachable_state_of_L5() -> None:
    """The lemmas are checked by the prover; here the explicit explorer confirms them too."""
    spec, lemmas = _kernel_lemmas(L5)
    run = explore(spec.model, lemmas)
    assert run.complete
    assert [(r.prop.name, r.depth) for r in run.results if r.verdict != HOLDS] == []


@pytest.mark.slow
@pytest.mark.parametrize("path", SPEC_FILES or ["<none>"], ids=os.path.basename)
def test_kernel_lemmas_on_every_spec(path: str) -> None:
    """Lemmas are not all true for every configuration (the prover drops those that are
    not); the value sets must be, and the rest are checked against the prover: every lemma
    the prover keeps holds on every reachable state."""
    if path == "<none>":
        pytest.skip("no specs/*.toml yet")
    spec, lemmas = _kernel_lemmas(path)
    run = explore(spec.model, lemmas)
    assert run.complete
    broken = {r.prop.name for r in run.results if r.verdict != HOLDS}
    assert not {n for n in broken if n.startswith("values:")}
    proof = prove_all(spec.model, [], max_k=1, spacer=False, lemmas=lemmas, timeout=600)
    assert not {lm.prop.name for lm in proof.lemmas if lm.kept} & broken


@pytest.mark.parametrize("make", [toy_model, event_model, lockstep_model], ids=lambda f: f.__name__)
def test_value_sets_over_approximate_reachable_values(make: Callable[[], Model]) -> None:
    model = make()
    sets = value_sets(model)
    interp = Interpreter(model)
    seen = {model.init}
    todo = [model.init]
    while todo:
        s = todo.pop()
        for v in model.variables:
            assert s[v.pos] in sets[v], v.name
        for _, t in interp.successors(s):
            if t not in seen:
                seen.add(t)
                todo.append(t)


def test_value_sets_of_L5_know_which_paths_each_cpu_runs() -> None:
    from lufmodel.kernel.state import step_names
    from lufmodel.spec import load_spec

    spec = load_spec(L5)
    names = step_names(spec.config)
    sets = value_sets(spec.model)
    cpu1 = {names[x] for x in sets[spec.model.var("pc[1]")]}
    assert "user" in cpu1 and "kalloc.use" in cpu1 and not any(n.startswith("fault.") for n in cpu1)


def test_cli_prove(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from lufmodel.cli import main

    code = main(["prove", L5, "--property", "P1", "--property", "luf_deferred", "--max-k", "1", "--no-spacer"])
    out = capsys.readouterr().out
    assert code == 0
    assert "P1            PROVED for every depth (1-induction, jointly with" in out
    assert "luf_deferred  reached at depth 10 (a real trace, replayed)" in out
    # a violation, on the toy model (every spec's shortest violation is 15 steps or more)
    from lufmodel.commands.symbolic import _proof_text

    text = _proof_text(prove_all(toy_model(), max_k=2, spacer=False), list_lemmas=False)
    assert "no_lost_update  VIOLATED at depth 4 (a real trace, replayed)" in text
    assert "no_lost_update: shortest counterexample, 4 steps, 2 CPU switches (replayed)" in text
    code = main(["prove", L5, "--property", "P1", "--max-k", "1", "--no-spacer", "--no-lemmas", "--search-depth", "1"])
    out = capsys.readouterr().out
    assert code == 3
    assert "P1  NOT PROVED" in out and "POSSIBLY UNREACHABLE" in out and "start state" in out
    assert main(["prove", L5, "--property", "P1", "--max-k", "1", "--no-spacer", "--no-lemmas", "--search-depth", "1",
                 "--json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    entry = doc["specs"][0]
    assert entry["engine"] == "induction"
    result = entry["results"][0]
    assert result["verdict"] == "unknown" and result["trace"] is None
    assert result["cti"]["possibly_unreachable"] is True and result["cti"]["k"] == 1 and result["cti"]["start"]
    assert main(["prove", L5, "--search-depth", "-1"]) == 2


@pytest.mark.slow
def test_dirty_check_P1_is_proved_by_spacer_with_the_lemmas() -> None:
    """luf-v12-dirty-check (stores, write(2), mprotect, munmap): 1-induction does not close
    (docs/proofs.md), but Spacer, with transitions restricted to the kept lemmas, proves P1."""
    spec, lemmas = _kernel_lemmas(os.path.join(ROOT, "specs", "luf-v12-dirty-check.toml"))
    proof = prove_all(spec.model, [spec.model.prop("P1")], max_k=1, lemmas=lemmas, search_depth=1,
                      spacer_timeout=600, timeout=1200)
    r = proof.run.result("P1")
    assert r.verdict == HOLDS and r.note.startswith("proved by spacer"), r.note
