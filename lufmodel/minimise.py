"""Shrinking a trace at the model level: fewer steps, then fewer CPU switches.

The fuzzers' traces are long (a random run, or a chain of runs) and hypothesis's shrinker
works on the choices behind a trace, which often stops early for these models. This works
on the instances themselves: every candidate is replayed, and kept only if it still runs
and still shows the property. Replays use a ``Replayer``: the reference interpreter, or
the generated step functions for speed (the fuzzer then replays the result on the
interpreter with ``trace.confirmed``, so a wrong fast replay is an error, never a wrong
trace).
"""

from __future__ import annotations

from typing import Sequence

from lufmodel.backends.codegen import CompiledModel, compile_model
from lufmodel.model import Instance, Model, Property
from lufmodel.semantics import Interpreter
from lufmodel.trace import count_switches

State = tuple[int, ...]


class Replayer:
    """Replays instance sequences and says where a property is first shown."""

    def __init__(self, model: Model, prop: Property) -> None:
        self.model = model
        self.prop = prop

    def shows_in(self, state: State) -> bool:
        """The property is shown in ``state`` (a state property only)."""
        raise NotImplementedError

    def step(self, state: State, inst: Instance) -> tuple[State, bool] | None:
        """The successor of ``state`` by ``inst`` and whether that step shows the property
        (its event, or its post-state), or ``None`` when ``inst`` is not enabled."""
        raise NotImplementedError

    def states(self, path: Sequence[Instance]) -> list[State] | None:
        """The states along ``path`` (``len(path) + 1`` of them), or ``None`` when some
        step is not enabled."""
        out = [self.model.init]
        for inst in path:
            r = self.step(out[-1], inst)
            if r is None:
                return None
            out.append(r[0])
        return out

    def shown_at(self, path: Sequence[Instance]) -> int | None:
        """The length of the shortest prefix of ``path`` that shows the property, or
        ``None`` when ``path`` does not replay or never shows it."""
        state = self.model.init
        if self.shows_in(state):
            return 0
        for k, inst in enumerate(path):
            r = self.step(state, inst)
            if r is None:
                return None
            state, shows = r
            if shows:
                return k + 1
        return None

    def shortest(self, instances: Sequence[Instance], max_depth: int, max_states: int) -> list[Instance] | None:
        """A shortest run of at most ``max_depth`` steps, using only ``instances``, that
        shows the property (breadth-first), or ``None`` when there is none or the search
        would visit more than ``max_states`` states."""
        init = self.model.init
        if self.shows_in(init):
            return []
        parent: dict[State, tuple[State, Instance] | None] = {init: None}
        level = [init]
        for _ in range(max_depth):
            following: list[State] = []
            for state in level:
                for inst in instances:
                    r = self.step(state, inst)
                    if r is None:
                        continue
                    succ, shows = r
                    if shows:
                        path = [inst]
                        back = parent[state]
                        while back is not None:
                            path.append(back[1])
                            back = parent[back[0]]
                        return path[::-1]
                    if succ not in parent:
                        parent[succ] = (state, inst)
                        following.append(succ)
                        if len(parent) > max_states:
                            return None
            level = following
            if not level:
                return None
        return None


class InterpreterReplayer(Replayer):
    def __init__(self, model: Model, prop: Property) -> None:
        super().__init__(model, prop)
        self._interp = Interpreter(model)

    def shows_in(self, state: State) -> bool:
        interp, prop = self._interp, self.prop
        if prop.event is not None:
            return False
        if prop.is_always:
            return bool(interp.broken_in_state(state, [prop]))
        return bool(interp.reached_in_state(state, [prop]))

    def step(self, state: State, inst: Instance) -> tuple[State, bool] | None:
        interp, prop = self._interp, self.prop
        if not interp.enabled(state, inst):
            return None
        succ = interp.step(state, inst)
        if prop.event is not None:
            on_step = interp.broken_on_step if prop.is_always else interp.reached_on_step
            return succ, bool(on_step(state, inst, [prop]))
        return succ, self.shows_in(succ)


class CompiledReplayer(Replayer):
    """Replays with the generated step functions of ``compiled``, whose property bit
    ``bit`` is ``prop`` (or compiles the model for ``prop`` alone)."""

    def __init__(self, model: Model, prop: Property, compiled: CompiledModel | None = None, bit: int = 0) -> None:
        super().__init__(model, prop)
        self._compiled = compiled if compiled is not None else compile_model(model, [prop])
        self._mask = 1 << bit
        self._which = 0 if prop.is_always else 1

    def shows_in(self, state: State) -> bool:
        return bool(self._mask & self._compiled.state_check(state)[self._which])

    def step(self, state: State, inst: Instance) -> tuple[State, bool] | None:
        r = self._compiled.steps[inst.number](state)
        if r is None:
            return None
        succ, bad, hit = r
        return succ, bool(self._mask & (bad if self._which == 0 else hit)) or self.shows_in(succ)


def drop_loops(replayer: Replayer, path: Sequence[Instance]) -> list[Instance]:
    """Cut every stretch of ``path`` that returns to a state visited before it: the rest
    replays to the same states, and ends in the same state."""
    states = replayer.states(path)
    if states is None:
        return list(path)
    out: list[Instance] = []
    at: dict[State, int] = {states[0]: 0}
    kept_states = [states[0]]
    for inst, after in zip(path, states[1:]):
        if after in at:
            k = at[after]
            for s in kept_states[k + 1:]:
                del at[s]
            del out[k:]
            del kept_states[k + 1:]
            continue
        out.append(inst)
        kept_states.append(after)
        at[after] = len(out)
    return out


def minimise(
    model: Model,
    prop: Property,
    path: Sequence[Instance],
    *,
    max_pairs_length: int = 30,
    replayer: Replayer | None = None,
    search_states: int = 20_000,
) -> list[Instance]:
    """Shrink a trace that shows ``prop``.

    Cut the trace at the first step that shows the property and drop loops (stretches
    that come back to a state seen before); then, until nothing changes: delete runs of
    consecutive steps (every length, longest first), then runs of consecutive steps of one
    CPU (a path interleaved with other CPUs' steps), then pairs of equal steps anywhere (a
    flag set and cleared), and every pair of steps in traces of at most
    ``max_pairs_length`` steps; keep each deletion after which the rest still replays and
    shows the property. Then search breadth-first for a shorter run made of the same
    instances (a different frame, an order that needs fewer steps: what deletions cannot
    find), giving up beyond ``search_states`` states (0: no search). Finally swap adjacent
    steps while that lowers the number of CPU switches. Deterministic; the reference
    interpreter unless ``replayer`` says otherwise.
    """
    rep = replayer if replayer is not None else InterpreterReplayer(model, prop)
    end = rep.shown_at(path)
    if end is None:
        return list(path)  # does not show the property: leave it to ``confirmed`` to report
    # Drop loops before the step that shows the property: the rest reaches the same state
    # before it, so that step shows it again.
    best = drop_loops(rep, path[:end - 1]) + list(path[end - 1:end])
    cut = rep.shown_at(best)
    best = list(path[:end]) if cut is None else best[:cut]

    def attempt(candidate: list[Instance]) -> bool:
        nonlocal best
        cut = rep.shown_at(candidate)
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
    if search_states > 0 and len(best) > 1:
        used = list(dict.fromkeys(best))
        found = rep.shortest(used, len(best) - 1, search_states)
        if found is not None:
            best = found
    improved = True
    while improved:
        improved = False
        for i in range(len(best) - 1):
            candidate = best[:i] + [best[i + 1], best[i]] + best[i + 2:]
            if count_switches(candidate) < count_switches(best):
                cut = rep.shown_at(candidate)
                if cut is not None:
                    best = candidate[:cut]
                    improved = True
                    break
    return best
