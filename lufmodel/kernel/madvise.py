"""madvise(MADV_DONTNEED) of one page of the shared file mapping; why MADV_FREE is not here.

MADV_DONTNEED (``madvise_dontneed_single_vma`` → ``zap_page_range_single``) holds the mmap
lock only for *read* (newer kernels: just the VMA's read lock), so page faults and other
MADV_DONTNEED callers of the same mm run at the same time; mprotect, munmap and mremap wait.

1. ``madvise``: mmap_read_lock; ``tlb_gather_mmu``: ``inc_tlb_flush_pending(mm)``;
2. ``madvise.zap``: ``zap_pte_range`` under the PTL, munmap's own step function
   (``flush_tlb_batched_pending``, clear the PTE, the mmu_gather holds the page; a dirty
   PTE is flushed before the PTL is dropped, switch ``zap_dirty_flush``);
3. ``madvise.flush``: ``tlb_end_vma`` (the range flush if a present PTE was zapped, and v12's
   ``luf_flush_vma``), ``tlb_finish_mmu`` (if another mmu_gather of this mm is in flight,
   ``mm_tlb_flush_nested``, flush the whole mm: 99baac21e458; free the gathered page;
   ``dec_tlb_flush_pending``), mmap_read_unlock. No lock is taken or dropped between
   ``tlb_end_vma`` and the end, so this is one step.

The VMA stays: the next access faults the page back in from the page cache.

**P4 for MADV_DONTNEED.** The VMA and the object do not change, so the munmap-style check
(a translation for another object, or for no VMA) cannot see a zapped translation. What the
kernel guarantees is per call: when a MADV_DONTNEED of (mm, va) returns, no CPU still caches
a translation of (mm, va) that existed when the call walked that PTE under the PTL — after
that walk the PTE is empty, so every such entry is stale, whoever cleared the PTE: this call,
a concurrent caller whose flush is still pending, or reclaim (flushed through
``flush_tlb_batched_pending``). Two ghosts carry this:

* ``dontneed_owed[c2, mm, va, x]``: CPU c2's entry existed when caller x walked (mm, va);
* ``dontneed_stale[c2, mm, va]``: caller x returned with that entry still cached;
  an access through it breaks P4.

Both are forgotten when the TLB entry is refilled (``tlb_fill``: a new translation), and an
entry dropped meanwhile is not counted at the return. The global "some CPU is still in a
fence step" exemption of munmap's P4 is deliberately not used: it would excuse the caller
that returned while the *other* caller's flush was still pending — exactly the race of
99baac21e458 (``madvise_concurrent_force_flush`` off shows it).

**MADV_FREE** is out of scope: ``madvise_free_single_vma`` returns -EINVAL for a VMA that is
not anonymous ("MADV_FREE works for only anon vma at the moment"), and the model has only
shared file mappings, so on them MADV_FREE never walks a PTE. Its PTE walk (clear young and
dirty under the PTL after ``flush_tlb_batched_pending``, then the mmu_gather flush) belongs
with anonymous memory, which is not modelled yet.
"""

from __future__ import annotations

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel.config import PRIVATE_PROTS
from lufmodel.kernel.flush import MM_FLUSH_WRITES, arch_dsb, arch_dsb_writes, flush_mm
from lufmodel.kernel.state import Kernel, at, goto, runs
from lufmodel.kernel.vma import end_vma_writes, luf_vma_events, tlb_end_vma, zap_pte_range, zap_writes, zapped_in
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "madvise"


def shared_vma(k: Kernel, ops: Ops, s: Read, m: int, v: int) -> Expr:
    """(mm, va) is a shared file mapping. mremap and MADV_DONTNEED of a MAP_PRIVATE VMA
    (kernel/cow.py: its COW'd anonymous page would move, or be discarded back to the file
    page) are not modelled, so those paths leave such VMAs alone."""
    if not k.cfg.private:
        return ops.const(True)
    return ops.not_(O.is_in(ops, s[k.vprot[m, v]], list(PRIVATE_PROTS)))


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    if "madvise" not in cfg.events:
        return
    where = lambda a: cfg.allows(a.c, "madvise")  # noqa: E731
    pending = cfg.mode != "none" and cfg.point("madvise_batched_pending")
    range_flush = cfg.point("madvise_tlb_flush")
    luf_vma = cfg.luf and cfg.point("v12_madvise_tlb_end_vma")
    force = cfg.point("madvise_concurrent_force_flush")

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            runs(k, ops, s, a.c, a.m),
            ops.not_(ops.eq(s[k.mmlock[a.m]], ops.const(k.lock_writer))),
            ops.not_(ops.eq(s[k.vma[a.m, a.v]], ops.const(0))),
            shared_vma(k, ops, s, a.m, a.v),
        )

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.mmlock[a.m]] = ops.add(s[k.mmlock[a.m]], ops.const(1))
        w[k.tfp[a.m]] = ops.add(s[k.tfp[a.m]], ops.const(1))
        w[k.rv[a.c]] = ops.const(a.v)
        w[k.ro[a.c]] = ops.sub(s[k.vma[a.m, a.v]], ops.const(1))
        w[k.rx[a.c]] = ops.const(0)
        goto(k, ops, w, a.c, "madvise.zap")

    b.action("madvise", path=PATH, step="MADV_DONTNEED: mmap_read_lock; tlb_gather_mmu (inc_tlb_flush_pending)",
             params={"c": k.cpus, "m": k.mms, "v": k.vas}, guard=start_guard, effect=start,
             writes=["mmap_lock", "tlb_flush_pending", "reg_va", "reg_obj", "reg_kind", "pc"], kind="madvise", where=where)

    def zap_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "madvise.zap"), runs(k, ops, s, a.c, a.m))

    def zap(ops: Ops, s: Read, a: Args, w: Write) -> None:
        zap_pte_range(k, ops, s, w, a.c, a.m, pending=pending)
        # Every translation of (mm, va) cached now is stale: this call must remove it.
        v = s[k.rv[a.c]]
        for va in k.vas:
            here = ops.eq(v, ops.const(va))
            for c2 in k.cpus:
                cached = ops.not_(ops.eq(w.get(k.tlb[c2, a.m, va]), ops.const(0)))
                w[k.dnowed[c2, a.m, va, a.c]] = ops.ite(here, cached, s[k.dnowed[c2, a.m, va, a.c]])
        goto(k, ops, w, a.c, "madvise.flush")

    b.action("madvise.zap", path="zap_pte_range",
             step=("flush_tlb_batched_pending, " if pending else "") + "clear the PTE (PTL)",
             params={"c": k.cpus, "m": k.mms}, guard=zap_guard, effect=zap,
             writes=zap_writes(k, pending=pending) + ["dontneed_owed", "pc"], kind="madvise", where=where)

    def flush_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "madvise.flush"), runs(k, ops, s, a.c, a.m))

    def flush(ops: Ops, s: Read, a: Args, w: Write) -> None:
        tlb_end_vma(k, ops, s, w, a.c, a.m, range_flush=range_flush, luf_vma=luf_vma)
        if force:
            nested = ops.lt(ops.const(1), s[k.tfp[a.m]])
            flush_mm(k, ops, w, a.m, nested)
            arch_dsb(k, ops, w, a.c, nested)
        w[k.tfp[a.m]] = ops.sub(s[k.tfp[a.m]], ops.const(1))
        w[k.mmlock[a.m]] = ops.sub(s[k.mmlock[a.m]], ops.const(1))
        # Returned: an entry this call owed and did not remove is a zapped translation.
        v = s[k.rv[a.c]]
        for va in k.vas:
            here = ops.eq(v, ops.const(va))
            for c2 in k.cpus:
                owed = ops.and_(here, s[k.dnowed[c2, a.m, va, a.c]])
                cached = ops.not_(ops.eq(w.get(k.tlb[c2, a.m, va]), ops.const(0)))
                w[k.dnstale[c2, a.m, va]] = ops.or_(s[k.dnstale[c2, a.m, va]], ops.and_(owed, cached))
                w[k.dnowed[c2, a.m, va, a.c]] = ops.and_(ops.not_(here), s[k.dnowed[c2, a.m, va, a.c]])
        for reg in (k.rv, k.ro, k.rx):
            w[reg[a.c]] = ops.const(0)
        goto(k, ops, w, a.c, "user")

    what = [x for x, on in (("flush of the zapped range", range_flush), ("luf_flush_vma", luf_vma)) if on]
    finish = "tlb_finish_mmu: " + ("flush_tlb_mm if another gather is in flight, " if force else "") + "free the page"
    writes = ["gather_refs", "reg_frame", "tlb_flush_pending", "mmap_lock", "dontneed_owed", "dontneed_stale",
              "reg_va", "reg_obj", "reg_kind", "pc"]
    writes += end_vma_writes(k, range_flush=range_flush, luf_vma=luf_vma)
    if force:
        writes += list(MM_FLUSH_WRITES) + arch_dsb_writes(k)

    def emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        return luf_vma_events(k, ops, s, a.c, a.m, ops.and_(ops.const(range_flush), zapped_in(k, ops, s, a.c)))
    b.action("madvise.flush", path="tlb_finish_mmu",
             step=f"tlb_end_vma: {', '.join(what) or 'no flush'}; {finish}; mmap_read_unlock",
             params={"c": k.cpus, "m": k.mms}, guard=flush_guard, effect=flush, emit=emit if luf_vma else None,
             writes=sorted(set(writes)), kind="madvise", where=where)

