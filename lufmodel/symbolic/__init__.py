"""The symbolic engine: the model's own guard/effect/property functions evaluated on Z3 terms.

* ``z3ops``: the Z3 backend of the operations interface and per-step reads (``var@i``).
* ``encode``: unrolling a model into Z3 constraints (transition indicators, frames, bad
  conditions, CPU-switch counting) and decoding solver models back into instances.
* ``bmc``: bounded model checking, shortest and then fewest-switch counterexamples.
* ``induction``: unbounded proofs: an inductive invariant of lemmas and properties
  (Houdini), k-induction (simple paths), Spacer (CHC); counterexamples to induction.
* ``valuesets``: the values each variable can take (guards ignored), as automatic lemmas.

z3 is imported only inside this package.
"""

from __future__ import annotations

from lufmodel.symbolic.bmc import bmc
from lufmodel.symbolic.induction import prove, prove_all

__all__ = ["bmc", "prove", "prove_all"]
