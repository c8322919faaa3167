"""LUF v12's unmap generation numbers (``ugen``): the kernel's arithmetic at the model's width.

Every ugen comes from the global counter ``luf_ugen`` (``new_luf_ugen()``, v12 07/26) and is
only ever compared (``ugen_before()``), tested for zero (0 is invalid) or copied. The model
holds them in the *ugen slots*: the counter, each CPU's ``ugen_done``, each CPU's task
register (``current->luf_ugen`` during a take-off, the ugen of a flush between
``tlb_flush_start()`` and ``tlb_flush_end()``), and the ugen of every ``luf_batch`` (the
``luf_key`` table, each mm's and each file's). Two representations, chosen by
``[sizes] ugen_bits``:

* ``0`` (*unbounded*, the default): the kernel's ``unsigned long`` counter, which never
  wraps. Only the order of the live values matters, so each slot holds the *rank* of its
  value among the distinct values still held anywhere (1 = the oldest, ``luf_ugen`` = the
  newest), renumbered by ``settle`` after every step that takes a new ugen or drops an old
  one. This is exact for 64-bit arithmetic, and finite.
* ``B`` from 2 to 4 (*wrapping*): the counter and every stored ugen are B-bit numbers. The
  counter wraps and skips 0 (as ``new_luf_ugen()`` skips ``(unsigned short)ugen == 0``), and
  ``ugen_before(a, b)`` is ``(long)(a - b) < 0`` computed on B bits: a value more than half
  the range behind another reads as *after* it. This is where wraparound bugs show.
"""

from __future__ import annotations

from lufmodel.kernel.state import Kernel
from lufmodel.model import Var, Write
from lufmodel.ops import Expr, Ops

UGEN_FAMILIES = ("luf_ugen", "ugen_done", "reg_ugen", "lb_ugen", "mm_lb_ugen", "map_lb_ugen")
"""The variable families that hold ugens: a step that takes or drops one writes them all."""

LUF_UGEN_INIT = 2
"""``luf_ugen`` starts at 2 "so that 1 can be regarded as a passed one"; ``ugen_done`` and
every ``luf_batch``'s ugen start at 1 (v12 07/26, 08/26, 17/26)."""


def slots(k: Kernel) -> list[Var]:
    """Every ugen slot, the counter first."""
    out = [k.lugen[0]]
    out += [k.udone[c] for c in k.cpus]
    out += [k.rugen[c] for c in k.cpus]
    out += [k.lbugen[j] for j in range(k.cfg.luf_keys)]
    out += [k.mmlbugen[m] for m in k.mms]
    out += [k.maplbugen[f] for f in range(k.cfg.files)]
    return out


def before(k: Kernel, ops: Ops, a: Expr, b: Expr) -> Expr:
    """``ugen_before(a, b)``: ``(long)(a - b) < 0``, on the model's width."""
    bits = k.cfg.ugen_bits
    if not bits:
        return ops.lt(a, b)
    d = ops.sub(a, b)
    d = ops.ite(ops.lt(d, ops.const(0)), ops.add(d, ops.const(1 << bits)), d)
    return ops.not_(ops.lt(d, ops.const(1 << (bits - 1))))


def newest(k: Kernel, ops: Ops, a: Expr, b: Expr) -> Expr:
    """The newer of two valid ugens (``b`` if ``ugen_before(a, b)``)."""
    return ops.ite(before(k, ops, a, b), b, a)


def take(k: Kernel, ops: Ops, w: Write, when: Expr | None = None) -> Expr:
    """``new_luf_ugen()`` (if ``when``): advance the counter and return its new value."""
    cur = w.get(k.lugen[0])
    g = ops.add(cur, ops.const(1))
    bits = k.cfg.ugen_bits
    if bits:
        g = ops.ite(ops.eq(g, ops.const(1 << bits)), ops.const(1), g)
    w[k.lugen[0]] = g if when is None else ops.ite(when, g, cur)
    return g


def settle(k: Kernel, ops: Ops, w: Write) -> None:
    """Renumber the ugen slots to their canonical ranks (unbounded), after a step that took
    or dropped a ugen; on a wrapping width the values stay as they are. Either way every slot
    is assigned, so a step that settles declares ``UGEN_FAMILIES``."""
    vars_ = slots(k)
    vals: list[Expr] = [w.get(v) for v in vars_]
    if not k.cfg.ugen_bits:
        hi = k.cfg.ugen_top
        # From the top down: a rank no slot holds is a gap; everything above it moves down.
        for t in range(hi - 1, 0, -1):
            unused = ops.and_(*[ops.not_(ops.eq(x, ops.const(t))) for x in vals])
            vals = [ops.ite(ops.and_(unused, ops.lt(ops.const(t), x)), ops.sub(x, ops.const(1)), x) for x in vals]
    for var, val in zip(vars_, vals):
        w[var] = val


def initial(k: Kernel) -> dict[Var, int]:
    """The boot values: ``luf_ugen`` = 2, every ``ugen_done`` and batch ugen = 1."""
    out: dict[Var, int] = {}
    for var in slots(k):
        out[var] = 1
    for c in k.cpus:
        out[k.rugen[c]] = 0
    out[k.lugen[0]] = LUF_UGEN_INIT
    return out

