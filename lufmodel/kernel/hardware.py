"""The MMU: TLB fills from the current PTE, and nondeterministic evictions.

A fill snapshots a *present* PTE of the CPU's running mm into its TLB, and tags the entry
(ghost) with the object the frame held, so properties can tell reused memory apart. Fills
may happen at any time (speculation), whatever the CPU is executing. Entries persist until
flushed or evicted.
"""

from __future__ import annotations

from lufmodel.builder import ModelBuilder
from lufmodel.kernel import arm64
from lufmodel.kernel.state import Kernel, frame_field, runs
from lufmodel.model import Args, Read, Write
from lufmodel.ops import Expr, Ops


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    params = {"c": k.cpus, "m": k.mms, "v": k.vas}

    def fill_guard(ops: Ops, s: Read, a: Args) -> Expr:
        present = ops.not_(ops.eq(s[k.pte[a.m, a.v]], ops.const(0)))
        miss = ops.eq(s[k.tlb[a.c, a.m, a.v]], ops.const(0))
        return ops.and_(runs(k, ops, s, a.c, a.m), present, miss)

    def fill(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p = s[k.pte[a.m, a.v]]
        w[k.tlb[a.c, a.m, a.v]] = p
        w[k.tlbw[a.c, a.m, a.v]] = s[k.ptew[a.m, a.v]]
        w[k.tlbo[a.c, a.m, a.v]] = frame_field(k, ops, s, k.fobj, ops.sub(p, ops.const(1)))
        if cfg.arm64:  # a new entry: no TLBI issued for it yet
            arm64.clear_entry(k, ops, w, a.c, a.m, a.v)
        if dontneed:  # a new translation: no MADV_DONTNEED zapped it (ghosts of kernel/madvise.py)
            w[k.dnstale[a.c, a.m, a.v]] = ops.const(False)
            for x in k.cpus:
                w[k.dnowed[a.c, a.m, a.v, x]] = ops.const(False)

    dontneed = "madvise" in cfg.events
    b.action("tlb_fill", path="MMU", step="page walk fills the TLB from the PTE", params=params,
             guard=fill_guard, effect=fill,
             writes=["tlb", "tlb_w", "tlb_tag"] + (["dontneed_owed", "dontneed_stale"] if dontneed else [])
             + (["tlb_inv"] if cfg.arm64 else []), kind="tlb",
             where=lambda a: cfg.allows(a.c, "tlb"))

    def evict_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.not_(ops.eq(s[k.tlb[a.c, a.m, a.v]], ops.const(0)))

    def evict(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.tlb[a.c, a.m, a.v]] = ops.const(0)
        w[k.tlbw[a.c, a.m, a.v]] = ops.const(False)
        w[k.tlbo[a.c, a.m, a.v]] = ops.const(0)

    b.action("tlb_evict", path="MMU", step="TLB entry evicted", params=params,
             guard=evict_guard, effect=evict, writes=["tlb", "tlb_w", "tlb_tag"], kind="tlb",
             where=lambda a: cfg.allows(a.c, "tlb"))
