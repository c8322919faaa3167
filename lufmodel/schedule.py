"""Which enabled instance a fuzz run fires next: the scheduling policy of both fuzz engines.

The policy is derived from the model alone (its kinds, CPUs and per-CPU control variables),
never from a property or a spec. Its randomness comes from a ``Draw`` (``draw(n, label)``
is uniform in ``0..n-1``), so one definition serves the seeded random-walk engine
(``random.Random``) and the hypothesis state machine (``data.draw``), where hypothesis
can shrink the draws.

Per run, ``Policy.shape`` draws a ``RunShape``:

* swarm testing over action kinds and (with 3 or more CPUs) over CPUs: each is left out
  with a probability drawn per run; a preference, not a wall (when only left-out kinds or
  CPUs have something enabled, they fire);
* a schedule: ``random`` (uniform over kinds, then instances), ``sticky`` (stay on the CPU
  of the last step, switch with a drawn probability), ``path`` (like sticky, but with one
  drawn switch probability inside a kernel path, the preemption points, and another when
  the CPU is back in user code, the path boundaries), or ``pct`` (drawn CPU priorities
  with a few change points);
* how often a CPU inside a kernel path does something else on that CPU than the path's
  next step (a TLB fill or eviction, an interrupt): ``leave``.

Inside a path means the CPU's control variable (``Model.control``) is not 0; a step
continues the path when it writes that variable. Without control variables every CPU
counts as idle, and ``path`` behaves like ``sticky``.

Why: the violations of these models need one CPU parked in the middle of a kernel path
while another CPU runs whole paths, and few of the hardware steps that would undo the
setup in between. Uniform choice over enabled instances switches CPUs at almost every
step and picks TLB evictions as often as path steps (measurements: docs/fuzzing.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from lufmodel.model import Instance, Model

State = tuple[int, ...]

SCHEDULES = ("mixed", "random", "sticky", "path", "pct")
MIXED = ("random", "sticky", "path", "path")
"""What ``mixed`` draws from, per run (``path`` twice: it pays most on the LUF specs)."""

NO_CPU = -1
PREEMPT = 77
"""``preempt`` is drawn below this (in 256ths: up to 0.3). Up to 0.5 was no better."""
LEAVE = 129
"""``leave`` is drawn below this (up to 0.5). Up to 0.25 was no better."""


Draw = Callable[[int, str], int]
"""A source of choices: ``draw(n, label)`` is an integer in ``0..n-1`` (``label`` names the
choice for hypothesis)."""


def kind_of(inst: Instance) -> str:
    """The kind of an instance: the action's kind, or its name when it has none."""
    return inst.action.kind or inst.action.name


@dataclass(frozen=True)
class RunShape:
    """What one run draws before its first step (see the module docstring).

    Probabilities are in 256ths, so that hypothesis draws (and shrinks) small integers.
    """

    kinds_on: tuple[bool, ...]
    cpus_on: tuple[bool, ...]
    schedule: str
    switch: int
    """sticky: switch CPUs with this probability; path: at a path boundary."""
    preempt: int
    """path: switch CPUs with this probability inside a kernel path."""
    leave: int
    """Inside a path, fire another step of that CPU (not the path's) with this probability."""
    priority: tuple[int, ...] = ()
    change_points: tuple[int, ...] = ()


def _chance(draw: Draw, p256: int, label: str) -> bool:
    return p256 > 0 and draw(256, label) < p256


class Policy:
    """The static facts the scheduler needs about a model, computed once per fuzz call."""

    def __init__(self, model: Model, *, swarm: bool = True, schedule: str = "mixed", max_steps: int = 50) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
        self.model = model
        self.swarm = swarm
        self.schedule = schedule
        self.max_steps = max_steps
        kinds: list[str] = []
        for inst in model.instances:
            if kind_of(inst) not in kinds:
                kinds.append(kind_of(inst))
        self.kinds: tuple[str, ...] = tuple(kinds)
        index = {k: i for i, k in enumerate(kinds)}
        self.kind_index: tuple[int, ...] = tuple(index[kind_of(inst)] for inst in model.instances)
        self.cpu_of: tuple[int, ...] = tuple(NO_CPU if inst.cpu is None else inst.cpu for inst in model.instances)
        control = model.control if len(model.control) == model.cpus else ()
        self.control_pos: tuple[int, ...] = tuple(v.pos for v in control)
        """control_pos[c] = the position of CPU c's control variable in a state."""
        self.continues: tuple[bool, ...] = tuple(
            bool(control) and inst.cpu is not None and control[inst.cpu] in inst.writes for inst in model.instances
        )
        """continues[n]: instance n moves its CPU along a kernel path (writes its control variable)."""

    # ---- per run ----

    def shape(self, draw: Draw) -> RunShape:
        """Draw the shape of one run."""
        kinds_on = (True,) * len(self.kinds)
        cpus = self.model.cpus
        cpus_on = (True,) * cpus
        if self.swarm and len(self.kinds) >= 2:
            level = draw(256, "swarm level")
            off = tuple(draw(256, f"swarm {k}") < level for k in self.kinds)
            if not all(off):
                kinds_on = tuple(not o for o in off)
        if self.swarm and cpus >= 3:
            level = draw(256, "CPU swarm level")
            off = tuple(draw(256, f"swarm CPU{c}") < level for c in range(cpus))
            if cpus - sum(off) >= 2:
                cpus_on = tuple(not o for o in off)
        schedule = self.schedule
        if schedule == "mixed":
            schedule = MIXED[draw(len(MIXED), "schedule")]
        if cpus < 2 and schedule in ("sticky", "pct"):
            schedule = "random"
        switch = 1 + draw(128, "switch CPUs") if schedule == "sticky" else 51 + draw(205, "switch at a path boundary")
        preempt = draw(PREEMPT, "preempt inside a path")
        leave = draw(LEAVE, "leave the path")
        priority: tuple[int, ...] = ()
        change_points: tuple[int, ...] = ()
        if schedule == "pct":
            priority = tuple(draw(256, f"priority of CPU{c}") * cpus + c for c in range(cpus))
            change_points = tuple(draw(self.max_steps, "change point") + 1 for _ in range(draw(4, "change points")))
        return RunShape(kinds_on, cpus_on, schedule, switch, preempt, leave, priority, change_points)

    # ---- per step ----

    def busy(self, state: State, cpu: int) -> bool:
        """CPU ``cpu`` is inside a kernel path in ``state``."""
        return bool(self.control_pos) and cpu >= 0 and state[self.control_pos[cpu]] != 0

    def choose(
        self,
        state: State,
        enabled: Sequence[int],
        shape: RunShape,
        last_cpu: int,
        step: int,
        priority: list[int] | None,
        draw: Draw,
        kind_hint: int | None = None,
    ) -> tuple[int, bool]:
        """The instance number to fire among ``enabled`` (instance numbers, non-empty),
        and whether the swarm selection left nothing (so that a left-out kind fired).

        ``last_cpu`` is the CPU of the previous step (``NO_CPU`` for none or a CPU-less
        step); ``priority`` is the run's mutable copy of ``shape.priority`` (pct);
        ``kind_hint`` is the kind hypothesis's rule stands for, taken when the schedule
        leaves an instance of it.
        """
        cpu_of, kind_index = self.cpu_of, self.kind_index
        pool = [n for n in enabled if shape.kinds_on[kind_index[n]] and (cpu_of[n] < 0 or shape.cpus_on[cpu_of[n]])]
        starved = not pool
        if starved:
            pool = list(enabled)
        schedule = shape.schedule
        if schedule != "random":
            cpus = sorted({cpu_of[n] for n in pool})
            if schedule == "pct":
                assert priority is not None
                if step in shape.change_points and last_cpu >= 0:
                    priority[last_cpu] = min(priority) - 1
                real = [c for c in cpus if c >= 0]
                cur = max(real, key=lambda c: priority[c]) if real else NO_CPU
                pool = [n for n in pool if cpu_of[n] in (cur, NO_CPU)]
            else:
                if last_cpu in cpus and len(cpus) > 1:
                    inside = schedule == "path" and self.busy(state, last_cpu)
                    p = shape.preempt if inside else shape.switch
                    if _chance(draw, p, "switch"):
                        others = [c for c in cpus if c != last_cpu]
                        cur = others[0] if len(others) == 1 else others[draw(len(others), "CPU")]
                    else:
                        cur = last_cpu
                else:
                    cur = cpus[0] if len(cpus) == 1 else cpus[draw(len(cpus), "CPU")]
                pool = [n for n in pool if cpu_of[n] == cur]
            if cur >= 0 and self.busy(state, cur):
                path = [n for n in pool if self.continues[n]]
                if path and len(path) < len(pool):
                    if _chance(draw, shape.leave, "leave the path"):
                        pool = [n for n in pool if not self.continues[n]]
                    else:
                        pool = path
        kinds = sorted({kind_index[n] for n in pool})
        if len(kinds) > 1:
            k = kind_hint if kind_hint in kinds else kinds[draw(len(kinds), "kind")]
            pool = [n for n in pool if kind_index[n] == k]
        pick = pool[0] if len(pool) == 1 else pool[draw(len(pool), "instance")]
        return pick, starved
