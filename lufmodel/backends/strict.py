"""The strict test backend: concrete values that refuse Python branching.

Z3 overloads ``==`` and ``bool()`` of a Z3 equality is *structural* equality, so a model
function that says ``if s[x] == 1:`` silently means something else under Z3. Under this
backend every such use raises ``ModelDefinitionError``, naming what was attempted. It also
checks sorts (Boolean versus integer), which Z3 would reject or coerce.
"""

from __future__ import annotations

from typing import NoReturn, Sequence

from lufmodel.errors import ModelDefinitionError
from lufmodel.model import Var
from lufmodel.ops import Expr


class StrictValue:
    """A concrete value with a sort; every Python-level use of it raises."""

    __slots__ = ("value", "sort")

    def __init__(self, value: int | bool, sort: str) -> None:
        self.value = value
        self.sort = sort

    def _refuse(self, what: str) -> NoReturn:
        raise ModelDefinitionError(
            f"model code used Python {what} on a state value; use the ops interface instead"
        )

    def __bool__(self) -> bool:
        self._refuse("truth testing (if/and/or/not)")

    def __eq__(self, other: object) -> bool:
        self._refuse("'=='")

    def __ne__(self, other: object) -> bool:
        self._refuse("'!='")

    def __lt__(self, other: object) -> bool:
        self._refuse("'<'")

    def __le__(self, other: object) -> bool:
        self._refuse("'<='")

    def __gt__(self, other: object) -> bool:
        self._refuse("'>'")

    def __ge__(self, other: object) -> bool:
        self._refuse("'>='")

    def __hash__(self) -> int:
        self._refuse("hashing (dict key, set member, 'in')")

    def __index__(self) -> int:
        self._refuse("indexing with a state value")

    def __int__(self) -> int:
        self._refuse("int()")

    def __iter__(self) -> NoReturn:
        self._refuse("iteration")

    def __add__(self, other: object) -> NoReturn:
        self._refuse("'+'")

    def __sub__(self, other: object) -> NoReturn:
        self._refuse("'-'")

    def __repr__(self) -> str:
        return f"StrictValue({self.value!r}, {self.sort})"


def _unwrap(x: Expr, sort: str, op: str) -> int | bool:
    if not isinstance(x, StrictValue):
        raise ModelDefinitionError(f"{op}: operand {x!r} is not an ops expression")
    if x.sort != sort:
        raise ModelDefinitionError(f"{op}: expected a {sort} operand, got a {x.sort}")
    return x.value


class StrictOps:
    """The concrete semantics, with sorts checked and Python branching refused."""

    def const(self, value: int | bool) -> Expr:
        if isinstance(value, bool):
            return StrictValue(value, "bool")
        if isinstance(value, int):
            return StrictValue(value, "int")
        raise ModelDefinitionError(f"const: {value!r} is not an int or bool")

    def and_(self, *xs: Expr) -> Expr:
        return StrictValue(all([_unwrap(x, "bool", "and_") for x in xs]), "bool")

    def or_(self, *xs: Expr) -> Expr:
        return StrictValue(any([_unwrap(x, "bool", "or_") for x in xs]), "bool")

    def not_(self, x: Expr) -> Expr:
        return StrictValue(not _unwrap(x, "bool", "not_"), "bool")

    def ite(self, cond: Expr, then: Expr, other: Expr) -> Expr:
        c = _unwrap(cond, "bool", "ite")
        if not isinstance(then, StrictValue) or not isinstance(other, StrictValue):
            raise ModelDefinitionError("ite: branches must be ops expressions")
        if then.sort != other.sort:
            raise ModelDefinitionError(f"ite: branches of sorts {then.sort} and {other.sort}")
        return then if c else other

    def eq(self, a: Expr, b: Expr) -> Expr:
        if not isinstance(a, StrictValue) or not isinstance(b, StrictValue):
            raise ModelDefinitionError("eq: operands must be ops expressions")
        if a.sort != b.sort:
            raise ModelDefinitionError(f"eq: comparing a {a.sort} with a {b.sort}")
        return StrictValue(a.value == b.value, "bool")

    def lt(self, a: Expr, b: Expr) -> Expr:
        return StrictValue(_unwrap(a, "int", "lt") < _unwrap(b, "int", "lt"), "bool")

    def add(self, a: Expr, b: Expr) -> Expr:
        return StrictValue(_unwrap(a, "int", "add") + _unwrap(b, "int", "add"), "int")

    def sub(self, a: Expr, b: Expr) -> Expr:
        return StrictValue(_unwrap(a, "int", "sub") - _unwrap(b, "int", "sub"), "int")

    def to_int(self, b: Expr) -> Expr:
        return StrictValue(1 if _unwrap(b, "bool", "to_int") else 0, "int")


class StrictRead:
    """A concrete state whose variables read as sorted ``StrictValue``s."""

    __slots__ = ("state",)

    def __init__(self, state: Sequence[int]) -> None:
        self.state = state

    def __getitem__(self, var: Var) -> Expr:
        raw = self.state[var.pos]
        if var.is_bool:
            return StrictValue(bool(raw), "bool")
        return StrictValue(raw, "int")


def unwrap_value(x: Expr, var: Var) -> int:
    """The integer a strict expression assigns to ``var``, with its sort checked."""
    if not isinstance(x, StrictValue):
        raise ModelDefinitionError(f"{var.name} assigned {x!r}, not an ops expression")
    want = "bool" if var.is_bool else "int"
    if x.sort != want:
        raise ModelDefinitionError(f"{var.name} is a {want} but was assigned a {x.sort}")
    return int(x.value)
