"""mprotect, munmap and mmap (including MAP_FIXED over a mapped range).

All three take the mmap lock for write, so faults of the same mm cannot run in between.

* mprotect: the VMA's protection changes; ``change_pte_range`` under the PTL calls
  ``flush_tlb_batched_pending`` and write-protects the PTE (to read-only; a shared file
  mapping made writable keeps its PTE read-only for dirty tracking); ``tlb_end_vma``
  flushes the range (if a PTE was write-protected) and, in v12, ``luf_flush_vma``.
* munmap: the VMA is detached; ``zap_pte_range`` under the PTL calls
  ``flush_tlb_batched_pending`` and clears the PTE; the mmu_gather flush covers the range
  only if a present PTE was zapped (a LUF'd PTE is already none: scenario L1), then v12's
  ``luf_flush_vma``.
* mmap: a mapped range is unmapped first (the munmap steps), then the new VMA is linked;
  v10/v11 call ``luf_flush()`` for PROT_WRITE.
"""

from __future__ import annotations

from lufmodel.builder import ModelBuilder
from lufmodel.kernel.config import PROT_RO, PROT_RO_MAYWRITE, PROT_RW
from lufmodel.kernel.flush import (
    FLUSH_WRITES,
    MM_FLUSH_WRITES,
    PAGE_FLUSH_WRITES,
    batched_pending,
    flush_cpus,
    flush_page,
    gated,
    luf_all_mask,
    luf_flush_vma,
)
from lufmodel.kernel.state import Kernel, at, goto, goto_if, pick, put, runs
from lufmodel.model import Args, Read, Write
from lufmodel.ops import Expr, Ops

MAP_FIXED = 1  # reg_kind bit: continue with mmap.install after the unmap
ZAPPED = 2  # reg_kind bit: a present PTE was zapped, so the range must be flushed


def _release(k: Kernel, ops: Ops, w: Write, c: int, m: int) -> None:
    w[k.mmlock[m]] = ops.const(0)
    for reg in (k.rv, k.ro, k.rx, k.rt):
        w[reg[c]] = ops.const(0)
    goto(k, ops, w, c, "user")


def _fence(range_flush: bool, luf_flush: bool) -> list[str]:
    flushes = list(FLUSH_WRITES) if luf_flush else list(PAGE_FLUSH_WRITES) if range_flush else []
    return ["mmap_lock", "reg_va", "reg_obj", "reg_kind", "reg_target", "pc"] + flushes


def add(k: Kernel, b: ModelBuilder) -> None:
    add_mprotect(k, b)
    add_munmap(k, b)
    add_mmap(k, b)


def add_mprotect(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    where = lambda a: cfg.allows(a.c, "mprotect")  # noqa: E731
    pending = cfg.mode != "none" and cfg.point("mprotect_batched_pending")
    range_flush = cfg.point("mprotect_tlb_flush")
    luf_vma = cfg.luf and cfg.point("v12_mprotect_tlb_end_vma")

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        prot = s[k.vprot[a.m, a.v]]
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            runs(k, ops, s, a.c, a.m),
            ops.eq(s[k.mmlock[a.m]], ops.const(0)),
            ops.not_(ops.eq(s[k.vma[a.m, a.v]], ops.const(0))),
            ops.not_(ops.eq(prot, ops.const(PROT_RO))),
            ops.not_(ops.eq(prot, ops.const(a.prot))),
        )

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.mmlock[a.m]] = ops.const(k.lock_writer)
        w[k.vprot[a.m, a.v]] = ops.const(a.prot)
        w[k.rv[a.c]] = ops.const(a.v)
        w[k.ro[a.c]] = ops.sub(s[k.vma[a.m, a.v]], ops.const(1))
        w[k.rx[a.c]] = ops.const(a.prot)
        goto(k, ops, w, a.c, "mprotect.pte")

    b.action("mprotect", path="mprotect", step="mmap_write_lock, change the VMA's protection",
             params={"c": k.cpus, "m": k.mms, "v": k.vas, "prot": (PROT_RO_MAYWRITE, PROT_RW)},
             guard=start_guard, effect=start,
             writes=["mmap_lock", "vma_prot", "reg_va", "reg_obj", "reg_kind", "pc"], kind="mprotect", where=where)

    def pte_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "mprotect.pte"), runs(k, ops, s, a.c, a.m))

    def pte(ops: Ops, s: Read, a: Args, w: Write) -> None:
        if pending:
            batched_pending(k, ops, s, w, a.m)
        to_ro = ops.eq(s[k.rx[a.c]], ops.const(PROT_RO_MAYWRITE))
        put(ops, w, [k.ptew[a.m, va] for va in k.vas], s[k.rv[a.c]], ops.const(False), when=to_ro)
        goto(k, ops, w, a.c, "mprotect.flush")

    b.action("mprotect.pte", path="change_pte_range",
             step=("flush_tlb_batched_pending, " if pending else "") + "write-protect the PTE (PTL)",
             params={"c": k.cpus, "m": k.mms}, guard=pte_guard, effect=pte,
             writes=["pte_w", "pc"] + (list(MM_FLUSH_WRITES) + ["mm_flush_batched"] if pending else []),
             kind="mprotect", where=where)

    def flush_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "mprotect.flush"), runs(k, ops, s, a.c, a.m))

    def flush(ops: Ops, s: Read, a: Args, w: Write) -> None:
        if range_flush:
            to_ro = ops.eq(s[k.rx[a.c]], ops.const(PROT_RO_MAYWRITE))
            flush_page(k, ops, w, a.m, s[k.rv[a.c]], to_ro)
        if luf_vma:
            luf_flush_vma(k, ops, w, a.m, s[k.ro[a.c]])
        _release(k, ops, w, a.c, a.m)

    what = ", ".join(x for x, on in (("flush_tlb_range", range_flush), ("luf_flush_vma", luf_vma)) if on) or "no flush"
    b.action("mprotect.flush", path="tlb_end_vma", step=f"{what}; mmap_write_unlock",
             params={"c": k.cpus, "m": k.mms}, guard=flush_guard, effect=flush,
             writes=_fence(range_flush, luf_vma), kind="mprotect", where=where)


def add_munmap(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    kinds = ("munmap", "mmap")
    where = lambda a: any(cfg.allows(a.c, x) for x in kinds)  # noqa: E731
    pending = cfg.mode != "none" and cfg.point("munmap_batched_pending")
    range_flush = cfg.point("munmap_tlb_flush")
    luf_vma = cfg.luf and cfg.point("v12_munmap_tlb_end_vma")

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            runs(k, ops, s, a.c, a.m),
            ops.eq(s[k.mmlock[a.m]], ops.const(0)),
            ops.not_(ops.eq(s[k.vma[a.m, a.v]], ops.const(0))),
        )

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.mmlock[a.m]] = ops.const(k.lock_writer)
        w[k.ro[a.c]] = ops.sub(s[k.vma[a.m, a.v]], ops.const(1))
        w[k.vma[a.m, a.v]] = ops.const(0)
        w[k.vprot[a.m, a.v]] = ops.const(PROT_RO)
        w[k.rv[a.c]] = ops.const(a.v)
        goto(k, ops, w, a.c, "munmap.zap")

    b.action("munmap", path="munmap", step="mmap_write_lock, detach the VMA",
             params={"c": k.cpus, "m": k.mms, "v": k.vas}, guard=start_guard, effect=start,
             writes=["mmap_lock", "reg_obj", "vma", "vma_prot", "reg_va", "pc"], kind="munmap",
             where=lambda a: cfg.allows(a.c, "munmap"))

    def zap_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "munmap.zap"), runs(k, ops, s, a.c, a.m))

    def zap(ops: Ops, s: Read, a: Args, w: Write) -> None:
        if pending:
            batched_pending(k, ops, s, w, a.m)
        v = s[k.rv[a.c]]
        present = ops.not_(ops.eq(pick(ops, v, [s[k.pte[a.m, va]] for va in k.vas]), ops.const(0)))
        put(ops, w, [k.pte[a.m, va] for va in k.vas], v, ops.const(0))
        put(ops, w, [k.ptew[a.m, va] for va in k.vas], v, ops.const(False))
        put(ops, w, [k.pted[a.m, va] for va in k.vas], v, ops.const(False))
        # mmu_gather keeps a reference to the page until the flush (tlb_remove_page).
        old = ops.sub(pick(ops, v, [s[k.pte[a.m, va]] for va in k.vas]), ops.const(1))
        refs = pick(ops, old, [s[k.frefs[p]] for p in k.frames])
        put(ops, w, [k.frefs[p] for p in k.frames], old, ops.add(refs, ops.const(1)), when=present)
        w[k.rp[a.c]] = ops.ite(present, old, s[k.rp[a.c]])
        w[k.rx[a.c]] = ops.ite(present, ops.add(s[k.rx[a.c]], ops.const(ZAPPED)), s[k.rx[a.c]])
        goto(k, ops, w, a.c, "munmap.flush")

    b.action("munmap.zap", path="zap_pte_range",
             step=("flush_tlb_batched_pending, " if pending else "") + "clear the PTE (PTL)",
             params={"c": k.cpus, "m": k.mms}, guard=zap_guard, effect=zap,
             writes=["pte", "pte_w", "pte_dirty", "gather_refs", "reg_frame", "reg_kind", "pc"] + (list(MM_FLUSH_WRITES) + ["mm_flush_batched"] if pending else []),
             kind="munmap", where=where)

    def flush_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "munmap.flush"), runs(k, ops, s, a.c, a.m))

    def flush(ops: Ops, s: Read, a: Args, w: Write) -> None:
        rx = s[k.rx[a.c]]
        if range_flush:
            flush_page(k, ops, w, a.m, s[k.rv[a.c]], ops.not_(ops.lt(rx, ops.const(ZAPPED))))
        if luf_vma:
            luf_flush_vma(k, ops, w, a.m, s[k.ro[a.c]])
        zapped = ops.not_(ops.lt(rx, ops.const(ZAPPED)))
        p = s[k.rp[a.c]]
        refs = pick(ops, p, [s[k.frefs[q]] for q in k.frames])
        put(ops, w, [k.frefs[q] for q in k.frames], p, ops.sub(refs, ops.const(1)), when=zapped)
        w[k.rp[a.c]] = ops.const(0)
        fixed = ops.or_(ops.eq(rx, ops.const(MAP_FIXED)), ops.eq(rx, ops.const(MAP_FIXED + ZAPPED)))
        w[k.mmlock[a.m]] = ops.ite(fixed, s[k.mmlock[a.m]], ops.const(0))
        for reg in (k.rv, k.rt):
            w[reg[a.c]] = ops.ite(fixed, s[reg[a.c]], ops.const(0))
        w[k.ro[a.c]] = ops.const(0)
        w[k.rx[a.c]] = ops.const(0)
        goto_if(k, ops, w, a.c, fixed, "mmap.install", "user")

    what = ", ".join(x for x, on in (("tlb_finish_mmu flush of the zapped range", range_flush), ("luf_flush_vma", luf_vma)) if on) or "no flush"
    b.action("munmap.flush", path="tlb_end_vma", step=f"{what}; release the gathered page; unlock (or go on with MAP_FIXED)",
             params={"c": k.cpus, "m": k.mms}, guard=flush_guard, effect=flush,
             writes=_fence(range_flush, luf_vma) + ["gather_refs", "reg_frame"], kind="munmap", where=where)


def add_mmap(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    targets = cfg.mmap_targets
    if not targets:
        return
    where = lambda a: cfg.allows(a.c, "mmap")  # noqa: E731
    v11 = cfg.luf and cfg.point("v11_mmap_write")

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "user"), runs(k, ops, s, a.c, a.m), ops.eq(s[k.mmlock[a.m]], ops.const(0)))

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        vma = s[k.vma[a.m, a.v]]
        mapped = ops.not_(ops.eq(vma, ops.const(0)))
        w[k.mmlock[a.m]] = ops.const(k.lock_writer)
        w[k.rv[a.c]] = ops.const(a.v)
        w[k.rt[a.c]] = ops.const(a.t)
        w[k.ro[a.c]] = ops.ite(mapped, ops.sub(vma, ops.const(1)), ops.const(0))
        w[k.vma[a.m, a.v]] = ops.const(0)
        w[k.vprot[a.m, a.v]] = ops.const(PROT_RO)
        w[k.rx[a.c]] = ops.ite(mapped, ops.const(MAP_FIXED), ops.const(0))
        goto_if(k, ops, w, a.c, mapped, "munmap.zap", "mmap.install")

    b.action("mmap", path="do_mmap", step="mmap_write_lock; MAP_FIXED over a mapping: detach it, unmap first",
             params={"c": k.cpus, "m": k.mms, "v": k.vas, "t": range(len(targets))}, guard=start_guard, effect=start,
             writes=["mmap_lock", "reg_va", "reg_target", "reg_obj", "vma", "vma_prot", "reg_kind", "pc"],
             kind="mmap", where=where)

    def install_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "mmap.install"), runs(k, ops, s, a.c, a.m))

    def install(ops: Ops, s: Read, a: Args, w: Write) -> None:
        t, v = s[k.rt[a.c]], s[k.rv[a.c]]
        obj = pick(ops, t, [ops.const(x.file * cfg.offsets + x.offset + 1) for x in targets])
        prot = pick(ops, t, [ops.const(x.prot) for x in targets])
        put(ops, w, [k.vma[a.m, va] for va in k.vas], v, obj)
        put(ops, w, [k.vprot[a.m, va] for va in k.vas], v, prot)
        if v11:
            flush_cpus(k, ops, w, gated(ops, luf_all_mask(k, ops, w), ops.eq(prot, ops.const(PROT_RW))))
        _release(k, ops, w, a.c, a.m)

    b.action("mmap.install", path="do_mmap", step="vma_link: install the new VMA" + ("; PROT_WRITE: luf_flush()" if v11 else "") + "; mmap_write_unlock",
             params={"c": k.cpus, "m": k.mms}, guard=install_guard, effect=install,
             writes=["vma", "vma_prot"] + _fence(False, v11), kind="mmap", where=where)
