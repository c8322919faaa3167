"""A tiny two-CPU model used to test the framework and the engines independently of LUF.

Two CPUs each increment a shared counter in two steps (load into a register, store back),
a classic lost-update race: ``no_lost_update`` is violated at depth 4.
"""

from __future__ import annotations

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.model import Args, Model, Read, Var, Write
from lufmodel.ops import Ops


def toy_model(cpus: int = 2, limit: int = 2) -> Model:
    b = ModelBuilder("toy", cpus)
    counter = b.scalar("counter", 0, limit)
    done = b.array("done", (cpus,), 0, 1)
    pc = b.array("pc", (cpus,), 0, 2)
    reg = b.array("reg", (cpus,), 0, limit)

    def load_guard(ops: Ops, s: Read, a: Args) -> O.Expr:
        return ops.eq(s[pc[a.c]], ops.const(0))

    def load(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[reg[a.c]] = s[counter]
        w[pc[a.c]] = ops.const(1)

    def store_guard(ops: Ops, s: Read, a: Args) -> O.Expr:
        return ops.and_(ops.eq(s[pc[a.c]], ops.const(1)), ops.lt(s[reg[a.c]], ops.const(limit)))

    def store(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[counter] = ops.add(s[reg[a.c]], ops.const(1))
        w[pc[a.c]] = ops.const(2)
        w[done[a.c]] = ops.const(1)

    b.action("load", path="inc", step="load counter", params={"c": range(cpus)},
             guard=load_guard, effect=load, writes=["reg", "pc"], kind="inc")
    b.action("store", path="inc", step="store counter+1", params={"c": range(cpus)},
             guard=store_guard, effect=store, writes=["counter", "pc", "done"], kind="inc")

    def no_lost(ops: Ops, s: Read) -> O.Expr:
        total = s[done[0]]
        for c in range(1, cpus):
            total = ops.add(total, s[done[c]])
        return ops.eq(s[counter], total)

    b.always("no_lost_update", "the counter equals the number of finished increments", no_lost)
    b.sometimes("both_done", "every CPU finished", lambda ops, s: O.all_(ops, [ops.eq(s[done[c]], ops.const(1)) for c in range(cpus)]))

    def describe(var: Var, value: int) -> str:
        return str(value)

    return b.build({}, describe)
