"""The page fault: ``handle_mm_fault`` on a shared file mapping, split where locks change.

1. entry: the access faults (no usable TLB entry nor PTE); x86 drops the faulting TLB
   entry; the mmap lock (or VMA lock) is taken for read;
2. ``filemap_fault``: page-cache lookup, folio lock and recheck, or allocation (with the
   LUF take-off flush) and ``filemap_add_folio`` — shared with write(2);
3. ``finish_fault``/``wp_page_shared`` under the PTL: install the PTE (read or write
   fault) or make the present PTE writable (write-protect fault), mark the folio dirty on a
   write, unlock the folio. LUF v11 flushes here when a PTE becomes writable;
4. the end of ``handle_mm_fault``, after the PTL is released: LUF v12's
   ``luf_flush_mapping`` + ``luf_flush_mm`` (if the VMA has VM_WRITE|VM_MAYWRITE or the
   fault is a write), then the mmap lock is released.
"""

from __future__ import annotations

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel.config import PRIVATE_PROTS, PROT_PRIVATE_RW, PROT_RO, PROT_RW
from lufmodel.kernel.flush import FLUSH_WRITES, flush_cpus, gated, luf_all_mask, luf_flush, luf_flush_events, luf_flush_writes
from lufmodel.kernel.pagecache import add_pagecache_steps
from lufmodel.kernel.state import FAULT_GUP, FAULT_GUP_READ, FAULT_READ, FAULT_WP, FAULT_WRITE, Kernel, at, frame_field, frames_of, goto, goto_if, pick, put, runs
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "handle_mm_fault"


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    where = lambda a: cfg.allows(a.c, "fault")  # noqa: E731

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        t, pte = s[k.tlb[a.c, a.m, a.v]], s[k.pte[a.m, a.v]]
        no_entry, no_pte = ops.eq(t, ops.const(0)), ops.eq(pte, ops.const(0))
        if a.write:
            faults = ops.and_(
                ops.not_(ops.and_(ops.not_(no_entry), s[k.tlbw[a.c, a.m, a.v]])),
                ops.not_(ops.and_(ops.not_(no_pte), s[k.ptew[a.m, a.v]])),
            )
            allowed = ops.eq(s[k.vprot[a.m, a.v]], ops.const(PROT_RW))
            if cfg.private:  # a MAP_PRIVATE read-write VMA: copy-on-write (kernel/cow.py)
                allowed = ops.or_(allowed, ops.eq(s[k.vprot[a.m, a.v]], ops.const(PROT_PRIVATE_RW)))
        else:
            faults = ops.and_(no_entry, no_pte)
            allowed = ops.const(True)
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            runs(k, ops, s, a.c, a.m),
            ops.not_(ops.eq(s[k.mmlock[a.m]], ops.const(k.lock_writer))),
            ops.not_(ops.eq(s[k.vma[a.m, a.v]], ops.const(0))),
            allowed,
            faults,
        )

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.tlb[a.c, a.m, a.v]] = ops.const(0)
        w[k.tlbw[a.c, a.m, a.v]] = ops.const(False)
        w[k.tlbo[a.c, a.m, a.v]] = ops.const(0)
        w[k.mmlock[a.m]] = ops.add(s[k.mmlock[a.m]], ops.const(1))
        w[k.rv[a.c]] = ops.const(a.v)
        w[k.ro[a.c]] = ops.sub(s[k.vma[a.m, a.v]], ops.const(1))
        if a.write:
            present = ops.not_(ops.eq(s[k.pte[a.m, a.v]], ops.const(0)))
            w[k.rx[a.c]] = ops.ite(present, ops.const(FAULT_WP), ops.const(FAULT_WRITE))
        else:
            w[k.rx[a.c]] = ops.const(FAULT_READ)
        if a.write and cfg.private:
            goto_if(k, ops, w, a.c, ops.eq(s[k.vprot[a.m, a.v]], ops.const(PROT_PRIVATE_RW)), "cow.start", "fault.lookup")
            return
        goto(k, ops, w, a.c, "fault.lookup")

    b.action("fault", path=PATH, step="page fault: drop the faulting TLB entry, take mmap_lock for read",
             params={"c": k.cpus, "m": k.mms, "v": k.vas, "write": (0, 1)}, guard=start_guard, effect=start,
             writes=["tlb", "tlb_w", "tlb_tag", "mmap_lock", "reg_va", "reg_obj", "reg_kind", "pc"],
             kind="fault", where=where)

    add_pagecache_steps(k, b, prefix="fault", path=PATH, kind="fault", locked="fault.set_pte")

    v11_new = cfg.luf and cfg.point("v11_fault_mkwrite")
    uprobe_gup = cfg.private and "uprobe" in cfg.events
    v11_wp = cfg.luf and cfg.point("v11_wp_page")

    def set_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "fault.set_pte"), runs(k, ops, s, a.c, a.m))

    def _decide(ops: Ops, s: Read, a: Args) -> tuple[Expr, Expr, Expr, Expr]:
        v, p = s[k.rv[a.c]], s[k.rp[a.c]]
        cur = pick(ops, v, [s[k.pte[a.m, va]] for va in k.vas])
        curw = pick(ops, v, [s[k.ptew[a.m, va]] for va in k.vas])
        wr = ops.not_(ops.eq(s[k.rx[a.c]], ops.const(FAULT_READ)))
        if uprobe_gup:  # uprobes' GUP faults for read
            wr = ops.and_(wr, ops.not_(ops.eq(s[k.rx[a.c]], ops.const(FAULT_GUP_READ))))
        install = ops.eq(cur, ops.const(0))
        mkwrite = ops.and_(ops.eq(cur, ops.add(p, ops.const(1))), wr, ops.not_(curw))
        return wr, install, mkwrite, curw

    def set_pte(ops: Ops, s: Read, a: Args, w: Write) -> None:
        v, p = s[k.rv[a.c]], s[k.rp[a.c]]
        wr, install, mkwrite, curw = _decide(ops, s, a)
        if v11_new or v11_wp:
            when = O.any_(ops, ([ops.and_(install, wr)] if v11_new else []) + ([mkwrite] if v11_wp else []))
            flush_cpus(k, ops, w, gated(ops, luf_all_mask(k, ops, w), when))
        put(ops, w, [k.pte[a.m, va] for va in k.vas], v, ops.add(p, ops.const(1)), when=install)
        put(ops, w, [k.ptew[a.m, va] for va in k.vas], v, ops.or_(ops.and_(install, wr), mkwrite, ops.and_(ops.not_(install), curw)))
        made_w = ops.and_(wr, ops.or_(install, mkwrite))
        put(ops, w, [k.pted[a.m, va] for va in k.vas], v, ops.or_(made_w, ops.and_(ops.not_(install), pick(ops, v, [s[k.pted[a.m, va]] for va in k.vas]))))
        dirty = frame_field(k, ops, s, k.fdirty, p)
        put(ops, w, frames_of(k, k.fdirty), p, ops.or_(dirty, ops.and_(wr, ops.or_(install, mkwrite))))
        put(ops, w, frames_of(k, k.flock), p, ops.const(0))
        goto(k, ops, w, a.c, "fault.end")

    def set_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        wr, install, mkwrite, _ = _decide(ops, s, a)
        fields = {"mm": ops.const(a.m), "va": s[k.rv[a.c]], "obj": s[k.ro[a.c]],
                  "writable": ops.or_(ops.and_(install, wr), mkwrite)}
        return [Event("set_pte", ops.or_(install, mkwrite), fields)]

    v11_note = " (v11: luf_flush() when the PTE becomes writable)" if (v11_new or v11_wp) else ""
    b.action("fault.set_pte", path=PATH,
             step="finish_fault/wp_page_shared (PTL): set the PTE or pte_mkwrite, unlock the folio" + v11_note,
             params={"c": k.cpus, "m": k.mms}, guard=set_guard, effect=set_pte, emit=set_emit,
             writes=["pte", "pte_w", "pte_dirty", "frame_dirty", "folio_lock", "pc"] + (list(FLUSH_WRITES) if (v11_new or v11_wp) else []),
             kind="fault", where=where)

    by_mapping = cfg.luf and cfg.point("v12_fault_end_mapping")
    gup_returns = ([(FAULT_GUP, "dma.pin")] if "dma" in cfg.events else []) + ([(FAULT_GUP_READ, "uprobe.gup")] if uprobe_gup else [])
    gup = bool(gup_returns)
    by_mm = cfg.luf and cfg.point("v12_fault_end_mm")

    def end_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "fault.end"), runs(k, ops, s, a.c, a.m))

    def end_flush(ops: Ops, s: Read, a: Args) -> dict[str, Expr]:
        """What the end of handle_mm_fault flushes: luf_flush_mapping (a VM_SHARED file VMA)
        and luf_flush_mm, if the VMA has VM_WRITE|VM_MAYWRITE or the fault is a write."""
        v = s[k.rv[a.c]]
        prot = pick(ops, v, [s[k.vprot[a.m, va]] for va in k.vas])
        wanted = ops.or_(
            ops.not_(ops.eq(prot, ops.const(PROT_RO))),
            ops.not_(ops.eq(s[k.rx[a.c]], ops.const(FAULT_READ))),
        )
        out = {"when": wanted}
        if by_mapping:
            out["obj"] = s[k.ro[a.c]]
            if cfg.private:  # only a VM_SHARED file VMA flushes its mapping's batch
                out["shared"] = ops.not_(O.is_in(ops, prot, list(PRIVATE_PROTS)))
        if by_mm:
            out["mm"] = ops.const(a.m)
        return out

    def end(ops: Ops, s: Read, a: Args, w: Write) -> None:
        if by_mapping or by_mm:
            luf_flush(k, ops, w, **end_flush(ops, s, a))
        if gup:
            # A fault taken by GUP (faultin_page) returns to follow_page under GUP's mmap lock.
            returns = [(ops.eq(s[k.rx[a.c]], ops.const(code)), step) for code, step in gup_returns]
            by_gup = O.any_(ops, [hit for hit, _ in returns])
            w[k.mmlock[a.m]] = ops.ite(by_gup, s[k.mmlock[a.m]], ops.sub(s[k.mmlock[a.m]], ops.const(1)))
            for reg in (k.rv, k.ro):
                w[reg[a.c]] = ops.ite(by_gup, s[reg[a.c]], ops.const(0))
            for reg in (k.rp, k.rx):
                w[reg[a.c]] = ops.const(k.idle(reg))
            target = ops.const(k.pcs["user"])
            for hit, step in reversed(returns):
                target = ops.ite(hit, ops.const(k.pcs[step]), target)
            w[k.pc[a.c]] = target
            return
        w[k.mmlock[a.m]] = ops.sub(s[k.mmlock[a.m]], ops.const(1))
        for reg in (k.rv, k.ro, k.rp, k.rx):
            w[reg[a.c]] = ops.const(k.idle(reg))
        goto(k, ops, w, a.c, "user")

    v12_note = ": luf_flush_mapping + luf_flush_mm (VM_WRITE|VM_MAYWRITE or write)" if (by_mapping or by_mm) else ""
    unlock = ", mmap_unlock (a GUP fault: back to follow_page, mmap lock kept)" if gup else ", mmap_unlock"
    b.action("fault.end", path=PATH, step="end of handle_mm_fault" + v12_note + unlock,
             params={"c": k.cpus, "m": k.mms}, guard=end_guard, effect=end,
             emit=(lambda ops, s, a: luf_flush_events(k, ops, s, **end_flush(ops, s, a))) if (by_mapping or by_mm) else None,
             writes=["mmap_lock", "reg_va", "reg_obj", "reg_frame", "reg_kind", "pc"] + (luf_flush_writes(k) if (by_mapping or by_mm) else []),
             kind="fault", where=where)
