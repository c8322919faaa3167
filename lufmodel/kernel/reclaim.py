"""Reclaim of one page-cache folio: ``shrink_folio_list`` with a batch of one.

1. isolate and trylock the folio;
2. ``try_to_unmap_one`` for each (mm, va) of the rmap walk, each under that mm's PTL:
   clear the PTE if it maps the folio, and
   * mode none: ``ptep_clear_flush``, flushing that page at once;
   * batched: add mm_cpumask to the task's ``tlb_ubc``, set ``mm->tlb_flush_batched``;
   * LUF: add mm_cpumask to the LUF batch; a writable PTE fails ``can_luf``. At the end of
     the walk the batch is either kept for LUF (stamping the per-mm and per-mapping
     batches, and the ghost R1/R2 records) or folded into ``tlb_ubc``;
3. ``pageout`` of a dirty folio (after ``try_to_unmap_flush_dirty`` if a writable entry
   was batched) and ``__remove_mapping``: the slot is emptied, the folio unlocked;
4. the end of the batch: ``try_to_unmap_flush`` of ``tlb_ubc``, then the free, with the
   LUF batch recorded on the free page (its luf_key) instead of flushed.

The unmap step and the end-of-walk fold are shared with migration's ``try_to_migrate``
(``Walk``: step names, event kind, batching, and a migration entry instead of none).
"""

from __future__ import annotations

from dataclasses import dataclass

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel import arm64, events, lufbatch, ugen
from lufmodel.kernel.flush import PAGE_FLUSH_WRITES, batch_flush_writes, flush_page, gated, try_to_unmap_flush
from lufmodel.kernel.state import FREE, ISOLATED, PCACHE, Kernel, WriteView, at, extra_refs, frame_field, frames_of, goto, goto_if, objs_of, put
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "shrink_folio_list"


@dataclass(frozen=True)
class Walk:
    """Which rmap walk the unmap steps belong to: reclaim's ``try_to_unmap`` (the default)
    or migration's ``try_to_migrate``. The LUF eligibility and batching are the same."""

    prefix: str = "reclaim"
    """Steps and actions are ``{prefix}.unmap.{i}``."""
    then: str = "reclaim.remove"
    """The step after the last (mm, va) of the walk."""
    kind: str = "reclaim"
    path: str = "try_to_unmap_one"
    batch: bool = True
    """``TTU_BATCH_FLUSH`` (in every mode but none): defer the flush to a batch. Without it
    each PTE is flushed at once (``ptep_clear_flush``) and nothing joins a batch."""
    flush_point: str = "unmap_flush"
    """The switch of that ``ptep_clear_flush``."""
    migration: bool = False
    """Leave a migration entry (which keeps the PTE's write and dirty bits, and marks the
    folio dirty if the PTE was) instead of an empty PTE."""


RECLAIM = Walk()


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    where = lambda a: cfg.allows(a.c, "reclaim")  # noqa: E731
    rmap = k.rmap()
    mode = cfg.mode

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        ok = ops.and_(
            at(k, ops, s, a.c, "user"),
            ops.eq(s[k.fst[a.p]], ops.const(PCACHE)),
            ops.eq(s[k.flock[a.p]], ops.const(0)),
        )
        if "writeback" in cfg.events:
            # shrink_folio_list does not reclaim a folio under writeback.
            ok = ops.and_(ok, ops.not_(s[k.fwb[a.p]]))
        return ok

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.flock[a.p]] = ops.const(a.c + 1)
        w[k.rp[a.c]] = ops.const(a.p)
        w[k.ro[a.c]] = s[k.fobj[a.p]]
        if cfg.luf:
            w[k.canluf[a.c]] = ops.const(True)
        goto(k, ops, w, a.c, "reclaim.unmap.0")

    b.action("reclaim", path=PATH, step="isolate the folio from the LRU, folio_trylock",
             params={"c": k.cpus, "p": k.frames}, guard=start_guard, effect=start,
             writes=["folio_lock", "reg_frame", "reg_obj", "pc"] + (["can_luf"] if cfg.luf else []),
             kind="reclaim", where=where)

    for i, (m, v) in enumerate(rmap):
        add_unmap_step(k, b, i, m, v, last=(i == len(rmap) - 1))

    flush_dirty = cfg.point("reclaim_flush_dirty") and mode != "none"

    def remove_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, "reclaim.remove")

    def remove(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p, o = s[k.rp[a.c]], s[k.ro[a.c]]
        # __remove_mapping freezes the refcount; a reference held by munmap's mmu_gather
        # or a GUP pin makes it fail, and the folio is kept (v12: luf_flush(fold_unmap_luf())
        # at once).
        kept = extra_refs(k, ops, s, p)
        go = ops.not_(kept)
        dirty = ops.and_(go, frame_field(k, ops, s, k.fdirty, p))
        if flush_dirty:
            need = ops.and_(dirty, s[k.ubcw[a.c]])
            try_to_unmap_flush(k, ops, w, a.c, gated(ops, [s[k.ubc[a.c, c2]] for c2 in k.cpus], need))
            for c2 in k.cpus:
                w[k.ubc[a.c, c2]] = ops.and_(ops.not_(need), s[k.ubc[a.c, c2]])
            w[k.ubcw[a.c]] = ops.and_(ops.not_(need), s[k.ubcw[a.c]])
        if mode != "none":
            batch = [w.get(k.ubc[a.c, c2]) for c2 in k.cpus]
            if cfg.luf and cfg.real_book:  # luf_flush(fold_unmap_luf())
                key = lufbatch.fold_unmap_luf(k, ops, w, a.c, kept)
                batch = [ops.or_(x, y) for x, y in zip(batch, lufbatch.key_mask(k, ops, WriteView(w), key))]
            elif cfg.luf and not cfg.arm64:
                batch = [ops.or_(x, s[k.ubcl[a.c, c2]]) for c2, x in enumerate(batch)]
            try_to_unmap_flush(k, ops, w, a.c, gated(ops, batch, kept))
        put(ops, w, objs_of(k, k.disk), o, frame_field(k, ops, s, k.fver, p), when=dirty)
        put(ops, w, frames_of(k, k.fdirty), p, ops.const(False), when=dirty)
        put(ops, w, objs_of(k, k.slot), o, ops.const(0), when=go)
        put(ops, w, frames_of(k, k.fst), p, ops.const(ISOLATED), when=go)
        put(ops, w, frames_of(k, k.flock), p, ops.const(0))
        if mode != "none":
            _reset(k, ops, w, a.c, kept)
        w[k.rp[a.c]] = ops.ite(kept, ops.const(k.no_frame), s[k.rp[a.c]])
        w[k.ro[a.c]] = ops.ite(kept, ops.const(0), s[k.ro[a.c]])
        goto_if(k, ops, w, a.c, kept, "user", "reclaim.free")

    fd_note = "try_to_unmap_flush_dirty + " if flush_dirty else ""
    holder = "mmu_gather or a GUP pin" if "dma" in cfg.events else "mmu_gather"
    keep_note = f"; if {holder} holds a reference: keep the folio" + (" and flush its batch" if mode != "none" else "")
    remove_writes = ["disk", "frame_dirty", "slot", "frame_state", "folio_lock", "reg_frame", "reg_obj", "pc"]
    if mode != "none":
        remove_writes += batch_flush_writes(k) + ["tlb_ubc", "tlb_ubc_writable"]
    if cfg.luf:
        remove_writes += ["tlb_ubc_luf", "can_luf"]
    if cfg.luf and cfg.real_book:
        remove_writes += list(lufbatch.KEY_FAMILIES)
    b.action("reclaim.remove", path=PATH,
             step=f"{fd_note}pageout if dirty; __remove_mapping (xa_lock): empty the slot; folio_unlock" + keep_note,
             params={"c": k.cpus}, guard=remove_guard, effect=remove,
             writes=sorted(set(remove_writes)),
             kind="reclaim", where=where)

    batch_flush = cfg.point("reclaim_batch_flush") and mode != "none"

    def free_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, "reclaim.free")

    def free(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p = s[k.rp[a.c]]
        key = lufbatch.fold_unmap_luf(k, ops, w, a.c, ops.const(True)) if cfg.luf and cfg.real_book else None
        if batch_flush:
            try_to_unmap_flush(k, ops, w, a.c, [s[k.ubc[a.c, c2]] for c2 in k.cpus])
        if cfg.luf:
            for c2 in k.cpus:
                put(ops, w, [k.fpend[q, c2] for q in k.frames], p, s[k.ubcl[a.c, c2]])
            freed = [s[k.ubcl[a.c, c2]] for c2 in k.cpus]
            w.emit(events.with_mask(events.LUF_FREE, O.any_(ops, freed), freed, frame=p))
        if key is not None:  # free_unref_folios(&free_folios_luf, luf_key)
            put(ops, w, frames_of(k, k.fkey), p, key)
            ugen.settle(k, ops, w)
        put(ops, w, frames_of(k, k.fst), p, ops.const(FREE))
        if mode != "none":
            _reset(k, ops, w, a.c, ops.const(True))
        w[k.rp[a.c]] = ops.const(k.no_frame)
        w[k.ro[a.c]] = ops.const(0)
        goto(k, ops, w, a.c, "user")

    def free_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        if not cfg.luf:
            return []
        deferred = ops.and_(s[k.canluf[a.c]], O.any_(ops, [s[k.ubcl[a.c, c2]] for c2 in k.cpus]))
        return [Event("luf_defer", deferred, {})] + (lufbatch.key_reuse_events(k, ops, s, a.c) if cfg.real_book else [])

    luf_note = ", free with the LUF batch as the page's key" if cfg.luf else ", free"
    step = ("try_to_unmap_flush" if batch_flush else "no flush") + luf_note
    writes = ["frame_state", "reg_frame", "reg_obj", "pc"]
    if batch_flush:
        writes += batch_flush_writes(k)
    if cfg.luf and cfg.real_book:
        writes += list(lufbatch.KEY_FAMILIES) + ["frame_key"]
    if mode != "none":
        writes += ["tlb_ubc", "tlb_ubc_writable"]
    if cfg.luf:
        writes += ["frame_luf", "tlb_ubc_luf", "can_luf"]
    b.action("reclaim.free", path=PATH, step=step, params={"c": k.cpus}, guard=free_guard, effect=free,
             emit=free_emit, writes=sorted(set(writes)), kind="reclaim", where=where)


def add_unmap_step(k: Kernel, b: ModelBuilder, i: int, m: int, v: int, *, last: bool, walk: Walk = RECLAIM) -> None:
    cfg = k.cfg
    mode = cfg.mode
    here = f"{walk.prefix}.unmap.{i}"
    after = walk.then if last else f"{walk.prefix}.unmap.{i + 1}"
    batching = mode != "none" and walk.batch
    immediate = not batching and cfg.point(walk.flush_point)
    luf = cfg.luf and batching

    def guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, here)

    def effect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p = s[k.rp[a.c]]
        maps = ops.eq(s[k.pte[m, v]], ops.add(p, ops.const(1)))
        # "If the PTE was dirty then it's best to assume it's writable" (d950c9477d51).
        maybe_writable = ops.and_(maps, ops.or_(s[k.ptew[m, v]], s[k.pted[m, v]]))
        fails_luf = maybe_writable if cfg.luf_check == "pte_dirty" else ops.and_(maps, s[k.ptew[m, v]])
        w[k.pte[m, v]] = ops.ite(maps, ops.const(0), s[k.pte[m, v]])
        if walk.migration:
            w[k.pmig[m, v]] = ops.ite(maps, ops.add(p, ops.const(1)), s[k.pmig[m, v]])
            dirty = ops.and_(maps, s[k.pted[m, v]])
            put(ops, w, frames_of(k, k.fdirty), p, ops.const(True), when=dirty)
        else:
            w[k.ptew[m, v]] = ops.and_(ops.not_(maps), s[k.ptew[m, v]])
            w[k.pted[m, v]] = ops.and_(ops.not_(maps), s[k.pted[m, v]])
        if immediate:
            flush_page(k, ops, w, m, ops.const(v), maps)
        if batching and cfg.arm64:  # arch_tlbbatch_add_pending: the TLBI is issued now
            arm64.issue_tlbi(k, ops, s, w, a.c, m, v, maps)
        if batching and mode == "batched":
            for c2 in k.cpus:
                w[k.ubc[a.c, c2]] = ops.or_(s[k.ubc[a.c, c2]], ops.and_(maps, s[k.mmcpus[m, c2]]))
        if batching:
            w[k.ubcw[a.c]] = ops.or_(s[k.ubcw[a.c]], maybe_writable)
            w[k.mmbatched[m]] = ops.or_(s[k.mmbatched[m]], maps)
        if luf:
            for c2 in k.cpus:
                w[k.ubcl[a.c, c2]] = ops.or_(s[k.ubcl[a.c, c2]], ops.and_(maps, s[k.mmcpus[m, c2]]))
            w[k.canluf[a.c]] = ops.and_(s[k.canluf[a.c]], ops.not_(fails_luf))
            w[k.rclr[a.c, i]] = maps
            if last:
                fold(k, ops, s, a, w)
        goto(k, ops, w, a.c, after)

    clear = "a migration entry replaces the PTE (keeps its W and D bits)" if walk.migration else "clear the PTE"
    if immediate:
        what = f"{clear}, ptep_clear_flush"
    elif batching and mode == "batched":
        what = f"{clear}, batch the flush (tlb_ubc)"
    elif luf:
        what = f"{clear}, LUF if " + ("clean and read-only" if cfg.luf_check == "pte_dirty" else "read-only") + " (else can_luf fails)"
    else:
        what = f"{clear}, no flush"
    if luf and last:
        what += "; end of walk: keep the batch for LUF or fold it into tlb_ubc"
    writes = ["pte", "pc"] + (["pte_migration", "frame_dirty"] if walk.migration else ["pte_w", "pte_dirty"])
    if immediate:
        writes += list(PAGE_FLUSH_WRITES)
    if batching and mode == "batched":
        writes += ["tlb_ubc"]
    if batching:
        writes += ["tlb_ubc_writable", "mm_flush_batched"]
    if luf:
        writes += ["tlb_ubc_luf", "can_luf", "unmapped"]
        if last:
            writes += ["tlb_ubc", "r1_record", "r2_record", "mm_luf", "mapping_luf"]
            if cfg.real_book:
                writes += ["mm_lb", "map_lb"] + list(ugen.UGEN_FAMILIES)
    if batching and cfg.arm64:
        writes += ["tlb_inv"]
    b.action(here, path=walk.path, step=f"mm{m} va{v} (PTL): {what}", params={"c": k.cpus},
             guard=guard, effect=effect, writes=sorted(set(writes)), kind=walk.kind,
             where=lambda a: cfg.allows(a.c, walk.kind))


def fold(k: Kernel, ops: Ops, s: Read, a: Args, w: Write) -> None:
    """End of the rmap walk (``try_to_unmap`` returns ``can_luf``): LUF or a normal batch.

    LUF: stamp ``mm->luf_batch`` and ``mapping->luf_batch`` with the CPUs, and set the ghost
    R1 record of every PTE cleared and the R2 record of the page-cache position.
    Otherwise the LUF batch joins ``tlb_ubc`` and is flushed before the free.
    """
    luf = w.get(k.canluf[a.c])
    batch = [w.get(k.ubcl[a.c, c2]) for c2 in k.cpus]
    o = s[k.ro[a.c]]
    skipped = [ops.and_(luf, x) for x in batch]  # for the debug monitors (kernel/events.py)
    in_mm = {f"mm{m}": O.any_(ops, [w.get(k.rclr[a.c, j]) for j, (m2, _) in enumerate(k.rmap()) if m2 == m]) for m in k.mms}
    w.emit(events.with_mask(events.LUF_DEFERRAL, O.any_(ops, skipped), skipped, frame=s[k.rp[a.c]], obj=o, **in_mm))
    if k.cfg.real_book:  # fold_luf_batch_mm() of mm->luf_batch and mapping->luf_batch
        walk = list(enumerate(k.rmap()))
        cleared = [O.any_(ops, [w.get(k.rclr[a.c, j]) for j, (m2, _) in walk if m2 == m]) for m in k.mms]
        lufbatch.stamp(k, ops, s, w, luf, cleared, o)
    for j, (m, v) in enumerate(k.rmap()):
        cleared = ops.and_(luf, w.get(k.rclr[a.c, j]))
        for c2 in k.cpus:
            stamp = ops.and_(cleared, s[k.mmcpus[m, c2]])
            w[k.rec1[m, v, c2]] = ops.or_(s[k.rec1[m, v, c2]], stamp)
            w[k.mmluf[m, c2]] = ops.or_(w.get(k.mmluf[m, c2]), stamp)
        w[k.rclr[a.c, j]] = ops.const(False)
    for c2 in k.cpus:
        owed = ops.and_(luf, batch[c2])
        put(ops, w, [k.rec2[q, c2] for q in k.objs], o, ops.const(True), when=owed)
        for f in range(k.cfg.files):
            in_file = O.any_(ops, [ops.eq(o, ops.const(q)) for q in k.objs if k.file_of(q) == f])
            w[k.mapluf[f, c2]] = ops.or_(s[k.mapluf[f, c2]], ops.and_(owed, in_file))
        w[k.ubc[a.c, c2]] = ops.or_(s[k.ubc[a.c, c2]], ops.and_(ops.not_(luf), batch[c2]))
        w[k.ubcl[a.c, c2]] = ops.and_(luf, batch[c2])


def _reset(k: Kernel, ops: Ops, w: Write, c: int, when: Expr) -> None:
    """Empty the task's reclaim batches (after their flush or their hand-over to the free)."""
    for c2 in k.cpus:
        w[k.ubc[c, c2]] = ops.and_(ops.not_(when), w.get(k.ubc[c, c2]))
        if k.cfg.luf:
            w[k.ubcl[c, c2]] = ops.and_(ops.not_(when), w.get(k.ubcl[c, c2]))
    w[k.ubcw[c]] = ops.and_(ops.not_(when), w.get(k.ubcw[c]))
    if k.cfg.luf:
        w[k.canluf[c]] = ops.and_(ops.not_(when), w.get(k.canluf[c]))
