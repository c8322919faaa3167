"""arm64 TLB maintenance (``[luf] arch = "arm64"``): invalidations complete at the issuer's DSB.

arm64 has no IPI shootdown. ``arch_tlbbatch_add_pending()`` issues a broadcast TLBI for the
page at once (``__flush_tlb_range_nosync()``: ``tlbi vale1is`` on every CPU's TLB, no
barrier), and the batch flush ``arch_tlbbatch_flush()`` is only ``dsb(ish)``. The Arm
architecture completes a TLBI, for every observer, only when *the CPU that issued it*
executes a DSB; until then another CPU may go on using the entry. So a TLB entry here can be
"invalidation issued by CPU i" (``tlb_inv[c, m, v, i]``), and a DSB by CPU i drops every
entry its TLBIs hit. The DSBs the model executes on the issuing CPU (from
arch/arm64/include/asm/tlbflush.h and arch/arm64/kernel/process.c):

* ``try_to_unmap_flush()`` of a non-empty batch (``arch_tlbbatch_flush()``: ``dsb(ish)``);
* ``flush_tlb_page()``/``flush_tlb_range()``/``flush_tlb_mm()`` (TLBI, then ``dsb(ish)``),
  e.g. munmap's and mprotect's range flush;
* ``flush_tlb_batched_pending()``: ``arch_flush_tlb_batched_pending()`` was ``dsb(ish)`` on
  the *calling* CPU (up to v6.15, the base of LUF v12), which completes none of the reclaim
  CPU's TLBIs; the 2025 fix makes it ``flush_tlb_mm()`` (switch
  ``arm64_batched_pending_flush_mm``);
* ``__switch_to()``: "Complete any pending TLB or cache maintenance on this CPU in case the
  thread migrates": a context switch (``switch``), or a preemption anywhere in a kernel path
  (event ``preempt``).

LUF v12 on arm64 (02/26, 17/26): ``arch_tlbbatch_done()``, ``check_done()`` and ``diet()`` are
always true and ``mark_ugen()`` is a no-op, so ``fold_unmap_luf()`` returns key 0, the LUF'd
folio is freed as a normal page, and no ``luf_flush*`` ever flushes. An entry's ``tlb_inv``
bits mean something only while the entry is present; a fill clears them.
"""

from __future__ import annotations

from lufmodel.builder import ModelBuilder
from lufmodel.kernel.state import Kernel
from lufmodel.model import Args, Read, Write
from lufmodel.ops import Expr, Ops

DSB_WRITES = ("tlb", "tlb_w", "tlb_tag", "tlb_inv")


def issue_tlbi(k: Kernel, ops: Ops, s: Read, w: Write, c: int, m: int, v: int, when: Expr) -> None:
    """CPU ``c`` issues ``tlbi vale1is`` for (mm ``m``, va ``v``) without a barrier (if
    ``when``): every CPU's entry for it is now "invalidation issued by ``c``"."""
    for c2 in k.cpus:
        present = ops.not_(ops.eq(s[k.tlb[c2, m, v]], ops.const(0)))
        w[k.tinv[c2, m, v, c]] = ops.or_(w.get(k.tinv[c2, m, v, c]), ops.and_(when, present))


def dsb(k: Kernel, ops: Ops, w: Write, c: int, when: Expr) -> None:
    """``dsb(ish)`` on CPU ``c`` (if ``when``): every TLBI ``c`` issued completes; the entries
    they hit are gone from every CPU."""
    for c2 in k.cpus:
        for m in k.mms:
            for v in k.vas:
                hit = ops.and_(when, w.get(k.tinv[c2, m, v, c]))
                w[k.tlb[c2, m, v]] = ops.ite(hit, ops.const(0), w.get(k.tlb[c2, m, v]))
                w[k.tlbw[c2, m, v]] = ops.and_(ops.not_(hit), w.get(k.tlbw[c2, m, v]))
                w[k.tlbo[c2, m, v]] = ops.ite(hit, ops.const(0), w.get(k.tlbo[c2, m, v]))
                for i in k.cpus:
                    w[k.tinv[c2, m, v, i]] = ops.and_(ops.not_(hit), w.get(k.tinv[c2, m, v, i]))


def incomplete(k: Kernel, ops: Ops, s: Read, c: int, m: int, v: int) -> Expr:
    """CPU ``c``'s entry for (``m``, ``v``) is present and a TLBI for it has been issued but
    not completed by its issuer's DSB."""
    present = ops.not_(ops.eq(s[k.tlb[c, m, v]], ops.const(0)))
    return ops.and_(present, ops.or_(*[s[k.tinv[c, m, v, i]] for i in k.cpus]))


def clear_entry(k: Kernel, ops: Ops, w: Write, c: int, m: int, v: int) -> None:
    """A new entry for (``m``, ``v``) on ``c`` carries no issued invalidation."""
    for i in k.cpus:
        w[k.tinv[c, m, v, i]] = ops.const(False)


def add(k: Kernel, b: ModelBuilder) -> None:
    """The ``preempt`` event: the task on a CPU is scheduled out and back in, anywhere in its
    kernel path (``__switch_to()``'s ``dsb(ish)``); nothing else changes."""
    cfg = k.cfg
    if not cfg.arm64:
        return

    def guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.or_(*[s[k.tinv[c2, m, v, a.c]] for c2 in k.cpus for m in k.mms for v in k.vas])

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        dsb(k, ops, w, a.c, ops.const(True))

    b.action("preempt", path="__schedule", step="preempted and resumed: __switch_to() dsb(ish) completes this CPU's TLBIs",
             params={"c": k.cpus}, guard=guard, effect=effect, writes=list(DSB_WRITES), kind="preempt",
             where=lambda a: cfg.allows(a.c, "preempt"))
