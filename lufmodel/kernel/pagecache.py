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
from lufmodel.builder import ModelBuilder
from lufmodel.kernel.flush import FLUSH_WRITES, flush_cpus
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
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops


def add_alloc_steps(k: Kernel, b: ModelBuilder, *, prefix: str, path: str, kind: str, start: str, then: str, extra_guard: str | None = None) -> None:
    """``{prefix}.alloc`` (from step ``start``) takes a free frame; ``{prefix}.takeoff`` flushes.

    In the LUF modes the frame's pending batch is folded into the task's batch and flushed
    at take-off (if the ``takeoff`` flush point is on); the page's key is consumed either way.
    """
    cfg = k.cfg
    takeoff = cfg.luf
    fold = cfg.luf and cfg.point("takeoff")
    after_alloc = f"{prefix}.takeoff" if takeoff else then

    def guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, start), ops.eq(s[k.fst[a.p]], ops.const(FREE)))

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.fst[a.p]] = ops.const(ALLOC)
        w[k.rp[a.c]] = ops.const(a.p)
        for c2 in k.cpus:
            if fold:
                w[k.ubc[a.c, c2]] = ops.or_(s[k.ubc[a.c, c2]], s[k.fpend[a.p, c2]])
            w[k.fpend[a.p, c2]] = ops.const(False)
        goto(k, ops, w, a.c, after_alloc)

    def emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        owed = O.any_(ops, [s[k.fpend[a.p, c2]] for c2 in k.cpus])
        return [Event("alloc", ops.const(True), {"luf": owed})]

    writes = ["frame_state", "reg_frame", "frame_luf", "pc"] + (["tlb_ubc"] if fold else [])
    b.action(
        f"{prefix}.alloc",
        path=path,
        step="rmqueue: take a free page off the free lists (zone lock)" + (", fold its LUF batch" if fold else ""),
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

    def tguard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, f"{prefix}.takeoff")

    def teffect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        flush_cpus(k, ops, w, [s[k.ubc[a.c, c2]] for c2 in k.cpus])
        for c2 in k.cpus:
            w[k.ubc[a.c, c2]] = ops.const(False)
        goto(k, ops, w, a.c, then)

    b.action(
        f"{prefix}.takeoff",
        path=path,
        step="luf_takeoff_end: flush the CPUs the page's deferred flush is owed for" if fold
        else "luf_takeoff_end: (take-off flush removed) nothing to flush",
        params={"c": k.cpus},
        guard=tguard,
        effect=teffect,
        writes=list(FLUSH_WRITES) + ["tlb_ubc", "pc"],
        kind=kind,
        where=lambda a: cfg.allows(a.c, kind),
    )


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
        w[k.rp[a.c]] = ops.ite(found, ops.sub(sv, ops.const(1)), s[k.rp[a.c]])
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
        goto_if(k, ops, w, a.c, still, locked, f"{prefix}.lookup")

    b.action(f"{prefix}.lock", path=path, step="folio_lock, recheck folio->mapping (else retry)", params={"c": k.cpus},
             guard=lock_guard, effect=lock, writes=["folio_lock", "pc"], kind=kind, where=where)

    add_alloc_steps(k, b, prefix=prefix, path=path, kind=kind, start=f"{prefix}.alloc", then=f"{prefix}.add")

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
        goto_if(k, ops, w, a.c, empty, locked, f"{prefix}.lookup")

    def add_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        o = s[k.ro[a.c]]
        empty = ops.eq(obj_field(k, ops, s, k.slot, o), ops.const(0))
        return [Event("slot_insert", empty, {"obj": o})]

    b.action(f"{prefix}.add", path=path,
             step="filemap_add_folio (xa_lock), read it from disk; if the slot was filled meanwhile, free and retry",
             params={"c": k.cpus}, guard=add_guard, effect=add, emit=add_emit,
             writes=["slot", "frame_state", "frame_obj", "frame_ver", "frame_dirty", "folio_lock", "pc"],
             kind=kind, where=where)
