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
from lufmodel.model import Args, Event, Model, Read, Var, Write
from lufmodel.ops import Expr, Ops
from lufmodel.results import BOUNDED, HOLDS, UNKNOWN, VIOLATED, RunResult
from lufmodel.semantics import Interpreter
from lufmodel.symbolic import bmc, prove
from lufmodel.symbolic.bmc import new_solver
from lufmodel.symbolic.encode import Encoder
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


def _assert_engines_agree(model: Model, depth: int) -> None:
    explicit = explore(model)
    symbolic = bmc(model, depth=depth)
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
    run = prove(lockstep_model(), max_k=3, spacer=False)
    r = run.result("y_bounded")
    assert r.verdict == UNKNOWN and r.note.startswith("not proved")
    assert "CTI (k=3)" in r.note
    assert run.result("x_bounded").verdict == HOLDS and run.result("x_bounded").note == "proved by 1-induction"


def test_spacer_proves_what_k_induction_cannot() -> None:
    run = prove(lockstep_model(), max_k=2, spacer=True, timeout=60)
    r = run.result("y_bounded")
    assert r.verdict == HOLDS and r.note == "proved by spacer"


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
