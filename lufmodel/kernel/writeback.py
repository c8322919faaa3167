"""Writeback of a dirty page-cache folio: the flusher thread or fsync (``write_cache_pages``).

1. ``writeback_iter``: lock the folio; it must still be dirty and not under writeback (a
   folio under writeback is skipped or waited for; here the step waits);
2. ``folio_clear_dirty_for_io`` → ``folio_mkclean``: the rmap walk, one step per (mm, va)
   under that mm's PTL. ``page_vma_mkclean_one`` turns a writable or dirty PTE read-only and
   clean with ``ptep_clear_flush`` + ``set_pte_at``: the PTE is accessible, so x86 (and v12,
   whose ``ptep_clear_flush`` defers only a non-accessible PTE to LUF) does ``flush_tlb_page``
   at once. The transient none PTE is under the PTL, so the step is atomic; the flush is the
   switch ``mkclean_flush``;
3. after the walk, v12's ``luf_flush_mapping`` (switch ``v12_mkclean_flush``); then the folio's
   dirty bit is cleared, ``__folio_start_writeback`` sets writeback, ``folio_unlock``;
4. the I/O completes: the disk gets the version the frame holds when the device reads it,
   and ``folio_end_writeback``. A store through a writable TLB entry that survived step 2
   commits a version no dirty bit records: it is lost when the clean folio is later reclaimed
   (P3), and P0 sees the writable entry to a clean folio at once.

Reclaim does not take a folio under writeback. Stable pages (``folio_wait_stable``) are not
modelled: a write fault or write(2) may redirty the folio during the I/O, as on a
filesystem without stable writes.
"""

from __future__ import annotations

from lufmodel.builder import ModelBuilder
from lufmodel.kernel.flush import PAGE_FLUSH_WRITES, flush_page, luf_flush, luf_flush_events, luf_flush_writes
from lufmodel.kernel.state import PCACHE, Kernel, at, frame_field, frames_of, goto, objs_of, put
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "write_cache_pages"
KIND = "writeback"


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    if KIND not in cfg.events:
        return
    where = lambda a: cfg.allows(a.c, KIND)  # noqa: E731
    rmap = k.rmap()

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            ops.eq(s[k.fst[a.p]], ops.const(PCACHE)),
            s[k.fdirty[a.p]],
            ops.not_(s[k.fwb[a.p]]),
            ops.eq(s[k.flock[a.p]], ops.const(0)),
        )

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.flock[a.p]] = ops.const(a.c + 1)
        w[k.rp[a.c]] = ops.const(a.p)
        w[k.ro[a.c]] = s[k.fobj[a.p]]
        goto(k, ops, w, a.c, "writeback.mkclean.0")

    b.action("writeback", path=PATH, step="writeback_iter: folio_lock a dirty folio not under writeback",
             params={"c": k.cpus, "p": k.frames}, guard=start_guard, effect=start,
             writes=["folio_lock", "reg_frame", "reg_obj", "pc"], kind=KIND, where=where)

    for i, (m, v) in enumerate(rmap):
        _add_mkclean_step(k, b, i, m, v, last=(i == len(rmap) - 1))

    luf = cfg.luf and cfg.point("v12_mkclean_flush")

    def clear_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, "writeback.clear")

    def clear(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p = s[k.rp[a.c]]
        if luf:
            luf_flush(k, ops, w, obj=s[k.ro[a.c]])
        put(ops, w, frames_of(k, k.fdirty), p, ops.const(False))
        put(ops, w, frames_of(k, k.fwb), p, ops.const(True))
        put(ops, w, frames_of(k, k.flock), p, ops.const(0))
        goto(k, ops, w, a.c, "writeback.io")

    b.action("writeback.clear", path="folio_clear_dirty_for_io",
             step=("end of folio_mkclean: luf_flush_mapping; " if luf else "")
             + "clear the folio's dirty bit, __folio_start_writeback, folio_unlock, submit the I/O",
             params={"c": k.cpus}, guard=clear_guard, effect=clear,
             emit=(lambda ops, s, a: luf_flush_events(k, ops, s, obj=s[k.ro[a.c]])) if luf else None,
             writes=["frame_dirty", "frame_writeback", "folio_lock", "pc"] + (luf_flush_writes(k) if luf else []),
             kind=KIND, where=where)

    def io_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, "writeback.io")

    def io(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p, o = s[k.rp[a.c]], s[k.ro[a.c]]
        put(ops, w, objs_of(k, k.disk), o, frame_field(k, ops, s, k.fver, p))
        put(ops, w, frames_of(k, k.fwb), p, ops.const(False))
        w[k.rp[a.c]] = ops.const(k.no_frame)
        w[k.ro[a.c]] = ops.const(0)
        goto(k, ops, w, a.c, "user")

    b.action("writeback.io", path="folio_end_writeback",
             step="the device reads the frame and writes it to disk; folio_end_writeback",
             params={"c": k.cpus}, guard=io_guard, effect=io,
             writes=["disk", "frame_writeback", "reg_frame", "reg_obj", "pc"], kind=KIND, where=where)


def _add_mkclean_step(k: Kernel, b: ModelBuilder, i: int, m: int, v: int, *, last: bool) -> None:
    cfg = k.cfg
    here = f"writeback.mkclean.{i}"
    after = "writeback.clear" if last else f"writeback.mkclean.{i + 1}"
    flush = cfg.point("mkclean_flush")

    def guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, here)

    def _hit(ops: Ops, s: Read, a: Args) -> Expr:
        maps = ops.eq(s[k.pte[m, v]], ops.add(s[k.rp[a.c]], ops.const(1)))
        return ops.and_(maps, ops.or_(s[k.ptew[m, v]], s[k.pted[m, v]]))

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        hit = _hit(ops, s, a)
        w[k.ptew[m, v]] = ops.and_(ops.not_(hit), s[k.ptew[m, v]])
        w[k.pted[m, v]] = ops.and_(ops.not_(hit), s[k.pted[m, v]])
        if flush:
            flush_page(k, ops, w, m, ops.const(v), hit)
        goto(k, ops, w, a.c, after)

    def emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        fields = {"mm": ops.const(m), "va": ops.const(v), "obj": s[k.ro[a.c]], "writable": ops.const(False)}
        return [Event("set_pte", _hit(ops, s, a), fields)]

    what = "ptep_clear_flush (flush_tlb_page)" if flush else "clear the PTE without a flush (mkclean_flush removed)"
    b.action(here, path="page_vma_mkclean_one",
             step=f"mm{m} va{v} (PTL): a writable or dirty PTE: {what}, set_pte_at read-only and clean",
             params={"c": k.cpus}, guard=guard, effect=effect, emit=emit,
             writes=["pte_w", "pte_dirty", "pc"] + (list(PAGE_FLUSH_WRITES) if flush else []),
             kind=KIND, where=lambda a: cfg.allows(a.c, KIND))
