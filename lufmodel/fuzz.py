"""The fuzzer: random runs of the model, for configurations too large to explore
exhaustively. A driver, not a model: every step is one of the model's instances, run by
its generated step functions (or the reference interpreter), and every trace it reports
is minimised and replayed by the reference interpreter.

Two engines share one scheduling policy (``lufmodel.schedule``: swarm over kinds and
CPUs; random, sticky, path-aware and PCT schedules) and one trace minimiser
(``lufmodel.minimise``):

* ``walk`` (the default; ``lufmodel.walk``): a seeded random walk with restarts, most
  runs continuing from an archived state an earlier run reached (cells = which instances
  are enabled). Fast, and it reuses prefixes, which the deep violations of the LUF specs
  need.
* ``hypothesis``: a hypothesis ``RuleBasedStateMachine`` *generated* from the model (one
  rule per action kind, whose argument is drawn from the instances of that kind enabled
  in the current state; one ``@invariant`` per state property; event properties checked
  on the step that emits the event; an ``@initialize`` rule that draws the run's shape).
  Its draws shrink; ``state_machine`` hands it to hypothesis directly (a pinned profile
  for CI), and ``fuzz(engine="hypothesis")`` hunts properties in rounds (below).

Rules carry no state-dependent preconditions. Hypothesis disables rules at random per
example and discards the example when no rule that is both valid and enabled remains;
with state-dependent preconditions that would throw away most runs of a model whose kinds
take turns. Instead a rule whose kind has nothing enabled (or is not allowed by the
schedule) fires an enabled instance of another kind. When no instance at all is enabled
the run has ended: the remaining steps stutter without touching the model (the
*nothing-enabled policy*). A deadlock is not a failure; the coverage counts how many runs
ended in one.

Hypothesis rounds: a round runs hypothesis until some hunted ``always`` property fails,
then lets it shrink (at most ``max_shrinks`` runs). The next round hunts the properties
still unbroken, with the examples left and a seed derived from the run's seed.

A fuzzer never proves anything: an ``always`` property that was not broken is
``unknown``; a ``sometimes`` property is ``holds`` (with a witness) when reached and
``unknown`` otherwise. The same seed gives the same run.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Callable, ClassVar, Mapping, Sequence

from hypothesis import HealthCheck, Phase, Verbosity, seed as hypothesis_seed, settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from lufmodel.minimise import CompiledReplayer, minimise
from lufmodel.model import Model, Property
from lufmodel.results import HOLDS, UNKNOWN, VIOLATED, PropertyResult, RunResult, Stats
from lufmodel.schedule import NO_CPU, SCHEDULES, Policy, RunShape, kind_of
from lufmodel.trace import confirmed
from lufmodel.walk import (
    BACKENDS,
    Backend,
    CompiledBackend,
    Discovery,
    Observations,
    WalkProgress,
    bits_of,
    make_backend,
    walk,
)

__all__ = [
    "BACKENDS", "DEFAULTS", "ENGINES", "SCHEDULES", "Coverage", "Discovery", "FuzzProgress", "FuzzResult",
    "ModelStateMachine", "PropertyViolation", "fuzz", "kind_of", "make_test", "minimise", "state_machine",
]

State = tuple[int, ...]

ENGINES = ("walk", "hypothesis")
DEFAULTS = {"walk": (20_000, 10), "hypothesis": (200, 50)}
"""Per engine: (examples, steps) when the caller gives none. A walk run is short because
most runs continue from an archived state."""


# ---- public values --------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """What a fuzz run exercised.

    ``actions`` and ``kinds`` count how often each action (by name) and each kind fired,
    every action and kind of the model listed, zeros included. ``sometimes`` counts, per
    ``sometimes`` property, the runs that reached it. ``deadlocks`` counts runs that
    reached a state with no enabled instance at all; ``starved`` those in which the swarm
    selection left nothing to fire at some point, so that a left-out kind fired.
    ``distinct_states`` counts the distinct states visited (by hash; a lower bound when
    ``states_capped``); ``cells`` the archive's cells (sets of enabled instances seen;
    walk engine only).
    """

    actions: tuple[tuple[str, int], ...]
    kinds: tuple[tuple[str, int], ...]
    sometimes: tuple[tuple[str, int], ...]
    deadlocks: int
    starved: int
    distinct_states: int
    cells: int = 0
    states_capped: bool = False

    def sometimes_count(self, name: str) -> int:
        return dict(self.sometimes)[name]


@dataclass(frozen=True)
class FuzzResult:
    """A fuzz run: the verdicts (``run``, engine ``"fuzz"``) and what the run did.

    ``examples`` runs were made while searching (at most the budget), ``shrink_examples``
    while shrinking (hypothesis only); ``steps`` model steps were taken in all, at most
    ``max_steps`` per run.
    """

    run: RunResult
    engine: str
    seed: int
    budget: int
    examples: int
    shrink_examples: int
    steps: int
    max_steps: int
    swarm: bool
    schedule: str
    rounds: int
    coverage: Coverage
    discoveries: tuple[Discovery, ...]
    archive: bool = True
    """walk: runs continued from archived states (``False``: every run from the initial state)."""

    @property
    def violated(self) -> tuple[PropertyResult, ...]:
        return tuple(r for r in self.run.results if r.verdict == VIOLATED)

    def discovery(self, name: str) -> Discovery | None:
        for d in self.discoveries:
            if d.prop == name:
                return d
        return None


@dataclass(frozen=True)
class FuzzProgress:
    examples: int
    steps: int
    seconds: float
    violated: tuple[str, ...]


FuzzProgressFn = Callable[[FuzzProgress], None]


class PropertyViolation(AssertionError):
    """Raised inside the generated state machine when an ``always`` property breaks.

    ``steps`` are the labels of the instances run, in order.
    """

    def __init__(self, prop: str, steps: Sequence[str]) -> None:
        listing = "\n".join(f"  {k + 1}. {label}" for k, label in enumerate(steps))
        super().__init__(f"{prop} violated after {len(steps)} steps:\n{listing}")
        self.prop = prop
        self.steps = tuple(steps)


class _Stop(KeyboardInterrupt):
    """Ends a fuzz run from inside hypothesis (time is up, or the example budget is spent:
    hypothesis may run a few more examples than ``max_examples``). Hypothesis lets a
    ``KeyboardInterrupt`` through at once, without recording the aborted example (any
    other exception is a failure to shrink, and a bare ``BaseException`` is recorded and
    then reported as flaky data generation)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---- the hypothesis engine: the recorder and the generated state machine ---------------


class _Recorder(Observations):
    """What the generated machines observe during one ``fuzz`` call, and the hunting
    rounds. Created per call and handed to the generated class: no module-level state."""

    def __init__(
        self,
        model: Model,
        props: Sequence[Property],
        policy: Policy,
        backend: Backend,
        budget: int | None,
        timeout: float | None,
        progress: FuzzProgressFn | None,
        max_shrinks: int | None = None,
        start: float | None = None,
    ) -> None:
        super().__init__(model, props, start)
        self.policy = policy
        self.backend = backend
        self.budget = budget
        self.deadline = None if timeout is None else self.start + timeout
        self.progress = progress
        self.last_progress = self.start
        # which properties the current round still fails on (bit mask over props)
        self.hunt_mask = 0
        self.round_failed = False
        self.round_shrinks = 0
        self.max_shrinks = max_shrinks
        self.shrink_runs = 0

    def begin_run(self) -> None:
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            raise _Stop("timeout")
        if self.round_failed:
            if self.max_shrinks is not None and self.round_shrinks >= self.max_shrinks:
                raise _Stop("shrunk")  # the recorder holds the shortest trace seen so far
            self.round_shrinks += 1
            self.shrink_runs += 1
        elif self.budget is not None and self.search_runs >= self.budget:
            raise _Stop("budget")
        elif self.budget is not None and len(self.best) == len(self.props):
            raise _Stop("done")  # every property is shown: nothing left to search for
        else:
            self.search_runs += 1
        if self.progress is not None and now - self.last_progress >= 0.5:
            self.last_progress = now
            self.progress(FuzzProgress(self.search_runs, self.steps, now - self.start, _violated_names(self)))

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Stop("timeout")

    def shown(self, index: int, trace: Sequence[int]) -> None:
        super().shown(index, trace)
        if self.props[index].is_always:
            self.round_failed = True


def _violated_names(obs: Observations) -> tuple[str, ...]:
    return tuple(obs.props[i].name for i in sorted(obs.best) if obs.props[i].is_always)


class ModelStateMachine(RuleBasedStateMachine):
    """The base of every generated machine. Subclasses get one ``fire_<kind>`` rule per
    kind and one invariant per state property (see ``_machine_class``)."""

    recorder: ClassVar[_Recorder]

    def __init__(self) -> None:
        super().__init__()
        self.recorder.begin_run()
        self.state: State = self.recorder.model.init
        self.trace: list[int] = []
        self.shape: RunShape | None = None
        self.priority: list[int] | None = None
        self.ended = False
        self.starved = False
        self._succs: dict[int, tuple[int, State, int, int]] | None = None
        self._bits: tuple[int, int] | None = None
        self._reached = 0

    # ---- helpers ----

    def _successors(self) -> dict[int, tuple[int, State, int, int]]:
        if self._succs is None:
            self._succs = {s[0]: s for s in self.recorder.backend.successors(self.state)}
        return self._succs

    def _state_bits(self) -> tuple[int, int]:
        if self._bits is None:
            self._bits = self.recorder.backend.state_bits(self.state)
        return self._bits

    def _fail(self, index: int) -> None:
        self.recorder.shown(index, self.trace)
        labels = [self.recorder.model.instances[n].label for n in self.trace]
        raise PropertyViolation(self.recorder.props[index].name, labels)

    def _reach(self, bits: int) -> None:
        new = bits & ~self._reached
        self._reached |= bits
        for index in bits_of(new):
            self.recorder.sometimes_runs[index] += 1
            self.recorder.shown(index, self.trace)

    # ---- what the generated rules and invariants call ----

    def choose_example(self, data: st.DataObject) -> None:
        """Draw what shapes this run (``Policy.shape``): the swarm selection and the
        schedule. Everything shrinks towards small numbers: every kind allowed, the first
        schedule of ``MIXED`` (random)."""
        self.shape = self.recorder.policy.shape(_drawer(data))
        self.priority = list(self.shape.priority) if self.shape.priority else None

    def fire(self, kind: int, data: st.DataObject) -> None:
        """Fire the instance the policy picks (of ``kind`` when the schedule leaves one)."""
        rec = self.recorder
        if self.ended:
            return
        rec.check_time()
        succs = self._successors()
        if not succs:
            self.ended = True
            rec.deadlocks += 1
            return
        policy = rec.policy
        shape = self.shape if self.shape is not None else policy.shape(lambda n, label: 0)
        last = policy.cpu_of[self.trace[-1]] if self.trace else NO_CPU
        number, starved = policy.choose(
            self.state, list(succs), shape, last, len(self.trace), self.priority, _drawer(data), kind_hint=kind
        )
        if starved and not self.starved:
            self.starved = True
            rec.starved += 1
        _, succ, bad, hit = succs[number]
        self.trace.append(number)
        rec.steps += 1
        rec.action_counts[number] += 1
        if len(self.trace) > rec.longest:
            rec.longest = len(self.trace)
        if hit:
            self._reach(hit)
        broken = bad & rec.hunt_mask
        if broken:
            for index in bits_of(broken):
                rec.shown(index, self.trace)
            self._fail(bits_of(broken)[0])
        self.state = succ
        self._succs = None
        self._bits = None
        rec.saw(succ)

    def check_always(self, index: int) -> None:
        bad, hit = self._state_bits()
        if hit:
            self._reach(hit)
        if bad & (1 << index) & self.recorder.hunt_mask:
            self._fail(index)

    def check_sometimes(self, index: int) -> None:
        _, hit = self._state_bits()
        if hit:
            self._reach(hit)


def _drawer(data: st.DataObject) -> Callable[[int, str], int]:
    def draw(n: int, label: str) -> int:
        return 0 if n <= 1 else data.draw(st.integers(0, n - 1), label=label)

    return draw


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text)


def _kind_rule(kind: int, name: str) -> Callable[..., None]:
    def fire(self: ModelStateMachine, data: st.DataObject) -> None:
        self.fire(kind, data)

    fire.__name__ = fire.__qualname__ = name
    return rule(data=st.data())(fire)


def _always_invariant(index: int, name: str) -> Callable[..., None]:
    def check(self: ModelStateMachine) -> None:
        self.check_always(index)

    check.__name__ = check.__qualname__ = name
    return invariant()(check)


def _sometimes_invariant(index: int, name: str) -> Callable[..., None]:
    def check(self: ModelStateMachine) -> None:
        self.check_sometimes(index)

    check.__name__ = check.__qualname__ = name
    return invariant()(check)


def _choose_example_rule() -> Callable[..., None]:
    def choose_example(self: ModelStateMachine, data: st.DataObject) -> None:
        ModelStateMachine.choose_example(self, data)

    return initialize(data=st.data())(choose_example)


def _machine_class(recorder: _Recorder) -> type[ModelStateMachine]:
    namespace: dict[str, object] = {"recorder": recorder, "shape_example": _choose_example_rule()}
    for k, kind in enumerate(recorder.policy.kinds):
        name = f"fire_{_identifier(kind)}"
        while name in namespace:
            name += "_"
        namespace[name] = _kind_rule(k, name)
    for i, prop in enumerate(recorder.props):
        if prop.event is not None:
            continue  # checked on the step that emits the event
        prefix = "always" if prop.is_always else "sometimes"
        name = f"{prefix}_{_identifier(prop.name)}"
        while name in namespace:
            name += "_"
        namespace[name] = (_always_invariant if prop.is_always else _sometimes_invariant)(i, name)
    cls_name = f"{_identifier(recorder.model.name).title().replace('_', '')}Machine"
    return type(cls_name, (ModelStateMachine,), namespace)


def _settings(examples: int, steps: int, verbosity: Verbosity = Verbosity.quiet) -> Settings:
    return Settings(
        max_examples=examples,
        stateful_step_count=steps,
        database=None,
        deadline=None,
        derandomize=False,
        phases=(Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        verbosity=verbosity,
        print_blob=False,
    )


def _round_seed(seed: int, round_number: int) -> int:
    return seed if round_number == 0 else (seed * 1_000_003 + round_number * 7_919) % (1 << 64)


def _check_props(model: Model, props: Sequence[Property] | None) -> tuple[Property, ...]:
    chosen = tuple(model.properties if props is None else props)
    for p in chosen:
        if p not in model.properties:
            raise ValueError(f"property {p.name!r} is not a property of model {model.name!r}")
    return chosen


def state_machine(
    model: Model,
    props: Sequence[Property] | None = None,
    *,
    examples: int = 100,
    steps: int = 50,
    seed: int = 0,
    swarm: bool = True,
    schedule: str = "mixed",
    backend: str = "compiled",
) -> type[ModelStateMachine]:
    """The generated state machine, for running under hypothesis directly.

    Its ``TestCase`` (a ``unittest.TestCase``) carries a pinned profile: ``seed``,
    ``database=None``, ``max_examples=examples``, ``stateful_step_count=steps``; it fails
    with ``PropertyViolation`` on the first broken ``always`` property and hypothesis
    prints the shrunk step list. Traces from this path are not replayed; ``fuzz`` replays
    every trace it returns.
    """
    chosen = _check_props(model, props)
    policy = Policy(model, swarm=swarm, schedule=schedule, max_steps=steps)
    recorder = _Recorder(model, chosen, policy, make_backend(backend, model, chosen), None, None, None)
    recorder.hunt_mask = sum(1 << i for i, p in enumerate(chosen) if p.is_always)
    machine = _machine_class(recorder)
    machine.TestCase.settings = _settings(examples, steps, Verbosity.normal)
    hypothesis_seed(seed)(machine)
    hypothesis_seed(seed)(machine.TestCase)
    return machine


# ---- the driver -----------------------------------------------------------------------


def fuzz(
    model: Model,
    props: Sequence[Property] | None = None,
    *,
    examples: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    engine: str = "walk",
    swarm: bool = True,
    schedule: str = "mixed",
    archive: bool = True,
    progress: FuzzProgressFn | None = None,
    timeout: float | None = None,
    backend: str = "compiled",
    max_shrinks: int | None = 100,
    spec_name: str = "",
) -> FuzzResult:
    """Fuzz ``model`` with up to ``examples`` runs of up to ``steps`` steps each
    (defaults: ``DEFAULTS[engine]``).

    ``engine``: ``"walk"`` (seeded random walks that continue from archived states;
    ``archive=False`` starts every run at the initial state) or ``"hypothesis"``.
    ``backend`` computes successors: ``"compiled"`` (the generated step functions the
    explorer uses) or ``"interpreter"`` (the reference interpreter; slower). Either way
    every returned trace is minimised and replayed by the reference interpreter first.
    Times (``timeout``, discoveries, the total) count from the call, compilation included.

    ``max_shrinks`` (hypothesis) caps the runs hypothesis may spend shrinking each
    violation (``None``: hypothesis decides).
    """
    start = time.monotonic()
    if engine not in ENGINES:
        raise ValueError(f"unknown fuzz engine {engine!r}; choose one of {', '.join(ENGINES)}")
    examples = DEFAULTS[engine][0] if examples is None else examples
    steps = DEFAULTS[engine][1] if steps is None else steps
    if examples < 1:
        raise ValueError(f"examples must be at least 1, not {examples}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    chosen = _check_props(model, props)
    policy = Policy(model, swarm=swarm, schedule=schedule, max_steps=steps)
    succ_backend = make_backend(backend, model, chosen)
    stopped_by: str | None = None
    rounds = 0
    if engine == "walk":
        obs = Observations(model, chosen, start)
        deadline = None if timeout is None else obs.start + timeout

        def report(p: WalkProgress) -> None:
            if progress is not None:
                progress(FuzzProgress(p.runs, p.steps, p.seconds, _violated_names(obs)))

        try:
            stopped_by = walk(model, succ_backend, policy, obs, seed=seed, runs=examples, steps=steps,
                              deadline=deadline, archive=archive, progress=report)
        except KeyboardInterrupt:
            stopped_by = "interrupted"
        rounds = 1
        shrink_runs = 0
        cells = obs.cells
    else:
        rec = _Recorder(model, chosen, policy, succ_backend, examples, timeout, progress, max_shrinks, start)
        stopped_by, rounds = _hunt(rec, seed, examples, steps)
        obs, shrink_runs, cells = rec, rec.shrink_runs, 0

    compiled = succ_backend if isinstance(succ_backend, CompiledBackend) else CompiledBackend(model, chosen)
    results = tuple(_verdict(obs, compiled, i, obs.search_runs + shrink_runs, steps) for i in range(len(chosen)))
    seconds = time.monotonic() - obs.start  # including minimisation and replay
    stats = Stats(len(obs.state_hashes), obs.steps, obs.longest, seconds)
    run = RunResult(
        spec=spec_name or model.name,
        engine="fuzz",
        complete=False,
        stats=stats,
        results=results,
        stopped_by=stopped_by,
    )
    kind_counts = [0] * len(policy.kinds)
    action_counts: dict[str, int] = {}
    for inst in model.instances:
        action_counts.setdefault(inst.action.name, 0)
        action_counts[inst.action.name] += obs.action_counts[inst.number]
        kind_counts[policy.kind_index[inst.number]] += obs.action_counts[inst.number]
    coverage = Coverage(
        actions=tuple(action_counts.items()),
        kinds=tuple(zip(policy.kinds, kind_counts)),
        sometimes=tuple((p.name, obs.sometimes_runs[i]) for i, p in enumerate(chosen) if not p.is_always),
        deadlocks=obs.deadlocks,
        starved=obs.starved,
        distinct_states=len(obs.state_hashes),
        cells=cells,
        states_capped=obs.states_capped,
    )
    return FuzzResult(
        run=run,
        engine=engine,
        seed=seed,
        budget=examples,
        examples=obs.search_runs,
        shrink_examples=shrink_runs,
        steps=obs.steps,
        max_steps=steps,
        swarm=swarm,
        schedule=schedule,
        rounds=rounds,
        coverage=coverage,
        discoveries=tuple(obs.discovered[i] for i in sorted(obs.discovered)),
        archive=archive,
    )


def _hunt(rec: _Recorder, seed: int, examples: int, steps: int) -> tuple[str | None, int]:
    """The hypothesis engine: rounds of hunting (see the module docstring)."""
    chosen = rec.props
    stopped_by: str | None = None
    rounds = 0
    while True:
        hunted = [i for i, p in enumerate(chosen) if p.is_always and i not in rec.best]
        seeking = [i for i, p in enumerate(chosen) if not p.is_always and i not in rec.best]
        left = examples - rec.search_runs
        if left <= 0 or not (hunted or seeking):
            break
        rec.hunt_mask = sum(1 << i for i in hunted)
        rec.round_failed = False
        rec.round_shrinks = 0
        machine = _machine_class(rec)
        hypothesis_seed(_round_seed(seed, rounds))(machine)
        rounds += 1
        try:
            run_state_machine_as_test(machine, settings=_settings(left, steps))  # type: ignore[no-untyped-call]
        except PropertyViolation:
            pass
        except _Stop as stop:
            if stop.reason == "timeout":
                stopped_by = "timeout"
            if stop.reason != "shrunk":
                break
        except KeyboardInterrupt:
            stopped_by = "interrupted"
            break
        if not rec.round_failed:
            break  # the budget is spent (or hypothesis exhausted the choices)
    return stopped_by, rounds


def _verdict(obs: Observations, compiled: CompiledBackend, index: int, runs: int, steps: int) -> PropertyResult:
    prop = obs.props[index]
    best = obs.best.get(index)
    if best is None:
        if prop.is_always:
            return PropertyResult(prop, UNKNOWN, None, None, f"not violated in {runs} runs × {steps} steps")
        return PropertyResult(prop, UNKNOWN, None, None, f"not reached in {runs} runs × {steps} steps")
    model = obs.model
    replayer = CompiledReplayer(model, prop, compiled.compiled, index)
    path = minimise(model, prop, [model.instances[n] for n in best], replayer=replayer)
    trace = confirmed(model, path, prop, "fuzz")
    found = obs.discovered[index]
    if prop.is_always:
        note = (
            f"found in run {found.example} after {found.seconds:.2f}s at depth {found.first_depth}; "
            f"shortest seen {len(best)} steps, minimised to {len(path)}"
        )
        return PropertyResult(prop, VIOLATED, len(path), trace, note)
    return PropertyResult(prop, HOLDS, len(path), trace, f"reached in {obs.sometimes_runs[index]} of {runs} runs")


# ---- a pytest entry point ---------------------------------------------------------------


def _load(spec: str | os.PathLike[str] | Model, overrides: Mapping[str, int] | None) -> tuple[Model, tuple[Property, ...] | None, str]:
    if isinstance(spec, Model):
        if overrides:
            raise ValueError("overrides need a spec file, not a built model")
        return spec, None, spec.name
    from lufmodel.spec import load_spec

    loaded = load_spec(os.fspath(spec), dict(overrides) if overrides else None)
    return loaded.model, tuple(loaded.props), loaded.name


def make_test(
    spec: str | os.PathLike[str] | Model,
    *,
    examples: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    engine: str = "walk",
    props: Sequence[str] | None = None,
    overrides: Mapping[str, int] | None = None,
    swarm: bool = True,
) -> Callable[[], None]:
    """A test function for pytest that fuzzes ``spec`` with a pinned profile (a fixed
    seed and budget, so the same run every time).

    ``spec`` is a spec file path (loaded with ``lufmodel.spec.load_spec``) or a built
    model. The test fails with every violated property and its replayed trace; it never
    fails because a ``sometimes`` property was not reached (a fuzz run proves nothing).
    Usage, in a test module::

        test_luf_fuzz = make_test("specs/luf-v12.toml", examples=5000, steps=20, seed=1)
    """

    def test() -> None:
        model, spec_props, name = _load(spec, overrides)
        chosen: tuple[Property, ...] | None = spec_props
        if props is not None:
            chosen = tuple(model.prop(p) for p in props)
        result = fuzz(model, chosen, examples=examples, steps=steps, seed=seed, engine=engine, swarm=swarm,
                      spec_name=name)
        if result.violated:
            lines = [f"fuzz (seed {seed}, {result.examples} runs × {result.max_steps} steps) violated:"]
            for r in result.violated:
                lines.append(f"{r.prop.name}: {r.note}")
                if r.trace is not None:
                    for k, s in enumerate(r.trace.steps):
                        lines.append(f"  {k + 1}. {s.instance.label}")
            raise AssertionError("\n".join(lines))

    label = spec.name if isinstance(spec, Model) else os.path.splitext(os.path.basename(os.fspath(spec)))[0]
    test.__name__ = test.__qualname__ = f"test_fuzz_{_identifier(label)}"
    return test
