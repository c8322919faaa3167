"""The fuzzer: hypothesis stateful testing driven by the model, for configurations too
large to explore exhaustively.

The fuzzer is a driver, not a model. ``fuzz`` *generates* a hypothesis
``RuleBasedStateMachine`` from a ``Model``:

* one rule per action kind (``Action.kind``, or the action name when the kind is empty),
  whose argument is drawn (``st.data()``) from the instances of that kind enabled in the
  current state;
* one ``@invariant`` per state property; event properties are checked on the step that
  emits the event;
* swarm testing: an ``@initialize`` rule draws, per example, the subset of kinds allowed
  to fire (drawn by hypothesis, so it shrinks towards "every kind allowed"). The subset
  is a strong preference, not a wall: when only kinds outside it are enabled, they fire.

Rules carry no state-dependent preconditions. Hypothesis disables rules at random per
example (its own swarm testing) and discards the example when no rule that is both valid
and enabled remains; with state-dependent preconditions that would throw away most runs
of a model whose kinds take turns. Instead a rule whose kind has nothing enabled (or is
not allowed in this example) fires an enabled instance of another kind, the kind drawn
uniformly among the allowed kinds with something enabled, then the instance. When no
instance at all is enabled the run has ended: the remaining steps stutter without
touching the model (the *nothing-enabled policy*). A deadlock is not a failure; the
coverage counts how many examples ended in one.

Properties are hunted in rounds. A round runs hypothesis until some hunted ``always``
property fails, then lets it shrink. Every failing run (found or shrunk) is recorded, and
the shortest trace seen for each property is replayed through the reference interpreter
(``trace.confirmed``) and reported. The next round hunts the properties still unbroken,
with the examples left in the budget and a seed derived from the run's seed. So
``examples`` is the total number of examples run while searching; runs made while
shrinking are counted separately.

Scheduling: per example the fuzzer lets the rules pick (``random``), runs a PCT-style
scheduler (drawn CPU priorities with a few change points), or stays on one CPU and
switches with a drawn probability (``sticky``); see ``ModelStateMachine.choose_example``.
The last two keep one CPU parked inside a path while another runs a whole path, which
uniform choice almost never does. ``schedule="mixed"`` (the default) draws one per
example.

Hypothesis shrinks on the choices behind a trace, which often stops early for these
models; at most ``max_shrinks`` runs are spent on it per violation, and the shortest
trace seen is then minimised on the model itself (``minimise``: cut, delete runs of steps,
delete one CPU's path, delete pairs, reduce CPU switches) before it is replayed.

A fuzzer never proves anything: an ``always`` property that was not broken is
``unknown``; a ``sometimes`` property is ``holds`` (with a witness) when reached and
``unknown`` otherwise. The same seed gives the same run.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Mapping, Sequence

from hypothesis import HealthCheck, Phase, Verbosity, seed as hypothesis_seed, settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from lufmodel.backends.codegen import compile_model
from lufmodel.model import Instance, Model, Property
from lufmodel.results import HOLDS, UNKNOWN, VIOLATED, PropertyResult, RunResult, Stats
from lufmodel.semantics import Interpreter
from lufmodel.trace import confirmed, count_switches

State = tuple[int, ...]

BACKENDS = ("compiled", "interpreter")


# ---- public values --------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """What a fuzz run exercised.

    ``actions`` and ``kinds`` count how often each action (by name) and each kind fired,
    every action and kind of the model listed, zeros included. ``sometimes`` counts, per
    ``sometimes`` property, the examples that reached it. ``deadlocks`` counts examples
    that reached a state with no enabled instance at all; ``starved`` those in which the
    swarm selection left nothing to fire at some point, so that a kind outside it fired.
    ``distinct_states`` counts the distinct states visited (by hash).
    """

    actions: tuple[tuple[str, int], ...]
    kinds: tuple[tuple[str, int], ...]
    sometimes: tuple[tuple[str, int], ...]
    deadlocks: int
    starved: int
    distinct_states: int

    def action_count(self, name: str) -> int:
        return dict(self.actions)[name]

    def kind_count(self, kind: str) -> int:
        return dict(self.kinds)[kind]

    def sometimes_count(self, name: str) -> int:
        return dict(self.sometimes)[name]


@dataclass(frozen=True)
class Discovery:
    """When a property was first shown: the example (1-based, counting search runs),
    the seconds since the start, and the length of the run that first showed it."""

    prop: str
    example: int
    seconds: float
    first_depth: int


@dataclass(frozen=True)
class FuzzResult:
    """A fuzz run: the verdicts (``run``, engine ``"fuzz"``) and what the run did.

    ``examples`` were run while searching (at most the budget), ``shrink_examples`` while
    shrinking; ``steps`` model steps were taken in all, at most ``max_steps`` per
    example.
    """

    run: RunResult
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


# ---- backends: the successors of a state, with property bits --------------------------

# (instance number, successor, event-invariant bits broken, sometimes-event bits reached)
_Succ = tuple[int, State, int, int]


class _Backend:
    """Successors and state-property bits, over the properties ``props`` (bit i = props[i])."""

    def successors(self, state: State) -> list[_Succ]:
        raise NotImplementedError

    def state_bits(self, state: State) -> tuple[int, int]:
        """(always state properties broken, sometimes state properties reached)."""
        raise NotImplementedError


class _CompiledBackend(_Backend):
    def __init__(self, model: Model, props: Sequence[Property]) -> None:
        compiled = compile_model(model, props)
        self._steps = compiled.steps
        self._check = compiled.state_check

    def successors(self, state: State) -> list[_Succ]:
        out: list[_Succ] = []
        for number, fn in enumerate(self._steps):
            r = fn(state)
            if r is not None:
                out.append((number, r[0], r[1], r[2]))
        return out

    def state_bits(self, state: State) -> tuple[int, int]:
        return self._check(state)


class _InterpreterBackend(_Backend):
    def __init__(self, model: Model, props: Sequence[Property]) -> None:
        self._model = model
        self._props = tuple(props)
        self._interp = Interpreter(model)
        self._bit = {p.name: 1 << i for i, p in enumerate(self._props)}

    def _mask(self, props: Sequence[Property]) -> int:
        bits = 0
        for p in props:
            bits |= self._bit[p.name]
        return bits

    def successors(self, state: State) -> list[_Succ]:
        interp, props = self._interp, self._props
        out: list[_Succ] = []
        for inst in self._model.instances:
            if not interp.enabled(state, inst):
                continue
            succ = interp.step(state, inst)
            bad = self._mask(interp.broken_on_step(state, inst, props))
            hit = self._mask(interp.reached_on_step(state, inst, props))
            out.append((inst.number, succ, bad, hit))
        return out

    def state_bits(self, state: State) -> tuple[int, int]:
        return (
            self._mask(self._interp.broken_in_state(state, self._props)),
            self._mask(self._interp.reached_in_state(state, self._props)),
        )


def _backend(name: str, model: Model, props: Sequence[Property]) -> _Backend:
    if name == "compiled":
        return _CompiledBackend(model, props)
    if name == "interpreter":
        return _InterpreterBackend(model, props)
    raise ValueError(f"unknown fuzz backend {name!r}; choose one of {', '.join(BACKENDS)}")


# ---- the plan (immutable, per fuzz call) and the recorder (mutable, per fuzz call) -----


def kind_of(inst: Instance) -> str:
    """The kind a rule of the generated machine stands for: the action's kind, or its name."""
    return inst.action.kind or inst.action.name


@dataclass(frozen=True)
class _Plan:
    model: Model
    props: tuple[Property, ...]
    backend: _Backend = field(compare=False)
    kinds: tuple[str, ...]
    kind_index: tuple[int, ...]
    """kind_index[instance number] = index into ``kinds``."""
    swarm: bool
    units: tuple[str, ...]
    """What swarm testing switches on and off per example (action names or kinds)."""
    unit_index: tuple[int, ...]
    """unit_index[instance number] = index into ``units``."""
    cpu_of: tuple[int, ...]
    """cpu_of[instance number] = the instance's CPU, or -1."""
    schedule: str
    max_steps: int


SCHEDULES = ("mixed", "random", "pct", "sticky")


def _plan(
    model: Model,
    props: Sequence[Property],
    backend: str,
    swarm: bool,
    schedule: str,
    max_steps: int,
    swarm_unit: str = "kind",
) -> _Plan:
    """``swarm_unit`` is what swarm testing switches: ``kind`` (measured better on the LUF
    specs: luf-v11-no-file-end-write R1/R2 found by all 3 seeds within 400 examples,
    against 0 of 3 per action) or ``action``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    kinds: list[str] = []
    actions: list[str] = []
    for inst in model.instances:
        k = kind_of(inst)
        if k not in kinds:
            kinds.append(k)
        if inst.action.name not in actions:
            actions.append(inst.action.name)
    index = {k: i for i, k in enumerate(kinds)}
    if swarm_unit == "action":
        units = actions
        unit_index = tuple(actions.index(inst.action.name) for inst in model.instances)
    else:
        units = kinds
        unit_index = tuple(index[kind_of(inst)] for inst in model.instances)
    return _Plan(
        model=model,
        props=tuple(props),
        backend=_backend(backend, model, props),
        kinds=tuple(kinds),
        kind_index=tuple(index[kind_of(inst)] for inst in model.instances),
        swarm=swarm,
        units=tuple(units),
        unit_index=unit_index,
        cpu_of=tuple(-1 if inst.cpu is None else inst.cpu for inst in model.instances),
        schedule=schedule,
        max_steps=max_steps,
    )


class _Recorder:
    """Everything the generated machines observe during one ``fuzz`` call.

    Created per call and handed to the generated class: no module-level state.
    """

    def __init__(
        self,
        plan: _Plan,
        budget: int | None,
        timeout: float | None,
        progress: FuzzProgressFn | None,
        max_shrinks: int | None = None,
    ) -> None:
        self.plan = plan
        self.budget = budget
        self.start = time.monotonic()
        self.deadline = None if timeout is None else self.start + timeout
        self.progress = progress
        self.last_progress = self.start
        # which properties the current round still fails on (bit mask over plan.props)
        self.hunt_mask = 0
        self.round_failed = False
        self.round_shrinks = 0
        self.max_shrinks = max_shrinks
        self.search_runs = 0
        self.shrink_runs = 0
        self.steps = 0
        self.longest = 0
        self.action_counts = [0] * len(plan.model.instances)
        self.sometimes_runs = [0] * len(plan.props)
        self.deadlocks = 0
        self.starved = 0
        self.state_hashes: set[int] = {hash(plan.model.init)}
        # property index -> shortest instance sequence seen (violation or witness)
        self.best: dict[int, tuple[int, ...]] = {}
        self.discovered: dict[int, Discovery] = {}

    # ---- runs ----

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
        elif self.budget is not None and len(self.best) == len(self.plan.props):
            raise _Stop("done")  # every property is shown: nothing left to search for
        else:
            self.search_runs += 1
        if self.progress is not None and now - self.last_progress >= 0.5:
            self.last_progress = now
            violated = tuple(self.plan.props[i].name for i in sorted(self.best) if self.plan.props[i].is_always)
            self.progress(FuzzProgress(self.search_runs, self.steps, now - self.start, violated))

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Stop("timeout")

    # ---- observations ----

    def shown(self, index: int, trace: Sequence[int]) -> None:
        """Property ``index`` was broken (always) or reached (sometimes) by ``trace``."""
        run = tuple(trace)
        if index not in self.discovered:
            self.discovered[index] = Discovery(
                self.plan.props[index].name, self.search_runs, time.monotonic() - self.start, len(run)
            )
        old = self.best.get(index)
        if old is None or _shorter(self.plan.model, run, old):
            self.best[index] = run
        if self.plan.props[index].is_always:
            self.round_failed = True


def _shorter(model: Model, new: tuple[int, ...], old: tuple[int, ...]) -> bool:
    """Fewer steps, then fewer CPU switches, then the smaller instance numbers."""

    def key(t: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
        return len(t), count_switches([model.instances[n] for n in t]), t

    return key(new) < key(old)


# ---- the generated state machine ------------------------------------------------------


class ModelStateMachine(RuleBasedStateMachine):
    """The base of every generated machine. Subclasses get one ``fire_<kind>`` rule per
    kind and one invariant per state property (see ``_machine_class``)."""

    plan: ClassVar[_Plan]
    recorder: ClassVar[_Recorder]

    def __init__(self) -> None:
        super().__init__()
        self.recorder.begin_run()
        self.state: State = self.plan.model.init
        self.trace: list[int] = []
        self.allowed: tuple[bool, ...] = (True,) * len(self.plan.units)
        self.ended = False
        self.starved = False
        self.priority: list[int] | None = None  # PCT: per-CPU priority, higher runs first
        self.change_points: tuple[int, ...] = ()
        self.switch_threshold: int | None = None  # sticky: switch CPU when a draw < this (of 256)
        self._succs: list[_Succ] | None = None
        self._bits: tuple[int, int] | None = None
        self._reached = 0

    # ---- helpers ----

    def _successors(self) -> list[_Succ]:
        if self._succs is None:
            self._succs = self.plan.backend.successors(self.state)
        return self._succs

    def _state_bits(self) -> tuple[int, int]:
        if self._bits is None:
            self._bits = self.plan.backend.state_bits(self.state)
        return self._bits

    def _fail(self, index: int) -> None:
        self.recorder.shown(index, self.trace)
        labels = [self.plan.model.instances[n].label for n in self.trace]
        raise PropertyViolation(self.plan.props[index].name, labels)

    def _reach(self, bits: int) -> None:
        new = bits & ~self._reached
        self._reached |= bits
        while new:
            low = new & -new
            index = low.bit_length() - 1
            new ^= low
            self.recorder.sometimes_runs[index] += 1
            self.recorder.shown(index, self.trace)

    # ---- what the generated rules and invariants call ----

    def choose_example(self, data: st.DataObject) -> None:
        """Draw what shapes this example: the swarm selection and the scheduler.

        Swarm testing: each kind is switched off with a probability drawn per example
        (everything shrinks towards "allowed"; if every kind is off, all are allowed).

        Scheduling: ``random`` lets the rules pick; ``pct`` (probabilistic concurrency
        testing) gives each CPU a drawn priority and up to three drawn change points at
        which the CPU that just ran drops to the lowest priority; each step then runs
        on the highest-priority CPU with something enabled (CPU-less instances are always
        eligible). PCT keeps a CPU parked inside a path while another CPU runs a whole
        path, which uniform choice almost never does. ``sticky`` stays on the CPU of the
        last step and switches with a probability drawn per example (few switches).
        ``mixed`` draws one of the three per example.
        """
        plan = self.plan
        units = plan.units
        if plan.swarm and len(units) >= 2:
            level = data.draw(st.integers(0, 255), label="swarm level")
            off = tuple(data.draw(st.integers(0, 255), label=f"swarm {u}") < level for u in units)
            if not all(off):
                self.allowed = tuple(not o for o in off)
        cpus = plan.model.cpus
        schedule = plan.schedule
        if cpus < 2 or schedule == "random":
            return
        if schedule == "mixed":
            schedule = ("random", "pct", "sticky")[data.draw(st.integers(0, 2), label="schedule")]
        if schedule == "sticky":
            self.switch_threshold = data.draw(st.integers(1, 128), label="switch threshold")
        elif schedule == "pct":
            self.priority = [data.draw(st.integers(0, 255), label=f"priority of CPU{c}") * cpus + c for c in range(cpus)]
            changes = data.draw(st.integers(0, 3), label="change points")
            self.change_points = tuple(
                data.draw(st.integers(1, plan.max_steps), label="change point") for _ in range(changes)
            )

    def fire(self, kind: int, data: st.DataObject) -> None:
        """Fire an enabled instance of ``kind`` (another allowed kind if it has none)."""
        rec = self.recorder
        if self.ended:
            return
        rec.check_time()
        succs = self._successors()
        kind_index, unit_index, allowed = self.plan.kind_index, self.plan.unit_index, self.allowed
        if not succs:
            self.ended = True
            rec.deadlocks += 1
            return
        pool = [s for s in succs if allowed[unit_index[s[0]]]]
        if not pool:
            # The swarm selection is a preference: when only disallowed kinds are
            # enabled, they fire (ending the run here would waste most examples of a
            # model whose CPUs each run a few kinds).
            pool = succs
            if not self.starved:
                self.starved = True
                rec.starved += 1
        if self.priority is not None:
            pool = self._scheduled(pool)
        elif self.switch_threshold is not None and self.trace:
            pool = self._sticky(pool, data, self.switch_threshold)
        own = [s for s in pool if kind_index[s[0]] == kind]
        if not own:
            # Fall back to another kind, drawn uniformly among the kinds with something
            # enabled (not among instances, which would favour kinds with many).
            kinds = sorted({kind_index[s[0]] for s in pool})
            other = kinds[0] if len(kinds) == 1 else kinds[data.draw(st.integers(0, len(kinds) - 1), label="kind")]
            own = [s for s in pool if kind_index[s[0]] == other]
        pick = own[0] if len(own) == 1 else own[data.draw(st.integers(0, len(own) - 1), label="instance")]
        number, succ, bad, hit = pick
        self.trace.append(number)
        rec.steps += 1
        rec.action_counts[number] += 1
        if len(self.trace) > rec.longest:
            rec.longest = len(self.trace)
        if hit:
            self._reach(hit)
        broken = bad & rec.hunt_mask
        if broken:
            rest = broken
            while rest:
                low = rest & -rest
                rest ^= low
                rec.shown(low.bit_length() - 1, self.trace)
            self._fail((broken & -broken).bit_length() - 1)
        self.state = succ
        self._succs = None
        self._bits = None
        rec.state_hashes.add(hash(succ))

    def _scheduled(self, pool: list[_Succ]) -> list[_Succ]:
        """PCT: the instances of the highest-priority CPU in ``pool``, and CPU-less ones."""
        priority = self.priority
        assert priority is not None
        cpu_of = self.plan.cpu_of
        step = len(self.trace)
        if step in self.change_points and self.trace:
            last = cpu_of[self.trace[-1]]
            if last >= 0:
                priority[last] = min(priority) - 1
        cpus = {cpu_of[s[0]] for s in pool if cpu_of[s[0]] >= 0}
        if not cpus:
            return pool
        top = max(cpus, key=lambda c: priority[c])
        return [s for s in pool if cpu_of[s[0]] in (top, -1)]

    def _sticky(self, pool: list[_Succ], data: st.DataObject, threshold: int) -> list[_Succ]:
        """Sticky: stay on the CPU of the last step unless a drawn switch happens (with
        probability ``threshold``/256) or it has nothing enabled; CPU-less instances are
        always eligible."""
        cpu_of = self.plan.cpu_of
        last = cpu_of[self.trace[-1]]
        if last < 0:
            return pool
        same = [s for s in pool if cpu_of[s[0]] in (last, -1)]
        other = [s for s in pool if cpu_of[s[0]] != last]
        if not same or not other:
            return pool
        switch = data.draw(st.integers(0, 255), label="switch CPU") < threshold
        return other if switch else same

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


def _machine_class(plan: _Plan, recorder: _Recorder) -> type[ModelStateMachine]:
    namespace: dict[str, object] = {"plan": plan, "recorder": recorder, "shape_example": _choose_example_rule()}
    for k, kind in enumerate(plan.kinds):
        name = f"fire_{_identifier(kind)}"
        while name in namespace:
            name += "_"
        namespace[name] = _kind_rule(k, name)
    for i, prop in enumerate(plan.props):
        if prop.event is not None:
            continue  # checked on the step that emits the event
        prefix = "always" if prop.is_always else "sometimes"
        name = f"{prefix}_{_identifier(prop.name)}"
        while name in namespace:
            name += "_"
        namespace[name] = (_always_invariant if prop.is_always else _sometimes_invariant)(i, name)
    cls_name = f"{_identifier(plan.model.name).title().replace('_', '')}Machine"
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
    plan = _plan(model, chosen, backend, swarm, schedule, steps)
    recorder = _Recorder(plan, None, None, None)
    recorder.hunt_mask = sum(1 << i for i, p in enumerate(chosen) if p.is_always)
    machine = _machine_class(plan, recorder)
    machine.TestCase.settings = _settings(examples, steps, Verbosity.normal)
    hypothesis_seed(seed)(machine)
    hypothesis_seed(seed)(machine.TestCase)
    return machine


# ---- the driver -----------------------------------------------------------------------


def fuzz(
    model: Model,
    props: Sequence[Property] | None = None,
    *,
    examples: int = 200,
    steps: int = 50,
    seed: int = 0,
    swarm: bool = True,
    schedule: str = "mixed",
    progress: FuzzProgressFn | None = None,
    timeout: float | None = None,
    backend: str = "compiled",
    max_shrinks: int | None = 100,
    spec_name: str = "",
) -> FuzzResult:
    """Fuzz ``model`` with up to ``examples`` runs of up to ``steps`` steps each.

    ``backend`` computes successors: ``"compiled"`` (the generated step functions the
    explorer uses) or ``"interpreter"`` (the reference interpreter; slower). Either way
    every returned trace is replayed by the reference interpreter first.

    ``max_shrinks`` caps the runs hypothesis may spend shrinking each violation (``None``:
    hypothesis decides); the shortest trace seen is then minimised at the model level
    (``minimise``), which is cheaper and usually better than shrinking choices.
    """
    if examples < 1:
        raise ValueError(f"examples must be at least 1, not {examples}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    chosen = _check_props(model, props)
    plan = _plan(model, chosen, backend, swarm, schedule, steps)
    rec = _Recorder(plan, examples, timeout, progress, max_shrinks)
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
        machine = _machine_class(plan, rec)
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

    results = tuple(_verdict(plan, rec, i, steps) for i in range(len(chosen)))
    seconds = time.monotonic() - rec.start  # including minimisation and replay
    stats = Stats(len(rec.state_hashes), rec.steps, rec.longest, seconds)
    run = RunResult(
        spec=spec_name or model.name,
        engine="fuzz",
        complete=False,
        stats=stats,
        results=results,
        stopped_by=stopped_by,
    )
    instances = model.instances
    kind_counts = [0] * len(plan.kinds)
    action_counts: dict[str, int] = {}
    for inst in instances:
        action_counts.setdefault(inst.action.name, 0)
        action_counts[inst.action.name] += rec.action_counts[inst.number]
        kind_counts[plan.kind_index[inst.number]] += rec.action_counts[inst.number]
    coverage = Coverage(
        actions=tuple(action_counts.items()),
        kinds=tuple(zip(plan.kinds, kind_counts)),
        sometimes=tuple((p.name, rec.sometimes_runs[i]) for i, p in enumerate(chosen) if not p.is_always),
        deadlocks=rec.deadlocks,
        starved=rec.starved,
        distinct_states=len(rec.state_hashes),
    )
    return FuzzResult(
        run=run,
        seed=seed,
        budget=examples,
        examples=rec.search_runs,
        shrink_examples=rec.shrink_runs,
        steps=rec.steps,
        max_steps=steps,
        swarm=swarm,
        schedule=schedule,
        rounds=rounds,
        coverage=coverage,
        discoveries=tuple(rec.discovered[i] for i in sorted(rec.discovered)),
    )


def _verdict(plan: _Plan, rec: _Recorder, index: int, steps: int) -> PropertyResult:
    prop = plan.props[index]
    runs = rec.search_runs + rec.shrink_runs
    best = rec.best.get(index)
    if best is None:
        if prop.is_always:
            return PropertyResult(prop, UNKNOWN, None, None, f"not violated in {runs} examples × {steps} steps")
        return PropertyResult(prop, UNKNOWN, None, None, f"not reached in {runs} examples × {steps} steps")
    model = plan.model
    path = minimise(model, prop, [model.instances[n] for n in best])
    trace = confirmed(model, path, prop, "fuzz")
    found = rec.discovered[index]
    if prop.is_always:
        note = (
            f"found in example {found.example} after {found.seconds:.2f}s at depth {found.first_depth}; "
            f"shortest seen {len(best)} steps, minimised to {len(path)}"
        )
        return PropertyResult(prop, VIOLATED, len(path), trace, note)
    return PropertyResult(prop, HOLDS, len(path), trace, f"reached in {rec.sometimes_runs[index]} of {runs} examples")


# ---- model-level minimisation -----------------------------------------------------------


def _shown_at(interp: Interpreter, model: Model, prop: Property, path: Sequence[Instance]) -> int | None:
    """The length of the shortest prefix of ``path`` that shows ``prop``, or ``None`` when
    ``path`` does not replay or never shows it."""
    state = model.init
    if prop.event is None and _shows_in_state(interp, prop, state):
        return 0
    for k, inst in enumerate(path):
        if not interp.enabled(state, inst):
            return None
        if prop.event is not None:
            on_step = interp.broken_on_step if prop.is_always else interp.reached_on_step
            if on_step(state, inst, [prop]):
                return k + 1
        state = interp.step(state, inst)
        if prop.event is None and _shows_in_state(interp, prop, state):
            return k + 1
    return None


def _shows_in_state(interp: Interpreter, prop: Property, state: State) -> bool:
    if prop.is_always:
        return bool(interp.broken_in_state(state, [prop]))
    return bool(interp.reached_in_state(state, [prop]))


def minimise(model: Model, prop: Property, path: Sequence[Instance], *, max_pairs_length: int = 30) -> list[Instance]:
    """Shrink a trace that shows ``prop`` at the model level, where hypothesis's shrinker
    (which works on the choices behind the trace) often stops early.

    Until nothing changes: cut the trace at the first step that shows the property, delete
    runs of consecutive steps (every length, longest first), then runs of consecutive
    steps of one CPU (a path interleaved with other CPUs' steps), then pairs of equal steps
    anywhere (a flag set and cleared), and every pair of steps in traces of at most
    ``max_pairs_length`` steps; keep each deletion after which the rest still replays and
    shows the property. Finally swap adjacent steps while that lowers the number of CPU
    switches. Runs on the reference interpreter; deterministic.
    """
    interp = Interpreter(model)
    end = _shown_at(interp, model, prop, path)
    if end is None:
        return list(path)  # does not show the property: leave it to ``confirmed`` to report
    best = list(path[:end])

    def attempt(candidate: list[Instance]) -> bool:
        nonlocal best
        cut = _shown_at(interp, model, prop, candidate)
        if cut is None:
            return False
        best = candidate[:cut]
        return True

    changed = True
    while changed:
        changed = False
        for chunk in range(max(1, len(best) // 2), 0, -1):
            i = len(best) - chunk
            while i >= 0:
                if attempt(best[:i] + best[i + chunk:]):
                    changed = True
                    i = min(i, len(best)) - chunk
                else:
                    i -= 1
        if changed:
            continue
        # Runs of consecutive steps *of one CPU* (a whole path interleaved with others).
        for cpu in sorted({inst.cpu for inst in best if inst.cpu is not None}):
            positions = [k for k, inst in enumerate(best) if inst.cpu == cpu]
            for chunk in range(len(positions), 1, -1):
                for start in range(len(positions) - chunk, -1, -1):
                    drop = set(positions[start:start + chunk])
                    if attempt([inst for k, inst in enumerate(best) if k not in drop]):
                        changed = True
                        break
                if changed:
                    break
            if changed:
                break
        if changed:
            continue
        n = len(best)
        pairs = [(i, j) for i in range(n) for j in range(i + 2, n)
                 if best[i] == best[j] or n <= max_pairs_length]
        for i, j in reversed(pairs):
            if attempt(best[:i] + best[i + 1:j] + best[j + 1:]):
                changed = True
                break
    improved = True
    while improved:
        improved = False
        for i in range(len(best) - 1):
            candidate = best[:i] + [best[i + 1], best[i]] + best[i + 2:]
            if count_switches(candidate) < count_switches(best):
                cut = _shown_at(interp, model, prop, candidate)
                if cut is not None:
                    best = candidate[:cut]
                    improved = True
                    break
    return best


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
    examples: int = 200,
    steps: int = 50,
    seed: int = 0,
    props: Sequence[str] | None = None,
    overrides: Mapping[str, int] | None = None,
    swarm: bool = True,
) -> Callable[[], None]:
    """A test function for pytest that fuzzes ``spec`` with a pinned profile.

    ``spec`` is a spec file path (loaded with ``lufmodel.spec.load_spec``) or a built
    model. The test fails with every violated property and its replayed trace; it never
    fails because a ``sometimes`` property was not reached (a fuzz run proves nothing).
    Usage, in a test module::

        test_luf_fuzz = make_test("specs/luf_basic.toml", examples=300, steps=60, seed=1)
    """

    def test() -> None:
        model, spec_props, name = _load(spec, overrides)
        chosen: tuple[Property, ...] | None = spec_props
        if props is not None:
            chosen = tuple(model.prop(p) for p in props)
        result = fuzz(model, chosen, examples=examples, steps=steps, seed=seed, swarm=swarm, spec_name=name)
        if result.violated:
            lines = [f"fuzz (seed {seed}, {result.examples} examples × {steps} steps) violated:"]
            for r in result.violated:
                lines.append(f"{r.prop.name}: {r.note}")
                if r.trace is not None:
                    for k, s in enumerate(r.trace.steps):
                        lines.append(f"  {k + 1}. {s.instance.label}")
            raise AssertionError("\n".join(lines))

    label = spec.name if isinstance(spec, Model) else os.path.splitext(os.path.basename(os.fspath(spec)))[0]
    test.__name__ = test.__qualname__ = f"test_fuzz_{_identifier(label)}"
    return test
