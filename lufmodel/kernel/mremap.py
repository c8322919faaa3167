"""mremap(MREMAP_MAYMOVE) of one page to an unmapped address of the same mm.

The kernel (mm/mremap.c ``move_vma``) holds the mmap lock for write throughout, so faults,
madvise and the other VMA operations of the mm cannot run in between; reclaim, the MMU and
other CPUs' user code can.

1. ``mremap``: mmap_write_lock; ``copy_vma`` links the new VMA (same file page, same
   protection) at the new address;
2. ``mremap.move``: ``move_ptes`` takes the old PTL and, if it is another lock, the new
   PTL nested in it, and holds both to the end: ``flush_tlb_batched_pending``, the PTE moves
   (the old one cleared, the new one set: ``set_pte``; a non-present migration entry moves
   too), and ``flush_tlb_range`` of the old address if a present PTE moved, *before* the
   PTLs are dropped (eb66ae030829: the new PTL keeps the page valid until the old
   translation is flushed). Nothing is dropped or retaken inside, so this is one step
   whether the two addresses share a page table (one PTL, the usual case for neighbouring
   pages) or not. A same-offset move has ``need_rmap_locks`` (copy_vma: the new VMA may come
   first in rmap order), so ``take_rmap_locks`` holds i_mmap_rwsem for write: an rmap walk
   of the file (reclaim, migration, folio_mkclean), which holds it for read throughout, is
   never half-way — else the walk could visit the new address before the PTE arrives and the
   old one after it left, and free a mapped page. Then ``do_vmi_munmap`` of the old range
   detaches the old VMA;
3. the old range's unmap is munmap's own ``zap_pte_range`` → ``tlb_end_vma`` →
   ``tlb_finish_mmu`` (``munmap.zap``, ``munmap.flush``, with munmap's flush points: it
   is the same kernel code), which finds the old PTE empty, then mmap_write_unlock.

P4 holds after the return through the existing machinery: the old address has no VMA, so
any access through a translation cached for it is a violation once no fence step of it is
in flight (``mremap.move`` is in ``FENCE_STEPS``).
"""

from __future__ import annotations

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel.config import PROT_RO
from lufmodel.kernel.flush import PAGE_FLUSH_WRITES, arch_dsb, arch_dsb_writes, batched_pending, batched_pending_writes, flush_page
from lufmodel.kernel.madvise import shared_vma
from lufmodel.kernel.state import Kernel, at, goto, pick, put, runs
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "mremap"


def _walk_index(step: str) -> int:
    """The (mm, va) index of an rmap-walk step (``reclaim.unmap.3`` → 3), else -1. Every rmap
    walk of the model is a chain of steps ``{path}.{walk}.{i}`` over ``Kernel.rmap()``."""
    last = step.rsplit(".", 1)[-1]
    return int(last) if step.count(".") == 2 and last.isdigit() else -1


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    if "mremap" not in cfg.events:
        return

    def where(a: Args) -> bool:
        return cfg.allows(a.c, "mremap")
    pending = cfg.mode != "none" and cfg.point("mremap_batched_pending")
    range_flush = cfg.point("mremap_tlb_flush")
    migrating = "migrate" in cfg.events

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            runs(k, ops, s, a.c, a.m),
            ops.eq(s[k.mmlock[a.m]], ops.const(0)),
            ops.not_(ops.eq(s[k.vma[a.m, a.v]], ops.const(0))),
            ops.eq(s[k.vma[a.m, a.to]], ops.const(0)),
            shared_vma(k, ops, s, a.m, a.v),
        )

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.mmlock[a.m]] = ops.const(k.lock_writer)
        w[k.vma[a.m, a.to]] = s[k.vma[a.m, a.v]]
        w[k.vprot[a.m, a.to]] = s[k.vprot[a.m, a.v]]
        w[k.rv[a.c]] = ops.const(a.v)
        w[k.rx[a.c]] = ops.const(a.to)  # the new address, until move_ptes
        w[k.ro[a.c]] = ops.sub(s[k.vma[a.m, a.v]], ops.const(1))
        goto(k, ops, w, a.c, "mremap.move")

    b.action("mremap", path=PATH, step="mmap_write_lock; copy_vma: link the new VMA at the new address",
             params={"c": k.cpus, "m": k.mms, "v": k.vas, "to": k.vas}, guard=start_guard, effect=start,
             writes=["mmap_lock", "vma", "vma_prot", "reg_va", "reg_kind", "reg_obj", "pc"], kind="mremap",
             where=lambda a: a.v != a.to and where(a))

    # take_rmap_locks: an rmap walk (i_mmap_lock_read for all of it) is not half-way.
    mid_walk = [i for name, i in k.pcs.items() if _walk_index(name) >= 1]

    def move_guard(ops: Ops, s: Read, a: Args) -> Expr:
        walking = [ops.eq(s[k.pc[c]], ops.const(i)) for c in k.cpus for i in mid_walk]
        return ops.and_(at(k, ops, s, a.c, "mremap.move"), runs(k, ops, s, a.c, a.m),
                        ops.not_(O.any_(ops, walking)))

    def _old(ops: Ops, s: Read, a: Args) -> tuple[Expr, Expr, Expr, Expr]:
        v, to = s[k.rv[a.c]], s[k.rx[a.c]]
        old = pick(ops, v, [s[k.pte[a.m, va]] for va in k.vas])
        return v, to, old, pick(ops, v, [s[k.ptew[a.m, va]] for va in k.vas])

    def move(ops: Ops, s: Read, a: Args, w: Write) -> None:
        if pending:
            batched_pending(k, ops, s, w, a.m, a.c)
        v, to, old, oldw = _old(ops, s, a)
        oldd = pick(ops, v, [s[k.pted[a.m, va]] for va in k.vas])
        present = ops.not_(ops.eq(old, ops.const(0)))
        moves = [(k.pte, old, ops.const(0)), (k.ptew, oldw, ops.const(False)), (k.pted, oldd, ops.const(False))]
        if migrating:
            moves.append((k.pmig, pick(ops, v, [s[k.pmig[a.m, va]] for va in k.vas]), ops.const(0)))
        for arr, value, empty in moves:
            row = [arr[a.m, va] for va in k.vas]
            put(ops, w, row, to, value)
            put(ops, w, row, v, empty)
        if range_flush:
            flush_page(k, ops, w, a.m, v, present)
            arch_dsb(k, ops, w, a.c, present)
        # do_vmi_munmap(old range): detach the old VMA, then munmap's zap and flush.
        put(ops, w, [k.vma[a.m, va] for va in k.vas], v, ops.const(0))
        put(ops, w, [k.vprot[a.m, va] for va in k.vas], v, ops.const(PROT_RO))
        w[k.rx[a.c]] = ops.const(0)
        goto(k, ops, w, a.c, "munmap.zap")

    def move_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        _, to, old, oldw = _old(ops, s, a)
        present = ops.not_(ops.eq(old, ops.const(0)))
        fields = {"mm": ops.const(a.m), "va": to, "obj": s[k.ro[a.c]], "writable": oldw}
        return [Event("set_pte", present, fields)]

    what = ", ".join(x for x, on in (("flush_tlb_batched_pending", pending), ("move the PTE", True),
                                     ("flush_tlb_range if it was present", range_flush)) if on)
    writes = ["pte", "pte_w", "pte_dirty", "vma", "vma_prot", "reg_kind", "pc"]
    if pending:
        writes += batched_pending_writes(k)
    if range_flush:
        writes += list(PAGE_FLUSH_WRITES) + arch_dsb_writes(k)
    if migrating:
        writes += ["pte_migration"]
    b.action("mremap.move", path="move_ptes",
             step=f"(old and new PTL) {what}; do_vmi_munmap: detach the old VMA",
             params={"c": k.cpus, "m": k.mms}, guard=move_guard, effect=move, emit=move_emit,
             writes=sorted(set(writes)), kind="mremap", where=where)
