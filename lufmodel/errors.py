"""The exception hierarchy. Library code raises these; only the CLI maps them to exit codes."""

from __future__ import annotations


class LufModelError(Exception):
    """Base class of every error lufmodel raises on purpose."""


class SpecError(LufModelError, ValueError):
    """A spec file is malformed: the message names the file, the key and what is allowed."""


class ModelDefinitionError(LufModelError):
    """The model itself is inconsistent (undeclared writes, branching on state, bad domains)."""


class EngineMismatch(LufModelError):
    """Two engines or backends disagree, or a trace does not replay: an internal error."""


class SolverUnknown(LufModelError):
    """A solver answered 'unknown' or ran out of time."""


class ReplayError(LufModelError):
    """A saved trace does not apply to the current model (a step is not enabled)."""

    def __init__(self, message: str, step_index: int) -> None:
        super().__init__(message)
        self.step_index = step_index
