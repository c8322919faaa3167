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
from lufmodel.kernel import lufbatch
from lufmodel.kernel.flush import (
    FLUSH_WRITES,
    MM_FLUSH_WRITES,
    PAGE_FLUSH_WRITES,
    arch_dsb,
    arch_dsb_writes,
    batched_pending,
    batched_pending_writes,
    flush_cpus,
    flush_mm,
    flush_page,
    gated,
    luf_all_mask,
    luf_flush_events,
    luf_flush_vma,
    luf_flush_writes,
)
from lufmodel.kernel.state import Kernel, at, goto, goto_if, pick, put, runs
from lufmodel.model import Args, Event, Read, Write
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
            batched_pending(k, ops, s, w, a.m, a.c)
        to_ro = ops.eq(s[k.rx[a.c]], ops.const(PROT_RO_MAYWRITE))
        put(ops, w, [k.ptew[a.m, va] for va in k.vas], s[k.rv[a.c]], ops.const(False), when=to_ro)
        goto(k, ops, w, a.c, "mprotect.flush")

    b.action("mprotect.pte", path="change_pte_range",
             step=("flush_tlb_batched_pending, " if pending else "") + "write-protect the PTE (PTL)",
             params={"c": k.cpus, "m": k.mms}, guard=pte_guard, effect=pte,
             writes=["pte_w", "pc"] + (batched_pending_writes(k) if pending else []),
             kind="mprotect", where=where)

    def flush_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "mprotect.flush"), runs(k, ops, s, a.c, a.m))

    def flush(ops: Ops, s: Read, a: Args, w: Write) -> None:
        if range_flush:
            to_ro = ops.eq(s[k.rx[a.c]], ops.const(PROT_RO_MAYWRITE))
            flush_page(k, ops, w, a.m, s[k.rv[a.c]], to_ro)
            arch_dsb(k, ops, w, a.c, to_ro)
        if luf_vma:
            luf_flush_vma(k, ops, w, a.m, s[k.ro[a.c]])
        _release(k, ops, w, a.c, a.m)

    what = ", ".join(x for x, on in (("flush_tlb_range", range_flush), ("luf_flush_vma", luf_vma)) if on) or "no flush"
    def flush_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        to_ro = ops.eq(s[k.rx[a.c]], ops.const(PROT_RO_MAYWRITE))
        return luf_vma_events(k, ops, s, a.c, a.m, ops.and_(ops.const(range_flush), to_ro))

    b.action("mprotect.flush", path="tlb_end_vma", step=f"{what}; mmap_write_unlock",
             params={"c": k.cpus, "m": k.mms}, guard=flush_guard, effect=flush,
             emit=flush_emit if luf_vma else None,
             writes=_fence(False, False) + end_vma_writes(k, range_flush=range_flush, luf_vma=luf_vma),
             kind="mprotect", where=where)


def add_munmap(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    kinds = ("munmap", "mmap", "mremap")  # mmap (MAP_FIXED) and mremap unmap an old range
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
        zap_pte_range(k, ops, s, w, a.c, a.m, pending=pending)
        goto(k, ops, w, a.c, "munmap.flush")

    b.action("munmap.zap", path="zap_pte_range",
             step=("flush_tlb_batched_pending, " if pending else "") + "clear the PTE (PTL)",
             params={"c": k.cpus, "m": k.mms}, guard=zap_guard, effect=zap,
             writes=zap_writes(k, pending=pending) + ["pc"],
             kind="munmap", where=where)

    def flush_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "munmap.flush"), runs(k, ops, s, a.c, a.m))

    def flush(ops: Ops, s: Read, a: Args, w: Write) -> None:
        rx = s[k.rx[a.c]]
        tlb_end_vma(k, ops, s, w, a.c, a.m, range_flush=range_flush, luf_vma=luf_vma)
        if nested_gathers(k):  # munmap's own gather is not counted in tlb_flush_pending
            flush_mm(k, ops, w, a.m, ops.lt(ops.const(0), s[k.tfp[a.m]]))
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
             emit=(lambda ops, s, a: luf_vma_events(k, ops, s, a.c, a.m, ops.and_(ops.const(range_flush), zapped_in(k, ops, s, a.c))))
             if luf_vma else None,
             writes=_fence(False, False) + end_vma_writes(k, range_flush=range_flush, luf_vma=luf_vma) + ["gather_refs", "reg_frame"]
             + (list(MM_FLUSH_WRITES) if nested_gathers(k) else []),
             kind="munmap", where=where)


def zap_pte_range(k: Kernel, ops: Ops, s: Read, w: Write, c: int, m: int, *, pending: bool, when: Expr | None = None) -> None:
    """``zap_pte_range()`` of (mm ``m``, ``reg_va``) under the PTL, shared by munmap and
    MADV_DONTNEED: ``flush_tlb_batched_pending`` (if ``pending``), clear the PTE; the
    mmu_gather keeps a reference to a zapped page until its flush (``tlb_remove_page``),
    recorded in ``reg_frame`` and the ZAPPED bit of ``reg_kind``. Writes ``zap_writes``.
    With ``when`` (unmap_mapping_range's zap of one file page, kernel/truncate.py) the PTE is
    cleared only if ``when`` holds."""
    if pending:
        batched_pending(k, ops, s, w, m, c)
    v = s[k.rv[c]]
    present = ops.not_(ops.eq(pick(ops, v, [s[k.pte[m, va]] for va in k.vas]), ops.const(0)))
    if when is not None:
        present = ops.and_(when, present)
    put(ops, w, [k.pte[m, va] for va in k.vas], v, ops.const(0), when=when)
    put(ops, w, [k.ptew[m, va] for va in k.vas], v, ops.const(False), when=when)
    put(ops, w, [k.pted[m, va] for va in k.vas], v, ops.const(False), when=when)
    if "migrate" in k.cfg.events:  # zap_nonpresent_ptes: a migration entry is cleared too
        put(ops, w, [k.pmig[m, va] for va in k.vas], v, ops.const(0), when=when)
    if _dirty_flush(k):
        # zap_present_folio_ptes: a dirty file PTE sets force_flush, and zap_pte_range
        # flushes before it drops the PTL (5df397dec7c4), so folio_mkclean, serialised on
        # the PTL, cannot clean the folio under a live writable TLB entry.
        dirty = pick(ops, v, [s[k.pted[m, va]] for va in k.vas])
        flush_page(k, ops, w, m, v, dirty if when is None else ops.and_(when, dirty))
    old = ops.sub(pick(ops, v, [s[k.pte[m, va]] for va in k.vas]), ops.const(1))
    refs = pick(ops, old, [s[k.frefs[p]] for p in k.frames])
    put(ops, w, [k.frefs[p] for p in k.frames], old, ops.add(refs, ops.const(1)), when=present)
    w[k.rp[c]] = ops.ite(present, old, s[k.rp[c]])
    w[k.rx[c]] = ops.ite(present, ops.add(s[k.rx[c]], ops.const(ZAPPED)), s[k.rx[c]])


def _dirty_flush(k: Kernel) -> bool:
    """The force_flush of a zapped dirty PTE, modelled only where it is observed: writeback,
    and a page-cache removal (truncate, invalidate: kernel/truncate.py), which must not leave
    a writable entry to the removed folio, and MADV_DONTNEED (kernel/madvise.py), which
    releases the page right after its flush."""
    return bool(({"writeback", "madvise"} | UNMAP_MAPPING) & k.cfg.events) and k.cfg.point("zap_dirty_flush")


UNMAP_MAPPING = frozenset({"truncate", "invalidate", "filelock"})
"""Event kinds that run ``unmap_mapping_range`` (kernel/truncate.py): its gathers run with no
mmap lock, so munmap's ``tlb_finish_mmu`` can meet one in flight (``tlb_flush_pending``)."""


def nested_gathers(k: Kernel) -> bool:
    """``tlb_finish_mmu`` flushes the whole mm when another mmu_gather of it is in flight
    (``mm_tlb_flush_nested``, 99baac21e458): modelled for munmap when an
    ``unmap_mapping_range`` can run concurrently with it."""
    return bool(UNMAP_MAPPING & k.cfg.events) and k.cfg.point("madvise_concurrent_force_flush")


def zap_writes(k: Kernel, *, pending: bool) -> list[str]:
    return (["pte", "pte_w", "pte_dirty", "gather_refs", "reg_frame", "reg_kind"]
            + (list(PAGE_FLUSH_WRITES) if _dirty_flush(k) else [])
            + (batched_pending_writes(k) if pending else [])
            + (["pte_migration"] if "migrate" in k.cfg.events else []))


def tlb_end_vma(k: Kernel, ops: Ops, s: Read, w: Write, c: int, m: int, *, range_flush: bool, luf_vma: bool) -> Expr:
    """After ``zap_pte_range``: ``tlb_end_vma``'s flush of the range if a present PTE was
    zapped (x86 flushes at every VMA end), v12's ``luf_flush_vma``, and the release of the
    gathered page (``tlb_finish_mmu``). Returns whether a PTE was zapped. Writes
    ``gather_refs``, ``reg_frame`` and the flushes' families."""
    zapped = zapped_in(k, ops, s, c)
    if range_flush:
        flush_page(k, ops, w, m, s[k.rv[c]], zapped)
        arch_dsb(k, ops, w, c, zapped)
    if luf_vma:
        luf_flush_vma(k, ops, w, m, s[k.ro[c]])
    p = s[k.rp[c]]
    refs = pick(ops, p, [s[k.frefs[q]] for q in k.frames])
    put(ops, w, [k.frefs[q] for q in k.frames], p, ops.sub(refs, ops.const(1)), when=zapped)
    w[k.rp[c]] = ops.const(k.no_frame)
    return zapped


def zapped_in(k: Kernel, ops: Ops, s: Read, c: int) -> Expr:
    """CPU ``c``'s ``zap_pte_range`` zapped a present PTE (the ZAPPED bit of ``reg_kind``)."""
    return ops.not_(ops.lt(s[k.rx[c]], ops.const(ZAPPED)))


def end_vma_writes(k: Kernel, *, range_flush: bool, luf_vma: bool) -> list[str]:
    """What ``tlb_end_vma``'s flushes write: the range flush (arm64: and its DSB), and
    ``luf_flush_vma``."""
    out = (list(PAGE_FLUSH_WRITES) + arch_dsb_writes(k)) if range_flush else []
    return out + (luf_flush_writes(k) if luf_vma else [])


def luf_vma_events(k: Kernel, ops: Ops, s: Read, c: int, m: int, range_flushed: Expr) -> list[Event]:
    """P5's events for ``tlb_end_vma``'s ``luf_flush_vma`` of (mm ``m``, ``reg_obj``), after a
    range flush of (``m``, ``reg_va``) in the same step if ``range_flushed``."""
    events = luf_flush_events(k, ops, s, mm=ops.const(m), obj=s[k.ro[c]])
    return [lufbatch.after_range_flush(ops, e, m, s[k.rv[c]], range_flushed) for e in events]


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
