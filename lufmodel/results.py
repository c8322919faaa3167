"""The result types every engine returns: verdicts, statistics, traces."""

from __future__ import annotations

from dataclasses import dataclass

from lufmodel.model import Property
from lufmodel.trace import Trace

HOLDS = "holds"
BOUNDED = "bounded"
VIOLATED = "violated"
UNKNOWN = "unknown"
VERDICTS = (HOLDS, BOUNDED, VIOLATED, UNKNOWN)


@dataclass(frozen=True)
class Limits:
    """Search limits. Any limit that is hit turns "holds" into "bounded" or "unknown"."""

    max_depth: int | None = None
    max_states: int | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class Stats:
    states: int
    transitions: int
    depth: int
    seconds: float
    stored_bytes: int | None = None
    """Bytes the search kept for its visited states (the native engine: fingerprint table,
    parent links), or None where not measured."""

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else float(self.states)


@dataclass(frozen=True)
class PropertyResult:
    """The verdict on one property.

    For an ``always`` property: ``holds`` (exhaustive), ``bounded`` (no violation within
    ``depth`` steps), ``violated`` (``trace`` is a shortest counterexample), or ``unknown``.
    For a ``sometimes`` property: ``holds`` when reached (``trace`` is a shortest witness),
    ``violated`` when an exhaustive search never reaches it (the run is vacuous), and
    ``unknown`` when a bounded search did not reach it.
    """

    prop: Property
    verdict: str
    depth: int | None
    trace: Trace | None
    note: str = ""


@dataclass(frozen=True)
class RunResult:
    spec: str
    engine: str
    complete: bool
    stats: Stats
    results: tuple[PropertyResult, ...]
    stopped_by: str | None = None
    """Why the search stopped early: "max-depth", "max-states", "timeout", "interrupted",
    "max-k" (induction), or "decided" (every property was violated or reached, so deeper
    levels could not change a verdict)."""
    reduction: str | None = None
    """A state-space reduction the search used (e.g. frame symmetry): ``stats.states`` then
    counts representatives, not distinct states."""
    collision_probability: float | None = None
    """For a search that stored 64-bit fingerprints instead of states: the probability
    (TLC's estimate) that two distinct states shared one, so that one was never explored."""

    def result(self, name: str) -> PropertyResult:
        for r in self.results:
            if r.prop.name == name:
                return r
        raise KeyError(name)

    @property
    def exit_code(self) -> int:
        verdicts = {r.verdict for r in self.results}
        if VIOLATED in verdicts:
            return 1
        if UNKNOWN in verdicts:
            return 3
        return 0
