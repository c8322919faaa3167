"""The Z3 backend of the operations interface.

Booleans are Z3 ``Bool`` constants. Integers have two encodings, chosen per encoder:

* ``width=None``: Z3 ``Int`` constants (linear integer arithmetic). Exact; what Spacer
  needs; the default for induction.
* ``width=w``: ``w``-bit signed bit-vectors (``<`` is signed). With only Booleans,
  bit-vectors and pseudo-Boolean constraints, Z3's finite-domain solver (``QF_FD``)
  bit-blasts to its incremental SAT solver, which is much faster for deep BMC unrollings.
  ``safe_width`` picks ``w`` so that every domain value times 8 fits, which makes the
  sums and differences the model writes exact; the backend-agreement tests check both
  encodings against the concrete interpreter.

Concrete states store Booleans as 0/1; ``decode`` converts back. Domains ``lo..hi`` are
*not* built into the sort: the bounded engine starts from the concrete initial state, where
every value is determined by the effects (exactly as in the explicit engine, which does not
clamp either), and the induction engine, which starts from arbitrary states, adds ``domain``
constraints explicitly.

A read of step ``i`` maps each ``Var`` to the constant named ``<var.name>@<i>``.
"""

from __future__ import annotations

from typing import Any, Sequence

import z3

from lufmodel.errors import ModelDefinitionError
from lufmodel.model import Var
from lufmodel.ops import Expr


def safe_width(variables: Sequence[Var]) -> int:
    """A bit-vector width in which 8 times any domain bound fits as a signed value."""
    bound = max([abs(v.lo) for v in variables] + [abs(v.hi) for v in variables] + [1])
    return max(6, (8 * bound).bit_length() + 1)


class Z3Ops:
    """Builds Z3 terms. Operands are checked for sort, like the strict backend."""

    def __init__(self, width: int | None = None) -> None:
        if width is not None and width < 2:
            raise ValueError(f"bit-vector width must be >= 2, got {width}")
        self.width = width

    # ---- sorts -----------------------------------------------------------------------

    def _sort_of(self, x: Any) -> str:
        if isinstance(x, z3.BoolRef):
            return "bool"
        if self.width is None and isinstance(x, z3.ArithRef):
            return "int"
        if self.width is not None and isinstance(x, z3.BitVecRef):
            return "int"
        return type(x).__name__

    def int_val(self, value: int) -> Any:
        return z3.IntVal(value) if self.width is None else z3.BitVecVal(value, self.width)

    def _term(self, x: Expr, want: str, op: str) -> Any:
        """``x`` as a Z3 term of sort ``want``; Python constants are lifted."""
        if isinstance(x, bool):
            if want != "bool":
                raise ModelDefinitionError(f"{op}: expected an int operand, got the Python bool {x!r}")
            return z3.BoolVal(x)
        if isinstance(x, int):
            if want != "int":
                raise ModelDefinitionError(f"{op}: expected a bool operand, got the Python int {x!r}")
            return self.int_val(x)
        sort = self._sort_of(x)
        if sort != want:
            raise ModelDefinitionError(f"{op}: expected a {want} operand, got a {sort}")
        return x

    def _any_term(self, x: Expr, op: str) -> Any:
        if isinstance(x, bool):
            return z3.BoolVal(x)
        if isinstance(x, int):
            return self.int_val(x)
        if self._sort_of(x) in ("bool", "int"):
            return x
        raise ModelDefinitionError(f"{op}: operand {x!r} is not an ops expression")

    # ---- the Ops protocol ------------------------------------------------------------

    def const(self, value: int | bool) -> Expr:
        if isinstance(value, bool):
            return z3.BoolVal(value)
        if isinstance(value, int):
            return self.int_val(value)
        raise ModelDefinitionError(f"const: {value!r} is not an int or bool")

    def and_(self, *xs: Expr) -> Expr:
        terms = [self._term(x, "bool", "and_") for x in xs]
        if not terms:
            return z3.BoolVal(True)
        if len(terms) == 1:
            return terms[0]
        return z3.And(*terms)

    def or_(self, *xs: Expr) -> Expr:
        terms = [self._term(x, "bool", "or_") for x in xs]
        if not terms:
            return z3.BoolVal(False)
        if len(terms) == 1:
            return terms[0]
        return z3.Or(*terms)

    def not_(self, x: Expr) -> Expr:
        return z3.Not(self._term(x, "bool", "not_"))

    def ite(self, cond: Expr, then: Expr, other: Expr) -> Expr:
        a = self._any_term(then, "ite")
        b = self._any_term(other, "ite")
        if self._sort_of(a) != self._sort_of(b):
            raise ModelDefinitionError(f"ite: branches of sorts {self._sort_of(a)} and {self._sort_of(b)}")
        return z3.If(self._term(cond, "bool", "ite"), a, b)

    def eq(self, a: Expr, b: Expr) -> Expr:
        x = self._any_term(a, "eq")
        y = self._any_term(b, "eq")
        if self._sort_of(x) != self._sort_of(y):
            raise ModelDefinitionError(f"eq: comparing a {self._sort_of(x)} with a {self._sort_of(y)}")
        return x == y

    def lt(self, a: Expr, b: Expr) -> Expr:
        # ``<`` on z3 bit-vectors is the signed comparison
        return self._term(a, "int", "lt") < self._term(b, "int", "lt")

    def add(self, a: Expr, b: Expr) -> Expr:
        return self._term(a, "int", "add") + self._term(b, "int", "add")

    def sub(self, a: Expr, b: Expr) -> Expr:
        return self._term(a, "int", "sub") - self._term(b, "int", "sub")

    def to_int(self, b: Expr) -> Expr:
        return z3.If(self._term(b, "bool", "to_int"), self.int_val(1), self.int_val(0))

    # ---- variables and values --------------------------------------------------------

    def var_const(self, var: Var, step: int) -> Any:
        """The Z3 constant for ``var`` at step ``step``, named ``var@step``."""
        name = f"{var.name}@{step}"
        if var.is_bool:
            return z3.Bool(name)
        return z3.Int(name) if self.width is None else z3.BitVec(name, self.width)

    def sort(self, var: Var) -> Any:
        if var.is_bool:
            return z3.BoolSort()
        return z3.IntSort() if self.width is None else z3.BitVecSort(self.width)

    def literal(self, var: Var, value: int) -> Any:
        """A concrete value (0/1 for Booleans) as a Z3 literal of ``var``'s sort."""
        return z3.BoolVal(bool(value)) if var.is_bool else self.int_val(value)

    def assigned(self, var: Var, value: Expr) -> Any:
        """The term an effect assigns to ``var``, checked against ``var``'s sort."""
        return self._term(value, "bool" if var.is_bool else "int", f"assignment to {var.name}")

    def decode(self, var: Var, value: Any) -> int:
        """A Z3 model value of ``var`` as the int a concrete state stores."""
        if var.is_bool:
            if z3.is_true(value):
                return 1
            if z3.is_false(value):
                return 0
            raise ModelDefinitionError(f"{var.name}: the solver value {value} is not a Boolean literal")
        if self.width is None:
            if not z3.is_int_value(value):
                raise ModelDefinitionError(f"{var.name}: the solver value {value} is not an integer literal")
            return int(value.as_long())
        if not z3.is_bv_value(value):
            raise ModelDefinitionError(f"{var.name}: the solver value {value} is not a bit-vector literal")
        return int(value.as_signed_long())

    def domain(self, var: Var, term: Any) -> Any:
        """``lo <= term <= hi`` for integer variables; ``True`` for Booleans."""
        if var.is_bool:
            return z3.BoolVal(True)
        return z3.And(self.int_val(var.lo) <= term, term <= self.int_val(var.hi))


class StepRead:
    """A symbolic state: ``s[var]`` is the Z3 constant of ``var`` at one step."""

    __slots__ = ("step", "consts")

    def __init__(self, ops: Z3Ops, variables: Sequence[Var], step: int) -> None:
        self.step = step
        self.consts: tuple[Any, ...] = tuple(ops.var_const(v, step) for v in variables)

    def __getitem__(self, var: Var) -> Expr:
        return self.consts[var.pos]
