"""Migration of one page-cache folio: ``migrate_pages`` with a batch of one (LUF v12 24/26).

1. ``migrate``: isolate the folio and ``folio_trylock`` it. (The kernel allocates the
   destination between the two; holding the lock a step earlier only hides interleavings
   in which another path takes and releases the lock in between, which equal running that
   path before the migration.)
2. ``get_new_folio``: a free frame leaves the free lists through the shared take-off steps
   (``pagecache.add_alloc_steps``) into ``reg_dst``; it stays invisible (and, in the
   kernel, locked) until it enters the page cache.
3. ``try_to_migrate_one`` per (mm, va) of the rmap walk, under that mm's PTL: reclaim's
   unmap step (``reclaim.Walk(migration=True)``), so LUF eligibility and batching are
   reclaim's; the PTE becomes a migration entry (``pte_migration``: the source frame) that
   keeps the write and dirty bits. ``[migrate] reason``:
   * ``compaction``: MIGRATE_ASYNC, ``TTU_BATCH_FLUSH``: the flush is batched, LUF applies;
   * ``memory-failure`` (soft offline): MIGRATE_SYNC: ``ptep_clear_flush`` of each PTE at
     once, so nothing is batched nor deferred.
4. ``fold_unmap_luf(); try_to_unmap_flush()``: the non-LUF batch only (compaction), with
   the shared ``flush.try_to_unmap_flush`` (ugens with ``[luf] bookkeeping = "v12"``, where
   the LUF batch gets its ``luf_key``; the DSB on arm64).
5. ``move_to_new_folio``: ``folio_mc_copy`` of the content (object and version) to dst.
6. ``__folio_migrate_mapping`` under xa_lock: freeze src's refcount (a reference held by
   munmap's mmu_gather or a GUP pin fails it with -EAGAIN and the move is retried: here the
   step waits; the give-up after the last retry is not modelled), move the dirty flag, and
   replace the page-cache slot src -> dst (a ``slot_insert`` event: literal R2).
7. ``remove_migration_ptes`` per (mm, va), under its PTL: a migration entry for src becomes
   a PTE to dst with the entry's write and dirty bits (a ``set_pte`` event: literal R1).
   LUF only ever defers read-only PTEs, so a restored PTE is writable only if LUF was not
   used.
8. ``folio_unlock(dst)``, ``folio_unlock(src)``, ``migrate_folio_done``: compaction frees
   src with the LUF batch as its key; memory failure keeps src (``page_handle_poison``:
   never reused) and calls ``luf_flush(luf_key)`` at once.

A fault on a migration entry waits (``migration_entry_wait``) until the migration unlocks
the folio. In the model the entry is not present, so the fault goes to the page cache and
waits for the folio lock, which the migration holds on src, and on dst as soon as dst is
in the page cache, until its last step; by then the PTE is restored.
"""

from __future__ import annotations

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel import events, lufbatch, ugen
from lufmodel.kernel.flush import batch_flush_writes, try_to_unmap_flush
from lufmodel.kernel.pagecache import add_alloc_steps
from lufmodel.kernel.reclaim import Walk, add_unmap_step
from lufmodel.kernel.state import (
    FREE,
    ISOLATED,
    PCACHE,
    Kernel,
    at,
    extra_refs,
    frame_field,
    frames_of,
    goto,
    objs_of,
    put,
)
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "migrate_pages"
KIND = "migrate"


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    if KIND not in cfg.events:
        return
    where = lambda a: cfg.allows(a.c, KIND)  # noqa: E731
    rmap = k.rmap()
    compaction = cfg.migrate_reason == "compaction"
    batching = compaction and cfg.mode != "none"
    walk = Walk(prefix="migrate", then="migrate.flush" if batching else "migrate.copy", kind=KIND,
                path="try_to_migrate_one", batch=compaction, flush_point="migrate_unmap_flush", migration=True)

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            ops.eq(s[k.fst[a.p]], ops.const(PCACHE)),
            ops.eq(s[k.flock[a.p]], ops.const(0)),
        )

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.flock[a.p]] = ops.const(a.c + 1)
        w[k.rp[a.c]] = ops.const(a.p)
        w[k.ro[a.c]] = s[k.fobj[a.p]]
        if cfg.luf:
            w[k.canluf[a.c]] = ops.const(True)
        goto(k, ops, w, a.c, "migrate.alloc")

    why = "compaction (MIGRATE_ASYNC)" if compaction else "soft offline (MIGRATE_SYNC, MR_MEMORY_FAILURE)"
    b.action(KIND, path=PATH, step=f"{why}: isolate the folio, folio_trylock",
             params={"c": k.cpus, "p": k.frames}, guard=start_guard, effect=start,
             writes=["folio_lock", "reg_frame", "reg_obj", "pc"] + (["can_luf"] if cfg.luf else []),
             kind=KIND, where=where)

    add_alloc_steps(k, b, prefix="migrate", path="get_new_folio", kind=KIND, start="migrate.alloc",
                    then="migrate.unmap.0", into=k.rd)

    for i, (m, v) in enumerate(rmap):
        add_unmap_step(k, b, i, m, v, last=(i == len(rmap) - 1), walk=walk)

    if batching:
        _add_batch_flush(k, b)
    _add_move(k, b)
    for i, (m, v) in enumerate(rmap):
        _add_remap_step(k, b, i, m, v, last=(i == len(rmap) - 1))
    _add_done(k, b, compaction)


def _add_batch_flush(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    flush = cfg.point("migrate_batch_flush")

    def guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, "migrate.flush")

    book = cfg.luf and cfg.real_book

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        # v12 bookkeeping: the key goes with src (migrate_folio_done(src, reason, luf_key));
        # the model keeps it in src's frame_key, which only a free page's take-off reads.
        key = lufbatch.fold_unmap_luf(k, ops, w, a.c, ops.const(True)) if book else None
        if flush:
            try_to_unmap_flush(k, ops, w, a.c, [s[k.ubc[a.c, c2]] for c2 in k.cpus])
        if key is not None:
            put(ops, w, frames_of(k, k.fkey), s[k.rp[a.c]], key)
            ugen.settle(k, ops, w)
        for c2 in k.cpus:
            w[k.ubc[a.c, c2]] = ops.const(False)
        w[k.ubcw[a.c]] = ops.const(False)
        goto(k, ops, w, a.c, "migrate.copy")

    luf = "fold_unmap_luf(); " if cfg.luf else ""
    what = "try_to_unmap_flush" + (" of the non-LUF batch" if cfg.luf else "") if flush else "(try_to_unmap_flush removed) no flush"
    b.action("migrate.flush", path="migrate_pages_batch", step=luf + what, params={"c": k.cpus},
             guard=guard, effect=effect,
             writes=sorted(set((batch_flush_writes(k) if flush else []) + ["tlb_ubc", "tlb_ubc_writable", "pc"]
                              + (list(lufbatch.KEY_FAMILIES) + ["frame_key"] if book else []))),
             kind=KIND, where=lambda a: cfg.allows(a.c, KIND))


def _add_move(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    where = lambda a: cfg.allows(a.c, KIND)  # noqa: E731

    def copy_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, "migrate.copy")

    def copy(ops: Ops, s: Read, a: Args, w: Write) -> None:
        src, dst = s[k.rp[a.c]], s[k.rd[a.c]]
        put(ops, w, frames_of(k, k.fobj), dst, frame_field(k, ops, s, k.fobj, src))
        put(ops, w, frames_of(k, k.fver), dst, frame_field(k, ops, s, k.fver, src))
        goto(k, ops, w, a.c, "migrate.mapping")

    b.action("migrate.copy", path="move_to_new_folio", step="folio_mc_copy: copy the content of src to dst",
             params={"c": k.cpus}, guard=copy_guard, effect=copy,
             writes=["frame_obj", "frame_ver", "pc"], kind=KIND, where=where)

    def mapping_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "migrate.mapping"), ops.not_(extra_refs(k, ops, s, s[k.rp[a.c]])))

    def mapping(ops: Ops, s: Read, a: Args, w: Write) -> None:
        src, dst, o = s[k.rp[a.c]], s[k.rd[a.c]], s[k.ro[a.c]]
        put(ops, w, objs_of(k, k.slot), o, ops.add(dst, ops.const(1)))
        put(ops, w, frames_of(k, k.fdirty), dst, frame_field(k, ops, s, k.fdirty, src))
        put(ops, w, frames_of(k, k.fdirty), src, ops.const(False))
        put(ops, w, frames_of(k, k.fst), dst, ops.const(PCACHE))
        put(ops, w, frames_of(k, k.fst), src, ops.const(ISOLATED))
        put(ops, w, frames_of(k, k.flock), dst, ops.const(a.c + 1))
        goto(k, ops, w, a.c, "migrate.remap.0")

    def mapping_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        return [Event("slot_insert", ops.const(True), {"obj": s[k.ro[a.c]]})]

    b.action("migrate.mapping", path="__folio_migrate_mapping",
             step="xa_lock: freeze src's refcount (waits while another reference is held: -EAGAIN, retry), "
                  "move the dirty flag, the page-cache slot src -> dst (dst locked)",
             params={"c": k.cpus}, guard=mapping_guard, effect=mapping, emit=mapping_emit,
             writes=["slot", "frame_dirty", "frame_state", "folio_lock", "pc"], kind=KIND, where=where)


def _add_remap_step(k: Kernel, b: ModelBuilder, i: int, m: int, v: int, *, last: bool) -> None:
    cfg = k.cfg
    here = f"migrate.remap.{i}"
    after = "migrate.free" if last else f"migrate.remap.{i + 1}"

    def restores(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.eq(s[k.pmig[m, v]], ops.add(s[k.rp[a.c]], ops.const(1)))

    def guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, here)

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        mine = restores(ops, s, a)
        w[k.pte[m, v]] = ops.ite(mine, ops.add(s[k.rd[a.c]], ops.const(1)), s[k.pte[m, v]])
        w[k.pmig[m, v]] = ops.ite(mine, ops.const(0), s[k.pmig[m, v]])
        goto(k, ops, w, a.c, after)

    def emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        fields = {"mm": ops.const(m), "va": ops.const(v), "obj": s[k.ro[a.c]], "writable": s[k.ptew[m, v]]}
        return [Event("set_pte", restores(ops, s, a), fields)]

    b.action(here, path="remove_migration_pte",
             step=f"mm{m} va{v} (PTL): a migration entry for src becomes a PTE to dst (its W and D bits kept)",
             params={"c": k.cpus}, guard=guard, effect=effect, emit=emit,
             writes=["pte", "pte_migration", "pc"], kind=KIND, where=lambda a: cfg.allows(a.c, KIND))


def _add_done(k: Kernel, b: ModelBuilder, compaction: bool) -> None:
    cfg = k.cfg
    mf_flush = not compaction and cfg.luf and not cfg.arm64 and cfg.point("v12_migrate_memory_failure")

    def guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, "migrate.free")

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        src, dst = s[k.rp[a.c]], s[k.rd[a.c]]
        put(ops, w, frames_of(k, k.flock), dst, ops.const(0))
        put(ops, w, frames_of(k, k.flock), src, ops.const(0))
        if compaction:
            put(ops, w, frames_of(k, k.fst), src, ops.const(FREE))
            if cfg.luf:
                for c2 in k.cpus:
                    put(ops, w, [k.fpend[q, c2] for q in k.frames], src, s[k.ubcl[a.c, c2]])
                freed = [s[k.ubcl[a.c, c2]] for c2 in k.cpus]  # for the debug monitors
                w.emit(events.with_mask(events.LUF_FREE, O.any_(ops, freed), freed, frame=src))
        elif mf_flush:  # luf_flush(luf_key): the LUF batch (on arm64 a no-op: always done)
            try_to_unmap_flush(k, ops, w, a.c, [s[k.ubcl[a.c, c2]] for c2 in k.cpus])
        if cfg.luf:
            for c2 in k.cpus:
                w[k.ubcl[a.c, c2]] = ops.const(False)
            w[k.canluf[a.c]] = ops.const(False)
        for reg in (k.rp, k.ro, k.rd):
            w[reg[a.c]] = ops.const(k.idle(reg))
        goto(k, ops, w, a.c, "user")

    def emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        if not (cfg.luf and compaction):
            return []
        deferred = ops.and_(s[k.canluf[a.c]], O.any_(ops, [s[k.ubcl[a.c, c2]] for c2 in k.cpus]))
        return [Event("luf_defer", deferred, {})]

    if compaction:
        what = "free src" + (" with the LUF batch as its key" if cfg.luf else "")
    else:
        what = "keep src poisoned (page_handle_poison)" + ("; luf_flush(luf_key)" if mf_flush else "")
    writes = ["folio_lock", "reg_frame", "reg_obj", "reg_dst", "pc"]
    if compaction:
        writes += ["frame_state"]
    if mf_flush:
        writes += batch_flush_writes(k)
    if cfg.luf:
        writes += ["tlb_ubc_luf", "can_luf"]
        if compaction:
            writes += ["frame_luf"]
    b.action("migrate.free", path="migrate_folio_done", step=f"folio_unlock dst and src; {what}",
             params={"c": k.cpus}, guard=guard, effect=effect, emit=emit,
             writes=sorted(set(writes)), kind=KIND, where=lambda a: cfg.allows(a.c, KIND))
