"""The framework: validation of declared writes, the strict backend, the explorer's guarantees."""

from __future__ import annotations

import pytest
from toy import toy_model

from lufmodel import ops as O
from lufmodel.backends.codegen import compile_model
from lufmodel.builder import ModelBuilder
from lufmodel.errors import ModelDefinitionError
from lufmodel.explore import explore
from lufmodel.model import Args, Read, Write
from lufmodel.ops import Expr, Ops
from lufmodel.results import Limits
from lufmodel.semantics import Interpreter


def _builder() -> tuple[ModelBuilder, object, object]:
    b = ModelBuilder("t", 1)
    x = b.scalar("x", 0, 2)
    y = b.scalar("y", 0, 2)
    return b, x, y


def test_undeclared_write_is_rejected() -> None:
    b, x, y = _builder()
    b.action("a", path="p", step="s", params={"c": [0]}, guard=lambda ops, s, a: ops.const(True),
             effect=lambda ops, s, a, w: w.__setitem__(y, ops.const(1)), writes=["x"])
    with pytest.raises(ModelDefinitionError, match="undeclared"):
        b.build({}, lambda v, n: str(n))


def test_declared_but_never_written_is_rejected() -> None:
    b, x, y = _builder()
    b.action("a", path="p", step="s", params={"c": [0]}, guard=lambda ops, s, a: ops.const(True),
             effect=lambda ops, s, a, w: w.__setitem__(x, ops.const(1)), writes=["x", "y"])
    with pytest.raises(ModelDefinitionError, match="never assigns"):
        b.build({}, lambda v, n: str(n))


def test_strict_backend_refuses_python_branching() -> None:
    b, x, y = _builder()

    def bad_guard(ops: Ops, s: Read, a: Args) -> Expr:
        if s[x] == 0:  # the bug the strict backend exists to catch
            return ops.const(True)
        return ops.const(False)

    b.action("a", path="p", step="s", params={"c": [0]}, guard=bad_guard,
             effect=lambda ops, s, a, w: w.__setitem__(x, ops.const(1)), writes=["x"])
    model = b.build({}, lambda v, n: str(n))
    assert Interpreter(model).enabled(model.init, model.instances[0])  # plain Python hides it
    with pytest.raises(ModelDefinitionError, match="'=='"):
        Interpreter(model, strict=True).enabled(model.init, model.instances[0])


def test_strict_backend_checks_sorts() -> None:
    b, x, y = _builder()
    b.action("a", path="p", step="s", params={"c": [0]}, guard=lambda ops, s, a: ops.and_(s[x], ops.const(True)),
             effect=lambda ops, s, a, w: w.__setitem__(x, ops.const(1)), writes=["x"])
    model = b.build({}, lambda v, n: str(n))
    with pytest.raises(ModelDefinitionError, match="bool"):
        Interpreter(model, strict=True).enabled(model.init, model.instances[0])


def test_domain_violation_is_reported() -> None:
    b, x, y = _builder()
    b.action("a", path="p", step="s", params={"c": [0]}, guard=lambda ops, s, a: ops.const(True),
             effect=lambda ops, s, a, w: w.__setitem__(x, ops.add(s[x], ops.const(1))), writes=["x"])
    model = b.build({}, lambda v, n: str(n))
    interp = Interpreter(model)
    state = model.init
    for _ in range(2):
        state = interp.step(state, model.instances[0])
    with pytest.raises(ModelDefinitionError, match="outside its domain"):
        interp.step(state, model.instances[0])


def test_toy_shortest_counterexample_with_fewest_switches() -> None:
    model = toy_model()
    run = explore(model)
    r = run.result("no_lost_update")
    assert r.verdict == "violated" and r.depth == 4
    assert r.trace is not None
    # Shortest lost update: both load, then both store. Fewest switches among those: 2.
    assert r.trace.cpu_switches() == 2
    assert [s.instance.action.name for s in r.trace.steps] == ["load", "load", "store", "store"]
    assert run.result("both_done").verdict == "holds"
    assert run.stats.states == 13 and run.stopped_by == "decided" and not run.complete


def test_limits_never_claim_holds() -> None:
    model = toy_model(cpus=3, limit=3)
    props = [model.prop("both_done")]
    run = explore(model, props, Limits(max_depth=2))
    assert not run.complete and run.stopped_by == "max-depth"
    assert run.result("both_done").verdict == "unknown"
    run = explore(model, [model.prop("no_lost_update")], Limits(max_depth=3))
    assert run.result("no_lost_update").verdict == "bounded"
    assert run.result("no_lost_update").depth == 3
    assert run.exit_code == 0


def test_vacuous_sometimes_fails() -> None:
    b, x, y = _builder()
    b.action("a", path="p", step="s", params={"c": [0]}, guard=lambda ops, s, a: ops.lt(s[x], ops.const(1)),
             effect=lambda ops, s, a, w: w.__setitem__(x, ops.const(1)), writes=["x"])
    b.sometimes("y_set", "y becomes 1", lambda ops, s: ops.eq(s[y], ops.const(1)))
    model = b.build({}, lambda v, n: str(n))
    run = explore(model)
    assert run.result("y_set").verdict == "violated"
    assert "vacuous" in run.result("y_set").note
    assert run.exit_code == 1


def test_compiled_steps_match_the_interpreter_on_the_toy() -> None:
    model = toy_model(cpus=3, limit=3)
    compiled = compile_model(model, model.properties)
    interp = Interpreter(model)
    frontier = [model.init]
    seen = {model.init}
    while frontier:
        s = frontier.pop()
        for inst, fn in zip(model.instances, compiled.steps):
            r = fn(s)
            assert (r is not None) == interp.enabled(s, inst)
            if r is not None:
                assert r[0] == interp.step(s, inst)
                if r[0] not in seen:
                    seen.add(r[0])
                    frontier.append(r[0])


def test_select_out_of_range_is_the_last_option() -> None:
    from lufmodel.backends.concrete import ConcreteOps

    ops = ConcreteOps()
    assert O.select(ops, 5, [10, 20, 30]) == 30
    assert O.select(ops, 1, [10, 20, 30]) == 20


def test_stopping_once_every_property_is_decided_is_not_called_exhaustive() -> None:
    model = toy_model(cpus=3, limit=3)
    run = explore(model, [model.prop("no_lost_update")])
    assert run.result("no_lost_update").verdict == "violated"
    assert run.result("no_lost_update").depth == 4
    assert run.stopped_by == "decided" and not run.complete
    full = explore(model, model.properties)
    assert run.stats.states < full.stats.states
