"""The truncate.c family (reference §2 row 16): a hole punched in a file page, and
``invalidate_inode_pages2`` of a file.

**Hole punch** of one page, as ext4 and xfs do it (``fallocate(PUNCH_HOLE)`` under the inode
lock and the file's ``invalidate_lock``, which keeps faults and write(2) from creating a
folio of the file until the hole is in place):

1. ``truncate``: take the ``invalidate_lock`` (after any folio creation in flight);
2. ``truncate_pagecache_range`` → ``unmap_mapping_range``: for each VMA that maps the page
   (the i_mmap walk, in rmap order), ``zap_page_range_single``: ``truncate.zap.{m}``
   (``tlb_gather_mmu``, then under the PTL of its mm ``zap_pte_range``:
   ``flush_tlb_batched_pending``, the PTE of the page is cleared, flushed at once if dirty,
   and the mmu_gather takes a reference), then ``truncate.gather.{m}`` (``tlb_end_vma``:
   the flush of a zapped PTE, v12's ``luf_flush_vma``; ``tlb_finish_mmu``: the whole mm if
   another gather of it is in flight, the reference dropped). munmap's step functions
   (kernel/vma.py); these gathers hold no mmap lock, so munmap's ``tlb_finish_mmu`` checks
   for them too;
3. ``truncate_inode_pages_range``: look the folio up; lock it and re-check it is still in
   the page cache (else look again); if a fault mapped it meanwhile, unmap it again under the
   folio lock (``truncate_cleanup_folio``: the same zap steps); remove it under the xa_lock:
   the slot empties, the frame is freed (or stays isolated while another task's mmu_gather
   or a GUP pin still holds it; the model does not free it later);
4. v12: ``luf_flush_mapping`` at the END of ``truncate_inode_pages_range`` (16/26, 20/26;
   also when the mapping was empty: ``goto out``);
5. the filesystem frees the blocks: the page reads zeros, a new committed version on disk
   (``content_change``), known to the punching task; the ``invalidate_lock`` is released.

ext4 and xfs write the range back (``filemap_write_and_wait_range``) before they punch; the
model writes a dirty folio back at its removal, so the data reaches the disk before the hole
replaces it (P3 holds throughout).

**invalidate_inode_pages2** of a whole file (NFS revalidation at open and lock, FUSE
notify-inval, O_DIRECT; no content change):

1. ``mapping_empty``: vanilla returns at once; v12 goes to the flush at ``out:``;
2. per offset: look the folio up; lock and re-check; if mapped, ``unmap_mapping_folio``
   (the zap steps); ``folio_launder`` (NFS and FUSE write a dirty folio back) and
   ``invalidate_complete_folio2``: remove it under the xa_lock (freed, or kept isolated);
3. v12's ``luf_flush_mapping`` at ``out:``.

The range unmap before the folio lock (``unmap_mapping_pages`` of the rest of the file, an
optimisation) is not modelled: the unmap under the folio lock runs the same zap steps and
the same v12 ``tlb_end_vma`` flush, and leaves no window for a fault to map the folio again.
``mapping_try_invalidate`` (fadvise, drop_caches: no unmap, no content change) is not modelled.
"""

from __future__ import annotations

from typing import Callable

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel.flush import MM_FLUSH_WRITES, flush_mm, luf_flush, luf_flush_events, luf_flush_writes
from lufmodel.kernel.state import (
    FREE,
    ISOLATED,
    Kernel,
    at,
    extra_refs,
    frame_field,
    frames_of,
    goto,
    obj_field,
    objs_of,
    put,
)
from lufmodel.kernel.vma import ZAPPED, end_vma_writes, luf_vma_events, tlb_end_vma, zap_pte_range, zap_writes, zapped_in
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops

LOCKED = 1
"""``reg_kind`` bit: the zaps run under the folio lock; after the last VMA, remove the folio."""

TRUNCATE = "truncate"
INVAL = "inval"
PAGE_CREATION = ("fault.takeoff", "fault.add", "write.takeoff", "write.add")
"""Steps of a folio creation under ``filemap_invalidate_lock_shared`` (after ``*.alloc``)."""

Where = Callable[[Args], bool]


def invalidates(k: Kernel) -> bool:
    """``invalidate_inode_pages2`` runs: the ``invalidate`` kind, or NFS's file lock."""
    cfg = k.cfg
    return "invalidate" in cfg.events or ("filelock" in cfg.events and cfg.remote_revalidate)


def add(k: Kernel, b: ModelBuilder) -> None:
    if "truncate" in k.cfg.events:
        add_truncate(k, b)
    if invalidates(k):
        add_invalidate(k, b)


# ---- unmap_mapping_range: the i_mmap walk and the zap of one VMA --------------------------


def _folio(k: Kernel, ops: Ops, s: Read, o: Expr) -> Expr:
    """The slot of object ``o``: its folio's frame + 1, or 0."""
    return obj_field(k, ops, s, k.slot, o)


def _in_range(k: Kernel, ops: Ops, s: Read, m: int, v: int, o: Expr) -> Expr:
    """The VMA (mm ``m``, va ``v``) is in the i_mmap range of object ``o``, or its PTE maps
    the folio (a VMA munmap has already detached but not yet zapped)."""
    folio = _folio(k, ops, s, o)
    maps = ops.and_(ops.not_(ops.eq(folio, ops.const(0))), ops.eq(s[k.pte[m, v]], folio))
    return ops.or_(ops.eq(s[k.vma[m, v]], ops.add(o, ops.const(1))), maps)


def _walk(k: Kernel, ops: Ops, s: Read, w: Write, c: int, prefix: str, o: Expr, *,
          after: tuple[int, Expr] | None, done: Expr, when: Expr | None = None) -> None:
    """Go to the zap of the next VMA in range of ``o`` after ``after`` (rmap order), with its
    va in ``reg_va``; past the last one, to pc value ``done``. Only ``when`` (if given)."""
    pc_val, va_val = done, ops.const(0)
    for m, v in reversed(k.rmap()):
        if after is None:
            later = ops.const(True)
        elif m < after[0]:
            continue
        else:
            later = ops.const(True) if m > after[0] else ops.lt(after[1], ops.const(v))
        here = ops.and_(later, _in_range(k, ops, s, m, v, o))
        pc_val = ops.ite(here, ops.const(k.pcs[f"{prefix}.zap.{m}"]), pc_val)
        va_val = ops.ite(here, ops.const(v), va_val)
    if when is None:
        w[k.pc[c]] = pc_val
        w[k.rv[c]] = va_val
    else:
        w[k.pc[c]] = ops.ite(when, pc_val, w.get(k.pc[c]))
        w[k.rv[c]] = ops.ite(when, va_val, w.get(k.rv[c]))


def _pc(k: Kernel, ops: Ops, step: str) -> Expr:
    return ops.const(k.pcs[step])


def add_zap_steps(k: Kernel, b: ModelBuilder, *, prefix: str, path: str, where: Where,
                  kind: str, done: Callable[[Ops, Expr], Expr]) -> None:
    """``{prefix}.zap.{m}`` and ``{prefix}.gather.{m}``: ``zap_page_range_single`` of the VMA
    (mm ``m``, ``reg_va``) for the page of ``reg_obj``, then the walk goes on; after the last
    VMA, pc ``done(ops, locked)``."""
    cfg = k.cfg
    pending = cfg.mode != "none" and cfg.point("munmap_batched_pending")
    range_flush = cfg.point("munmap_tlb_flush")
    luf_vma = cfg.luf and cfg.point("v12_zap_tlb_end_vma")
    nested = cfg.point("madvise_concurrent_force_flush")

    for m in k.mms:
        def zap_guard(ops: Ops, s: Read, a: Args, m: int = m) -> Expr:
            return at(k, ops, s, a.c, f"{prefix}.zap.{m}")

        def zap(ops: Ops, s: Read, a: Args, w: Write, m: int = m) -> None:
            # zap_skip_check_mapping / single_folio: only the page-cache folio's PTE is zapped.
            v, folio = s[k.rv[a.c]], _folio(k, ops, s, s[k.ro[a.c]])
            cur = O.select(ops, v, [s[k.pte[m, va]] for va in k.vas])
            mine = ops.and_(ops.not_(ops.eq(folio, ops.const(0))), ops.eq(cur, folio))
            w[k.tfp[m]] = ops.add(s[k.tfp[m]], ops.const(1))  # tlb_gather_mmu: inc_tlb_flush_pending
            zap_pte_range(k, ops, s, w, a.c, m, pending=pending, when=mine)
            goto(k, ops, w, a.c, f"{prefix}.gather.{m}")

        b.action(f"{prefix}.zap.{m}", path="zap_pte_range",
                 step=f"mm{m}: tlb_gather_mmu; (PTL) " + ("flush_tlb_batched_pending, " if pending else "") + "clear the PTE of the page, if it maps the folio",
                 params={"c": k.cpus}, guard=zap_guard, effect=zap,
                 writes=zap_writes(k, pending=pending) + ["tlb_flush_pending", "pc"], kind=kind, where=where)

        def gather_guard(ops: Ops, s: Read, a: Args, m: int = m) -> Expr:
            return at(k, ops, s, a.c, f"{prefix}.gather.{m}")

        def gather(ops: Ops, s: Read, a: Args, w: Write, m: int = m) -> None:
            tlb_end_vma(k, ops, s, w, a.c, m, range_flush=range_flush, luf_vma=luf_vma)
            if nested:  # tlb_finish_mmu: another gather of the mm in flight (munmap, madvise, a zap)
                flush_mm(k, ops, w, m, ops.lt(ops.const(1), s[k.tfp[m]]))
            w[k.tfp[m]] = ops.sub(s[k.tfp[m]], ops.const(1))
            rx = s[k.rx[a.c]]
            kept = ops.ite(ops.lt(rx, ops.const(ZAPPED)), rx, ops.sub(rx, ops.const(ZAPPED)))
            w[k.rx[a.c]] = kept
            locked = ops.eq(kept, ops.const(LOCKED))
            o = s[k.ro[a.c]]
            # Under the folio lock, reg_frame goes on holding the folio (still in its slot).
            w[k.rp[a.c]] = ops.ite(locked, ops.sub(_folio(k, ops, s, o), ops.const(1)), ops.const(k.no_frame))
            _walk(k, ops, s, w, a.c, prefix, o, after=(m, s[k.rv[a.c]]), done=done(ops, locked))

        def gather_emit(ops: Ops, s: Read, a: Args, m: int = m) -> list[Event]:
            return luf_vma_events(k, ops, s, a.c, m, ops.and_(ops.const(range_flush), zapped_in(k, ops, s, a.c)))

        what = ", ".join(x for x, on in (("flush the zapped PTE", range_flush), ("luf_flush_vma", luf_vma)) if on) or "no flush"
        finish = "tlb_finish_mmu: " + ("flush_tlb_mm if another gather is in flight, " if nested else "") + "drop the gathered page"
        writes = ["gather_refs", "reg_frame", "reg_kind", "reg_va", "tlb_flush_pending", "pc"]
        writes += end_vma_writes(k, range_flush=range_flush, luf_vma=luf_vma) + (list(MM_FLUSH_WRITES) if nested else [])
        b.action(f"{prefix}.gather.{m}", path="tlb_end_vma",
                 step=f"mm{m}: tlb_end_vma: {what}; {finish}; next VMA of the i_mmap walk",
                 params={"c": k.cpus}, guard=gather_guard, effect=gather, emit=gather_emit if luf_vma else None,
                 writes=sorted(set(writes)), kind=kind, where=where)


def _mapped(k: Kernel, ops: Ops, s: Read, frame: Expr) -> Expr:
    """``folio_mapped``: some PTE maps ``frame``."""
    return O.any_(ops, [ops.eq(s[k.pte[m, v]], ops.add(frame, ops.const(1))) for m in k.mms for v in k.vas])


def _lock_step(k: Kernel, b: ModelBuilder, *, prefix: str, path: str, where: Where, kind: str,
               gone: Callable[[Ops, Read, Args, Write], None]) -> None:
    """``{prefix}.lock``: ``folio_lock``, re-check the folio is still in the page cache (else
    ``gone``); if mapped, unmap it (the zap steps, under the lock), else remove it."""

    def guard(ops: Ops, s: Read, a: Args) -> Expr:
        free = ops.eq(frame_field(k, ops, s, k.flock, s[k.rp[a.c]]), ops.const(0))
        return ops.and_(at(k, ops, s, a.c, f"{prefix}.lock"), free)

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        o, p = s[k.ro[a.c]], s[k.rp[a.c]]
        still = ops.eq(_folio(k, ops, s, o), ops.add(p, ops.const(1)))
        put(ops, w, frames_of(k, k.flock), p, ops.const(a.c + 1), when=still)
        gone(ops, s, a, w)
        w[k.ro[a.c]] = ops.ite(still, o, w.get(k.ro[a.c]))
        w[k.rp[a.c]] = ops.ite(still, p, ops.const(k.no_frame))
        mapped = ops.and_(still, _mapped(k, ops, s, p))
        w[k.rx[a.c]] = ops.ite(mapped, ops.const(LOCKED), w.get(k.rx[a.c]))
        w[k.pc[a.c]] = ops.ite(still, _pc(k, ops, f"{prefix}.remove"), w.get(k.pc[a.c]))
        _walk(k, ops, s, w, a.c, prefix, o, after=None, done=_pc(k, ops, f"{prefix}.remove"), when=mapped)

    b.action(f"{prefix}.lock", path=path,
             step="folio_lock, recheck folio->mapping (else skip it); if mapped: unmap_mapping_folio",
             params={"c": k.cpus}, guard=guard, effect=effect,
             writes=["folio_lock", "reg_kind", "reg_va", "reg_obj", "reg_frame", "pc"], kind=kind, where=where)


def _remove(k: Kernel, ops: Ops, s: Read, w: Write, c: int) -> None:
    """Write a dirty folio back, remove it from its slot (xa_lock), free its frame unless
    another reference holds it, unlock it. Writes disk, frame_dirty, slot, frame_state,
    folio_lock, reg_frame, reg_kind."""
    o, p = s[k.ro[c]], s[k.rp[c]]
    dirty = frame_field(k, ops, s, k.fdirty, p)
    put(ops, w, objs_of(k, k.disk), o, frame_field(k, ops, s, k.fver, p), when=dirty)
    put(ops, w, frames_of(k, k.fdirty), p, ops.const(False))
    put(ops, w, objs_of(k, k.slot), o, ops.const(0))
    held = extra_refs(k, ops, s, p)
    put(ops, w, frames_of(k, k.fst), p, ops.ite(held, ops.const(ISOLATED), ops.const(FREE)))
    put(ops, w, frames_of(k, k.flock), p, ops.const(0))
    w[k.rp[c]] = ops.const(k.no_frame)
    w[k.rx[c]] = ops.const(0)


def _remove_guard(k: Kernel, ops: Ops, s: Read, a: Args, step: str) -> Expr:
    here = at(k, ops, s, a.c, step)
    if "writeback" in k.cfg.events:  # folio_wait_writeback under the folio lock
        here = ops.and_(here, ops.not_(frame_field(k, ops, s, k.fwb, s[k.rp[a.c]])))
    return here


REMOVE_WRITES = ["disk", "frame_dirty", "slot", "frame_state", "folio_lock", "reg_frame", "reg_kind"]


# ---- hole punch ------------------------------------------------------------------------------


def add_truncate(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    where: Where = lambda a: cfg.allows(a.c, "truncate")  # noqa: E731
    path = "truncate_pagecache_range"
    flush = cfg.luf and cfg.point("v12_truncate_flush")
    end = f"{TRUNCATE}.flush" if flush else f"{TRUNCATE}.commit"
    top = cfg.versions
    # With v12 bookkeeping, luf_takeoff_end's mark is a step of its own (``*.takeoff_end``).
    creating = [k.pcs[x] for x in PAGE_CREATION + tuple(f"{x}_end" for x in PAGE_CREATION) if x in k.pcs]

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        f = k.file_of(a.o)
        busy = []
        for c2 in k.cpus:
            if c2 == a.c:
                continue
            in_file = O.is_in(ops, s[k.ro[c2]], [x for x in k.objs if k.file_of(x) == f])
            busy.append(ops.and_(O.is_in(ops, s[k.pc[c2]], creating), in_file))
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            ops.lt(s[k.ver[a.o]], ops.const(top)),
            ops.not_(s[k.ilock[f]]),
            ops.not_(O.any_(ops, busy)),
        )

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.ilock[k.file_of(a.o)]] = ops.const(True)
        w[k.ro[a.c]] = ops.const(a.o)
        w[k.rx[a.c]] = ops.const(0)
        _walk(k, ops, s, w, a.c, TRUNCATE, ops.const(a.o), after=None, done=_pc(k, ops, f"{TRUNCATE}.lookup"))

    b.action(TRUNCATE, path="fallocate(PUNCH_HOLE)",
             step="inode_lock, filemap_invalidate_lock; unmap_mapping_range of the page: first VMA",
             params={"c": k.cpus, "o": k.objs}, guard=start_guard, effect=start,
             writes=["invalidate_lock", "reg_obj", "reg_kind", "reg_va", "pc"], kind="truncate", where=where)

    def done(ops: Ops, locked: Expr) -> Expr:
        return ops.ite(locked, _pc(k, ops, f"{TRUNCATE}.remove"), _pc(k, ops, f"{TRUNCATE}.lookup"))

    add_zap_steps(k, b, prefix=TRUNCATE, path=path, where=where, kind="truncate", done=done)

    def lookup_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, f"{TRUNCATE}.lookup")

    def lookup(ops: Ops, s: Read, a: Args, w: Write) -> None:
        sv = _folio(k, ops, s, s[k.ro[a.c]])
        found = ops.not_(ops.eq(sv, ops.const(0)))
        w[k.rp[a.c]] = ops.ite(found, ops.sub(sv, ops.const(1)), ops.const(k.no_frame))
        w[k.pc[a.c]] = ops.ite(found, _pc(k, ops, f"{TRUNCATE}.lock"), _pc(k, ops, end))

    b.action(f"{TRUNCATE}.lookup", path="truncate_inode_pages_range",
             step="find the folio (an empty mapping: goto out)", params={"c": k.cpus},
             guard=lookup_guard, effect=lookup, writes=["reg_frame", "pc"], kind="truncate", where=where)

    def gone(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.pc[a.c]] = _pc(k, ops, f"{TRUNCATE}.lookup")

    _lock_step(k, b, prefix=TRUNCATE, path="truncate_inode_pages_range", where=where, kind="truncate", gone=gone)

    def remove_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return _remove_guard(k, ops, s, a, f"{TRUNCATE}.remove")

    def remove(ops: Ops, s: Read, a: Args, w: Write) -> None:
        _remove(k, ops, s, w, a.c)
        goto(k, ops, w, a.c, end)

    b.action(f"{TRUNCATE}.remove", path="truncate_inode_pages_range",
             step="truncate_inode_folio: (dirty: written back first) remove it from the page cache (xa_lock), free it unless referenced, folio_unlock",
             params={"c": k.cpus}, guard=remove_guard, effect=remove,
             writes=REMOVE_WRITES + ["pc"], kind="truncate", where=where)

    if flush:
        def flush_guard(ops: Ops, s: Read, a: Args) -> Expr:
            return at(k, ops, s, a.c, f"{TRUNCATE}.flush")

        def do_flush(ops: Ops, s: Read, a: Args, w: Write) -> None:
            luf_flush(k, ops, w, obj=s[k.ro[a.c]])
            goto(k, ops, w, a.c, f"{TRUNCATE}.commit")

        b.action(f"{TRUNCATE}.flush", path="truncate_inode_pages_range", step="out: luf_flush_mapping",
                 params={"c": k.cpus}, guard=flush_guard, effect=do_flush,
                 emit=lambda ops, s, a: luf_flush_events(k, ops, s, obj=s[k.ro[a.c]]),
                 writes=luf_flush_writes(k) + ["pc"], kind="truncate", where=where)

    def commit_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, f"{TRUNCATE}.commit")

    def commit(ops: Ops, s: Read, a: Args, w: Write) -> None:
        o = s[k.ro[a.c]]
        cur = obj_field(k, ops, s, k.ver, o)
        nv = ops.ite(ops.lt(cur, ops.const(top)), ops.add(cur, ops.const(1)), cur)
        put(ops, w, objs_of(k, k.disk), o, nv)
        put(ops, w, objs_of(k, k.ver), o, nv)
        put(ops, w, [k.hb[a.c, x] for x in k.objs], o, nv)
        for f in range(cfg.files):
            in_file = O.is_in(ops, o, [x for x in k.objs if k.file_of(x) == f])
            w[k.ilock[f]] = ops.and_(ops.not_(in_file), s[k.ilock[f]])
        w[k.ro[a.c]] = ops.const(0)
        goto(k, ops, w, a.c, "user")

    def commit_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        return [Event("content_change", ops.const(True), {"obj": s[k.ro[a.c]]})]

    b.action(f"{TRUNCATE}.commit", path="fallocate(PUNCH_HOLE)",
             step="free the blocks: the page reads zeros (a new version on disk); filemap_invalidate_unlock",
             params={"c": k.cpus}, guard=commit_guard, effect=commit, emit=commit_emit,
             writes=["disk", "ver", "hb", "invalidate_lock", "reg_obj", "pc"], kind="truncate", where=where)


# ---- invalidate_inode_pages2 -------------------------------------------------------------


def _inval_end(k: Kernel) -> str:
    return f"{INVAL}.flush" if k.cfg.luf and k.cfg.point("v12_invalidate_flush") else "user"


def _advance(k: Kernel, ops: Ops, s: Read, w: Write, c: int) -> None:
    """On to the next offset of the file, or past the last one to the end (``out:``)."""
    o = s[k.ro[c]]
    last = O.is_in(ops, o, [f * k.cfg.offsets + k.cfg.offsets - 1 for f in range(k.cfg.files)])
    end = _inval_end(k)
    w[k.pc[c]] = ops.ite(last, _pc(k, ops, end), _pc(k, ops, f"{INVAL}.lookup"))
    w[k.ro[c]] = ops.ite(last, o if end != "user" else ops.const(0), ops.add(o, ops.const(1)))


def begin_invalidate(k: Kernel, ops: Ops, s: Read, w: Write, c: int, f: int, when: Expr) -> None:
    """``invalidate_inode_pages2(mapping of file f)``, if ``when``: an empty mapping returns at
    once (v12: through the flush at ``out:``); else the walk starts at offset 0. Writes
    reg_obj, reg_kind, pc."""
    first = f * k.cfg.offsets
    empty = O.all_(ops, [ops.eq(s[k.slot[x]], ops.const(0)) for x in k.objs if k.file_of(x) == f])
    end = _inval_end(k)
    to_out = end != "user" and k.cfg.point("v12_invalidate_empty_flush")
    stop = _pc(k, ops, end) if to_out else _pc(k, ops, "user")
    pc_val = ops.ite(empty, stop, _pc(k, ops, f"{INVAL}.lookup"))
    obj_val = ops.ite(empty, ops.const(first if to_out else 0), ops.const(first))
    w[k.pc[c]] = ops.ite(when, pc_val, w.get(k.pc[c]))
    w[k.ro[c]] = ops.ite(when, obj_val, w.get(k.ro[c]))
    w[k.rx[c]] = ops.const(0)


INVALIDATE_START_WRITES = ["reg_obj", "reg_kind", "pc"]


def add_invalidate(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    kinds = ["invalidate"] + (["filelock"] if cfg.remote_revalidate else [])
    where: Where = lambda a: any(cfg.allows(a.c, x) for x in kinds)  # noqa: E731
    path = "invalidate_inode_pages2_range"
    end = _inval_end(k)

    if "invalidate" in cfg.events:
        def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
            return at(k, ops, s, a.c, "user")

        def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
            begin_invalidate(k, ops, s, w, a.c, a.f, ops.const(True))

        empty = "v12: goto out, the flush" if end != "user" and cfg.point("v12_invalidate_empty_flush") else "return"
        b.action("invalidate", path=path, step=f"invalidate_inode_pages2 of the file (an empty mapping: {empty})",
                 params={"c": k.cpus, "f": range(cfg.files)}, guard=start_guard, effect=start,
                 writes=INVALIDATE_START_WRITES, kind="invalidate", where=lambda a: cfg.allows(a.c, "invalidate"))

    def done(ops: Ops, locked: Expr) -> Expr:
        return _pc(k, ops, f"{INVAL}.remove")

    add_zap_steps(k, b, prefix=INVAL, path=path, where=where, kind="invalidate", done=done)

    def lookup_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, f"{INVAL}.lookup")

    def lookup(ops: Ops, s: Read, a: Args, w: Write) -> None:
        sv = _folio(k, ops, s, s[k.ro[a.c]])
        found = ops.not_(ops.eq(sv, ops.const(0)))
        _advance(k, ops, s, w, a.c)
        w[k.rp[a.c]] = ops.ite(found, ops.sub(sv, ops.const(1)), ops.const(k.no_frame))
        w[k.pc[a.c]] = ops.ite(found, _pc(k, ops, f"{INVAL}.lock"), w.get(k.pc[a.c]))
        w[k.ro[a.c]] = ops.ite(found, s[k.ro[a.c]], w.get(k.ro[a.c]))

    b.action(f"{INVAL}.lookup", path=path, step="find_get_entries: the folio of this offset (none or a shadow: next)",
             params={"c": k.cpus}, guard=lookup_guard, effect=lookup,
             writes=["reg_frame", "reg_obj", "pc"], kind="invalidate", where=where)

    def gone(ops: Ops, s: Read, a: Args, w: Write) -> None:
        _advance(k, ops, s, w, a.c)

    _lock_step(k, b, prefix=INVAL, path=path, where=where, kind="invalidate", gone=gone)

    def remove_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return _remove_guard(k, ops, s, a, f"{INVAL}.remove")

    def remove(ops: Ops, s: Read, a: Args, w: Write) -> None:
        _remove(k, ops, s, w, a.c)
        _advance(k, ops, s, w, a.c)

    b.action(f"{INVAL}.remove", path=path,
             step="folio_launder (a dirty folio is written back), invalidate_complete_folio2: remove it (xa_lock), free it unless referenced; folio_unlock; next offset",
             params={"c": k.cpus}, guard=remove_guard, effect=remove,
             writes=REMOVE_WRITES + ["reg_obj", "pc"], kind="invalidate", where=where)

    if end != "user":
        def flush_guard(ops: Ops, s: Read, a: Args) -> Expr:
            return at(k, ops, s, a.c, f"{INVAL}.flush")

        def do_flush(ops: Ops, s: Read, a: Args, w: Write) -> None:
            luf_flush(k, ops, w, obj=s[k.ro[a.c]])
            w[k.ro[a.c]] = ops.const(0)
            goto(k, ops, w, a.c, "user")

        b.action(f"{INVAL}.flush", path=path, step="out: luf_flush_mapping", params={"c": k.cpus},
                 guard=flush_guard, effect=do_flush, emit=lambda ops, s, a: luf_flush_events(k, ops, s, obj=s[k.ro[a.c]]),
                 writes=luf_flush_writes(k) + ["reg_obj", "pc"], kind="invalidate", where=where)
