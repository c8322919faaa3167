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

    def states(self, path: Sequence[Instance]) -> list[State] | None:
        """The states along ``path`` (``len(path) + 1`` of them), or ``None`` when some
        step is not enabled."""
        raise NotImplementedError

    def shown_at(self, path: Sequence[Instance]) -> int | None:
        """The length of the shortest prefix of ``path`` that shows the property, or
        ``None`` when ``path`` does not replay or never shows it."""
        raise NotImplementedError


class InterpreterReplayer(Replayer):
    def __init__(self, model: Model, prop: Property) -> None:
        super().__init__(model, prop)
        self._interp = Interpreter(model)

    def _in_state(self, state: State) -> bool:
        interp, prop = self._interp, self.prop
        if prop.is_always:
            return bool(interp.broken_in_state(state, [prop]))
        return bool(interp.reached_in_state(state, [prop]))

    def states(self, path: Sequence[Instance]) -> list[State] | None:
        interp = self._interp
        out = [self.model.init]
        for inst in path:
            if not interp.enabled(out[-1], inst):
                return None
            out.append(interp.step(out[-1], inst))
        return out

    def shown_at(self, path: Sequence[Instance]) -> int | None:
        interp, prop = self._interp, self.prop
        state = self.model.init
        if prop.event is None and self._in_state(state):
            return 0
        for k, inst in enumerate(path):
            if not interp.enabled(state, inst):
                return None
            if prop.event is not None:
                on_step = interp.broken_on_step if prop.is_always else interp.reached_on_step
                if on_step(state, inst, [prop]):
                    return k + 1
            state = interp.step(state, inst)
            if prop.event is None and self._in_state(state):
                return k + 1
        return None


class CompiledReplayer(Replayer):
    """Replays with the generated step functions of ``compiled``, whose property bit
    ``bit`` is ``prop`` (or compiles the model for ``prop`` alone)."""

    def __init__(self, model: Model, prop: Property, compiled: CompiledModel | None = None, bit: int = 0) -> None:
        super().__init__(model, prop)
        self._compiled = compiled if compiled is not None else compile_model(model, [prop])
        self._mask = 1 << bit

    def states(self, path: Sequence[Instance]) -> list[State] | None:
        steps = self._compiled.steps
        out = [self.model.init]
        for inst in path:
            r = steps[inst.number](out[-1])
            if r is None:
                return None
            out.append(r[0])
        return out

    def shown_at(self, path: Sequence[Instance]) -> int | None:
        steps, check, mask = self._compiled.steps, self._compiled.state_check, self._mask
        always = self.prop.is_always
        state = self.model.init
        if mask & check(state)[0 if always else 1]:
            return 0
        for k, inst in enumerate(path):
            r = steps[inst.number](state)
            if r is None:
                return None
            state, bad, hit = r
            if mask & (bad if always else hit) or mask & check(state)[0 if always else 1]:
                return k + 1
        return None


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
) -> list[Instance]:
    """Shrink a trace that shows ``prop``.

    Cut the trace at the first step that shows the property and drop loops (stretches
    that come back to a state seen before); then, until nothing changes: delete runs of
    consecutive steps (every length, longest first), then runs of consecutive steps of one
    CPU (a path interleaved with other CPUs' steps), then pairs of equal steps anywhere (a
    flag set and cleared), and every pair of steps in traces of at most
    ``max_pairs_length`` steps; keep each deletion after which the rest still replays and
    shows the property. Finally swap adjacent steps while that lowers the number of CPU
    switches. Deterministic; the reference interpreter unless ``replayer`` says otherwise.
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
