"""Page-cache lookup and insertion, and page allocation with the LUF take-off flush.

Written once, used by the fault path (``filemap_fault``) and by write(2)
(``write_begin``/``__filemap_get_folio``): look up the slot; lock the folio and re-check
that it is still in the page cache (else retry); or allocate a frame (taking it off the
free lists under the zone lock, folding its pending LUF batch), flush at
``luf_takeoff_end``, and insert it with ``filemap_add_folio`` (which fails, and retries, if
another CPU filled the slot meanwhile). The kernel allocation path (slab) shares the
allocation steps.
"""

from __future__ import annotations

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder, VarArray
from lufmodel.kernel import events, lufbatch, ugen
from lufmodel.kernel.flush import FLUSH_WRITES, batch_flush_writes, flush_cpus, try_to_unmap_flush
from lufmodel.kernel.state import (
    ALLOC,
    FREE,
    PCACHE,
    Kernel,
    at,
    frame_field,
    frames_of,
    goto,
    goto_if,
    obj_field,
    objs_of,
    put,
)
from lufmodel.model import Args, Effect, Event, Read, Write
from lufmodel.ops import Expr, Ops


def add_alloc_steps(k: Kernel, b: ModelBuilder, *, prefix: str, path: str, kind: str, start: str, then: str, extra_guard: str | None = None, into: VarArray | None = None, page_cache: bool = False, shootdown: bool = True) -> None:
    """``{prefix}.alloc`` (from step ``start``) takes a free frame; ``{prefix}.takeoff`` flushes.

    In the LUF modes the frame's pending batch is folded into the task's batch and flushed
    at take-off (if the ``takeoff`` flush point is on); the page's key is consumed either way.
    The frame goes to register ``into`` (default ``reg_frame``).
    A ``page_cache`` allocation (a new folio for ``reg_obj``) waits while a hole punch holds
    the file's ``invalidate_lock`` (``filemap_invalidate_lock_shared``; kernel/truncate.py).

    Without ``shootdown`` the allocation runs where it cannot IPI (``no_shootdown_context()``):
    with ``v12_takeoff_skip_no_shootdown`` it skips a page whose batch is not done
    (``luf_takeoff_check()``); either way it folds and flushes nothing.

    The bookkeeping: ideal, the frame's ghost record is the batch; v12 (kernel/lufbatch.py),
    ``luf_takeoff_check_and_fold()`` folds ``luf_batch[key]`` unless its ugen shows it done,
    and ``luf_takeoff_end()`` diets the batch by ``current->luf_ugen``, takes a ugen, flushes
    (``{prefix}.takeoff``) and marks the CPUs done (``{prefix}.takeoff_end``: the two halves
    of ``try_to_unmap_flush_takeoff()`` that other CPUs interleave with); arm64 folds nothing
    (batches are always done) and its take-off DSB has nothing to complete.
    """
    cfg = k.cfg
    reg = k.rp if into is None else into
    takeoff = cfg.luf
    point = cfg.luf and cfg.point("takeoff") and shootdown
    fold = point and not cfg.real_book and not cfg.arm64
    book_fold = point and cfg.real_book
    skip = not shootdown and cfg.luf and cfg.point("v12_takeoff_skip_no_shootdown")
    after_alloc = f"{prefix}.takeoff" if takeoff else then

    def guard(ops: Ops, s: Read, a: Args) -> Expr:
        ok = ops.and_(at(k, ops, s, a.c, start), ops.eq(s[k.fst[a.p]], ops.const(FREE)))
        if page_cache and "truncate" in cfg.events:
            o = s[k.ro[a.c]]
            held = O.any_(ops, [ops.and_(ops.eq(o, ops.const(x)), s[k.ilock[k.file_of(x)]]) for x in k.objs])
            ok = ops.and_(ok, ops.not_(held))
        if skip and cfg.real_book:
            ok = ops.and_(ok, ops.not_(lufbatch.key_pending(k, ops, s, a.p)))
        elif skip and not cfg.arm64:
            ok = ops.and_(ok, ops.not_(O.any_(ops, [s[k.fpend[a.p, c2]] for c2 in k.cpus])))
        return ok

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.fst[a.p]] = ops.const(ALLOC)
        w[reg[a.c]] = ops.const(a.p)
        for c2 in k.cpus:
            if fold:
                w[k.ubc[a.c, c2]] = ops.or_(s[k.ubc[a.c, c2]], s[k.fpend[a.p, c2]])
            w[k.fpend[a.p, c2]] = ops.const(False)
        if book_fold:
            lufbatch.takeoff_check_and_fold(k, ops, s, w, a.c, a.p)
        elif cfg.real_book:
            w[k.fkey[a.p]] = ops.const(0)
        goto(k, ops, w, a.c, after_alloc)

    def emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        owed = O.any_(ops, [s[k.fpend[a.p, c2]] for c2 in k.cpus])
        return [Event("alloc", ops.const(True), {"luf": owed, "frame": ops.const(a.p)})]

    writes = ["frame_state", reg.family, "frame_luf", "pc"] + (["tlb_ubc"] if fold else [])
    if cfg.real_book:
        writes += ["frame_key"] + (["tlb_ubc"] + list(ugen.UGEN_FAMILIES) if book_fold else [])
    what = "rmqueue: take a free page off the free lists (zone lock)"
    if skip:
        what += ", skipping a page whose LUF batch is not done (no shootdown possible)"
    b.action(
        f"{prefix}.alloc",
        path=path,
        step=what + (", fold its LUF batch" if fold else ", luf_takeoff_check_and_fold: fold luf_batch[key] unless its ugen is done" if book_fold else ""),
        params={"c": k.cpus, "p": k.frames},
        guard=guard,
        effect=effect,
        writes=writes,
        emit=emit,
        kind=kind,
        where=lambda a: cfg.allows(a.c, kind),
    )
    if not takeoff:
        return
    def handed_out(ops: Ops, s: Read, a: Args, w: Write) -> None:
        """``luf_takeoff_end()`` returns the page (for the debug monitors, kernel/events.py)."""
        w.emit(Event(events.TAKEOFF, ops.const(True), {"frame": s[reg[a.c]]}))
        goto(k, ops, w, a.c, then)

    if not shootdown:
        b.action(f"{prefix}.takeoff", path=path, step="luf_takeoff_end: no shootdown possible here, nothing flushed",
                 params={"c": k.cpus}, guard=lambda ops, s, a: at(k, ops, s, a.c, f"{prefix}.takeoff"),
                 effect=handed_out,
                 emit=lambda ops, s, a: _takeoff_skips(k, ops, s, a.c, reg, [ops.const(False) for _ in k.cpus]),
                 writes=["pc"], kind=kind, where=lambda a: cfg.allows(a.c, kind))
        return
    if cfg.real_book:
        _add_takeoff_v12(k, b, prefix=prefix, path=path, kind=kind, then=then, reg=reg, handed_out=handed_out)
        return

    def tguard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, f"{prefix}.takeoff")

    def teffect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        try_to_unmap_flush(k, ops, w, a.c, [s[k.ubc[a.c, c2]] for c2 in k.cpus])
        for c2 in k.cpus:
            w[k.ubc[a.c, c2]] = ops.const(False)
        handed_out(ops, s, a, w)

    b.action(
        f"{prefix}.takeoff",
        path=path,
        step="luf_takeoff_end: flush the CPUs the page's deferred flush is owed for" if fold
        else "luf_takeoff_end: (take-off flush removed) nothing to flush" if not cfg.arm64
        else "luf_takeoff_end: arm64 batches are always done, nothing to flush",
        params={"c": k.cpus},
        guard=tguard,
        effect=teffect,
        writes=batch_flush_writes(k) + ["tlb_ubc", "pc"],
        kind=kind,
        where=lambda a: cfg.allows(a.c, kind),
    )


def _takeoff_skips(k: Kernel, ops: Ops, s: Read, c: int, reg: VarArray, flushed: list[Expr],
                   batch: list[Expr] | None = None) -> list[Event]:
    """P5's events at a take-off: the CPUs the page is handed out without flushing (v12);
    ``batch``: the take-off batch before ``current->luf_ugen`` dieted it."""
    if not k.cfg.real_book:
        return []
    return [lufbatch.skip_event(ops, c2, lufbatch.SCOPE_FRAME, s[reg[c]], ops.not_(flushed[c2]),
                                ops.const(False) if batch is None else batch[c2]) for c2 in k.cpus]


def _add_takeoff_v12(k: Kernel, b: ModelBuilder, *, prefix: str, path: str, kind: str, then: str, reg: VarArray,
                     handed_out: Effect) -> None:
    """``luf_takeoff_end()`` with v12's bookkeeping, in two steps: ``{prefix}.takeoff`` diets
    the take-off batch by ``current->luf_ugen``, takes a ugen (``tlb_flush_start()``) and
    flushes; ``{prefix}.takeoff_end`` marks the flushed CPUs (``tlb_flush_end()``). With
    ``[luf] mark = "before_flush"`` the two swap: mark, then flush."""
    cfg = k.cfg
    here, end = f"{prefix}.takeoff", f"{prefix}.takeoff_end"
    before = cfg.mark_ugen == "before_flush"
    where = lambda a: cfg.allows(a.c, kind)  # noqa: E731

    def batch(ops: Ops, s: Read, c: int) -> list[Expr]:
        return lufbatch.takeoff_batch(k, ops, s, c) if not before else [s[k.ubc[c, c2]] for c2 in k.cpus]

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        mask = lufbatch.takeoff_batch(k, ops, s, a.c)
        g = ugen.take(k, ops, w, O.any_(ops, mask))
        if before:
            lufbatch.mark(k, ops, w, mask, g)
        else:
            flush_cpus(k, ops, w, mask)
        for c2 in k.cpus:
            w[k.ubc[a.c, c2]] = mask[c2]
        w[k.rugen[a.c]] = ops.ite(O.any_(ops, mask), g, ops.const(0)) if not before else ops.const(0)
        ugen.settle(k, ops, w)
        goto(k, ops, w, a.c, end)

    def finish(ops: Ops, s: Read, a: Args, w: Write) -> None:
        mask = [s[k.ubc[a.c, c2]] for c2 in k.cpus]
        if before:
            flush_cpus(k, ops, w, mask)
        else:
            lufbatch.mark(k, ops, w, mask, s[k.rugen[a.c]])
            w[k.rugen[a.c]] = ops.const(0)
            ugen.settle(k, ops, w)
        for c2 in k.cpus:
            w[k.ubc[a.c, c2]] = ops.const(False)
        handed_out(ops, s, a, w)

    flush_w = list(FLUSH_WRITES)
    ugen_w = list(ugen.UGEN_FAMILIES)
    b.action(here, path=path,
             step="luf_takeoff_end: diet the batch by current->luf_ugen, take a ugen, "
             + ("mark the CPUs done BEFORE the flush (broken variant)" if before else "flush the CPUs left"),
             params={"c": k.cpus}, guard=lambda ops, s, a: at(k, ops, s, a.c, here), effect=start,
             emit=None if before else lambda ops, s, a: _takeoff_skips(k, ops, s, a.c, reg, batch(ops, s, a.c),
                                                                        [s[k.ubc[a.c, c2]] for c2 in k.cpus]),
             writes=(ugen_w if before else flush_w + ugen_w) + ["tlb_ubc", "pc"], kind=kind, where=where)
    b.action(end, path=path,
             step="try_to_unmap_flush_takeoff: " + ("now flush the batch" if before else "tlb_flush_end: mark the flushed CPUs done (only if newer)"),
             params={"c": k.cpus}, guard=lambda ops, s, a: at(k, ops, s, a.c, end), effect=finish,
             emit=lambda ops, s, a: _takeoff_skips(k, ops, s, a.c, reg, batch(ops, s, a.c)) if before else [],
             writes=(flush_w if before else ugen_w) + ["tlb_ubc", "pc"], kind=kind, where=where)


def add_pagecache_steps(k: Kernel, b: ModelBuilder, *, prefix: str, path: str, kind: str, locked: str) -> None:
    """Lookup, lock-and-recheck, allocate and insert, for the object in ``reg_obj``.

    Every route ends at step ``locked`` with the folio in the slot, locked by this CPU, and
    its frame in ``reg_frame``.
    """
    cfg = k.cfg
    where = lambda a: cfg.allows(a.c, kind)  # noqa: E731

    def lookup_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, f"{prefix}.lookup")

    def lookup(ops: Ops, s: Read, a: Args, w: Write) -> None:
        sv = obj_field(k, ops, s, k.slot, s[k.ro[a.c]])
        found = ops.not_(ops.eq(sv, ops.const(0)))
        w[k.rp[a.c]] = ops.ite(found, ops.sub(sv, ops.const(1)), ops.const(k.no_frame))
        goto_if(k, ops, w, a.c, found, f"{prefix}.lock", f"{prefix}.alloc")

    b.action(f"{prefix}.lookup", path=path, step="look up the page cache (RCU)", params={"c": k.cpus},
             guard=lookup_guard, effect=lookup, writes=["reg_frame", "pc"], kind=kind, where=where)

    def lock_guard(ops: Ops, s: Read, a: Args) -> Expr:
        free = ops.eq(frame_field(k, ops, s, k.flock, s[k.rp[a.c]]), ops.const(0))
        return ops.and_(at(k, ops, s, a.c, f"{prefix}.lock"), free)

    def lock(ops: Ops, s: Read, a: Args, w: Write) -> None:
        sv = obj_field(k, ops, s, k.slot, s[k.ro[a.c]])
        still = ops.eq(sv, ops.add(s[k.rp[a.c]], ops.const(1)))
        put(ops, w, frames_of(k, k.flock), s[k.rp[a.c]], ops.const(a.c + 1), when=still)
        w[k.rp[a.c]] = ops.ite(still, s[k.rp[a.c]], ops.const(k.no_frame))  # a retry forgets the frame
        goto_if(k, ops, w, a.c, still, locked, f"{prefix}.lookup")

    b.action(f"{prefix}.lock", path=path, step="folio_lock, recheck folio->mapping (else retry)", params={"c": k.cpus},
             guard=lock_guard, effect=lock, writes=["folio_lock", "reg_frame", "pc"], kind=kind, where=where)

    add_alloc_steps(k, b, prefix=prefix, path=path, kind=kind, start=f"{prefix}.alloc", then=f"{prefix}.add", page_cache=True)

    def add_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, f"{prefix}.add")

    def add(ops: Ops, s: Read, a: Args, w: Write) -> None:
        o, p = s[k.ro[a.c]], s[k.rp[a.c]]
        empty = ops.eq(obj_field(k, ops, s, k.slot, o), ops.const(0))
        put(ops, w, objs_of(k, k.slot), o, ops.add(p, ops.const(1)), when=empty)
        put(ops, w, frames_of(k, k.fst), p, ops.ite(empty, ops.const(PCACHE), ops.const(FREE)))
        put(ops, w, frames_of(k, k.fobj), p, o, when=empty)
        put(ops, w, frames_of(k, k.fver), p, obj_field(k, ops, s, k.disk, o), when=empty)
        put(ops, w, frames_of(k, k.fdirty), p, ops.const(False), when=empty)
        put(ops, w, frames_of(k, k.flock), p, ops.const(a.c + 1), when=empty)
        w[k.rp[a.c]] = ops.ite(empty, p, ops.const(k.no_frame))  # a retry forgets the freed frame
        goto_if(k, ops, w, a.c, empty, locked, f"{prefix}.lookup")

    def add_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        o = s[k.ro[a.c]]
        empty = ops.eq(obj_field(k, ops, s, k.slot, o), ops.const(0))
        return [Event("slot_insert", empty, {"obj": o})]

    b.action(f"{prefix}.add", path=path,
             step="filemap_add_folio (xa_lock), read it from disk; if the slot was filled meanwhile, free and retry",
             params={"c": k.cpus}, guard=add_guard, effect=add, emit=add_emit,
             writes=["slot", "frame_state", "frame_obj", "frame_ver", "frame_dirty", "folio_lock", "reg_frame", "pc"],
             kind=kind, where=where)
