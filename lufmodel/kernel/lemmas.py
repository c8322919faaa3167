"""Lemmas: auxiliary invariants of the kernel model that make its properties inductive.

The safety properties are true but not *inductive*: from an unreachable state (a TLB entry
to a free frame whose deferred flush is not recorded, a CPU at a step whose registers name
a frame in the wrong state) one step breaks them. Each lemma below excludes a family of such
states. They are written once with the ``Ops`` interface, like every property, and are
*never trusted*: ``prove`` keeps only the lemmas that hold initially and are inductive
relative to each other (Houdini), and the tests check with the explicit explorer that each
holds in every reachable state of the specs it is used on. A lemma that does not fit a
configuration is simply dropped there (and reported).

The lemmas, in the order of the chain that proves P1 (no read of reused memory):

* ``tlb_tag_current``: a TLB entry's ghost tag is the object its frame holds now. With a
  CPU in user mode this *is* P1.
* ``tlb_entry_covered``: every TLB entry to frame ``p`` is accounted for: its PTE still
  maps ``p``; or ``p`` is free and its deferred flush (``frame_luf``) is owed to that CPU;
  or a reclaim of ``p`` has the CPU in its batch (``tlb_ubc``/``tlb_ubc_luf``); or an
  allocation of ``p`` is at take-off with the CPU in its flush mask; or a munmap zapped its
  PTE and has not flushed yet. Hence after the
  take-off flush no entry reaches the page the allocator is about to reuse.
* ``pte_maps_pagecache``: a present PTE maps a page-cache frame (no fill reaches a free,
  isolated, allocated or kernel frame).
* ``reclaim_unmapped``: behind the reclaim's rmap walk no PTE maps the folio (it stays
  locked, so no fault can map it again).
* ``luf_pending_free``: only a free frame owes a deferred flush.
* ``slot_frame`` / ``pagecache_frame_slot``: the page cache and the frame states agree.
* ``frame_owner_*``: a CPU in the middle of a path holds what its registers say (a frame
  being allocated; a locked page-cache folio under reclaim or fault; an isolated folio at
  the free).
* ``alloc_owner_unique``: a frame being allocated belongs to exactly one CPU.
* ``folio_lock_owner``: a locked folio is locked by a CPU at a step that holds it.
* ``fault_registers``, ``pte_object``, ``tlb_object``, ``writable_needs_rw``: a fault works
  on the VMA's object, PTEs and TLB entries map (were filled for) the VMA's object, and only
  a read-write VMA has writable translations — each except while an mprotect/munmap/mmap
  of that page is in progress. They carry P0, P2 and P4.
* ``stale_batched``, ``munmap_range_clean``: a stale entry is in an mm whose unmap reclaim
  batched (``tlb_flush_batched``, which ``flush_tlb_batched_pending`` flushes) or was zapped
  by a munmap that has still to flush; so a munmap's flush leaves no entry of its page.
* ``gathered_pagecache``: a page munmap's gather holds stays in the page cache.
* ``stale_in_mm_batch``: a stale entry whose flush LUF deferred is recorded in its mm's
  LUF batch, so v12's ``luf_flush_vma``/``luf_flush_mm`` reach it.
* ``gather_refs_count``, ``munmap_registers``: munmap's mmu_gather holds one reference per
  zapped page until its flush; its VMA is detached and, after the zap, its PTE is none.
* ``idle_registers``, ``mprotect_registers``: the path registers are clear in user mode;
  an mprotect's registers name its VMA's object and new protection.
* ``idle_batches``: the task's flush batches are empty outside reclaim and take-off, and
  when a reclaim's rmap walk starts.
* ``mmap_lock_count``: the mmap lock counts the faults in progress (or is write-locked by
  the one mprotect/munmap/mmap in progress); without it the count leaves its domain.

``lemmas(cfg)`` builds them for a configuration; ``lemmas_for(cfg, model)`` also checks
that they read the same variables as ``model`` (same names and positions).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder, VarArray
from lufmodel.errors import ModelDefinitionError
from lufmodel.kernel.config import PROT_RO, PROT_RO_MAYWRITE, PROT_RW, Config
from lufmodel.kernel.state import ALLOC, FAULT_READ, FENCE_STEPS, FREE, ISOLATED, PCACHE, Kernel, declare, frame_field, obj_field, pick, runs
from lufmodel.kernel.vma import zapped_in
from lufmodel.model import Model, Property, Read, StatePred
from lufmodel.ops import Expr, Ops

ALLOC_STEPS = ("fault.takeoff", "fault.add", "kalloc.takeoff", "kalloc.use", "write.takeoff", "write.add")
"""Steps at which the CPU's ``reg_frame`` is a frame it took off the free lists."""
TAKEOFF_STEPS = ("fault.takeoff", "kalloc.takeoff", "write.takeoff")
"""Steps before the take-off flush of ``tlb_ubc``."""
FAULT_LOCKED_STEPS = ("fault.set_pte",)
FAULT_STEPS = ("fault.lookup", "fault.lock", "fault.alloc", "fault.takeoff", "fault.add", "fault.set_pte", "fault.end")
"""Steps of a page fault, which holds the mmap lock for read."""
WRITE_LOCKED_STEPS = ("write.flush", "write.copy", "write.end")
FRAME_HELD_STEPS = (
    "cow.alloc", "cow.copy", "cow.set", "cow.takeoff", "cowfile.add", "cowfile.lock", "cowfile.takeoff",
    "dma.unpin", "dma.write", "fault.add", "fault.end", "fault.lock", "fault.set_pte", "fault.takeoff",
    "fault.takeoff_end", "inval.lock", "inval.remove", "kalloc.takeoff", "kalloc.takeoff_end", "kalloc.use",
    "kalloc_atomic.takeoff", "kalloc_atomic.use", "ksm.alloc", "ksm.copy", "ksm.replace", "ksm.takeoff",
    "ksm.wrprotect", "migrate.alloc", "migrate.copy", "migrate.flush", "migrate.free", "migrate.mapping",
    "migrate.takeoff", "reclaim.free", "reclaim.remove", "truncate.lock", "truncate.remove", "uprobe.alloc",
    "uprobe.copy", "uprobe.replace", "uprobe.takeoff", "write.add", "write.copy", "write.end", "write.flush",
    "write.lock", "write.takeoff", "write.takeoff_end", "writeback.clear", "writeback.io",
)
"""Steps at which ``reg_frame`` holds a frame (with the per-PTE steps of ``HELD_PREFIXES``);
at the others it may be ``no_frame`` (a lookup that found nothing, a path that has not
reached its folio, a zap of a none PTE)."""
HELD_PREFIXES = ("reclaim.unmap.", "migrate.unmap.", "migrate.remap.", "inval.gather.", "inval.zap.", "writeback.mkclean.")
DST_HELD_STEPS = ("cow.copy", "cow.set", "cow.takeoff", "ksm.copy", "ksm.replace", "ksm.takeoff", "migrate.copy",
                  "migrate.flush", "migrate.free", "migrate.mapping", "migrate.takeoff", "uprobe.copy",
                  "uprobe.replace", "uprobe.takeoff")
DST_HELD_PREFIXES = ("migrate.unmap.", "migrate.remap.")
"""Steps at which ``reg_dst`` holds a frame (with migration's per-PTE steps, the prefixes)."""


def _reclaim_locked_steps(k: Kernel) -> tuple[str, ...]:
    return tuple(f"reclaim.unmap.{i}" for i in range(len(k.rmap()))) + ("reclaim.remove",)


def _at_any(k: Kernel, ops: Ops, s: Read, c: int, steps: Sequence[str]) -> Expr:
    return O.is_in(ops, s[k.pc[c]], [k.pcs[n] for n in steps if n in k.pcs])


def _is_frame(ops: Ops, x: Expr, p: int) -> Expr:
    return ops.eq(x, ops.const(p))


def _fence_on(k: Kernel, ops: Ops, s: Read, m: int, v: int) -> Expr:
    """An mprotect/munmap/mmap of (mm ``m``, va ``v``) has started and not returned."""
    return O.any_(ops, [ops.and_(_at_any(k, ops, s, c, FENCE_STEPS), runs(k, ops, s, c, m),
                                 ops.eq(s[k.rv[c]], ops.const(v))) for c in k.cpus])


def lemmas(cfg: Config) -> tuple[Property, ...]:
    """The kernel lemmas for configuration ``cfg`` (category ``lemma``, ``always`` state
    properties)."""
    k = declare(cfg, ModelBuilder("lemmas", cfg.cpus))
    return _lemmas(k)


def lemmas_for(cfg: Config, model: Model) -> tuple[Property, ...]:
    """``lemmas(cfg)``, checked to read the same variables as ``model`` (built from ``cfg``)."""
    k = declare(cfg, ModelBuilder("lemmas", cfg.cpus))
    for f in dataclasses.fields(k):
        arr = getattr(k, f.name)
        if not isinstance(arr, VarArray):
            continue
        for var in arr.all():
            if var.pos >= len(model.variables) or model.variables[var.pos] != var:
                raise ModelDefinitionError(f"lemmas: variable {var.name} is not where the model has it; "
                                           "was the model built from another configuration?")
    return _lemmas(k)


def _lemmas(k: Kernel) -> tuple[Property, ...]:
    out: list[Property] = []

    def lemma(name: str, doc: str, pred: StatePred) -> None:
        out.append(Property(name, doc, "always", "lemma", None, state_pred=pred))

    entries = [(c, m, v) for c in k.cpus for m in k.mms for v in k.vas]
    reclaim_steps = _reclaim_locked_steps(k) + ("reclaim.free",)

    def tag_current(ops: Ops, s: Read) -> Expr:
        ok = []
        for c, m, v in entries:
            t = s[k.tlb[c, m, v]]
            present = ops.not_(ops.eq(t, ops.const(0)))
            held = frame_field(k, ops, s, k.fobj, ops.sub(t, ops.const(1)))
            ok.append(O.implies(ops, present, ops.eq(s[k.tlbo[c, m, v]], held)))
        return O.all_(ops, ok)

    lemma("tlb_tag_current", "a TLB entry's tag is the object its frame holds now", tag_current)

    def covered(ops: Ops, s: Read) -> Expr:
        ok = []
        for c2, m, v in entries:
            for p in k.frames:
                to_p = ops.eq(s[k.tlb[c2, m, v]], ops.const(p + 1))
                why = [ops.eq(s[k.pte[m, v]], ops.const(p + 1)), s[k.fpend[p, c2]]]
                for c in k.cpus:
                    mine = _is_frame(ops, s[k.rp[c]], p)
                    batch = ops.or_(s[k.ubc[c, c2]], s[k.ubcl[c, c2]])
                    why.append(ops.and_(_at_any(k, ops, s, c, reclaim_steps), mine, batch))
                    why.append(ops.and_(_at_any(k, ops, s, c, TAKEOFF_STEPS), mine, s[k.ubc[c, c2]]))
                    zapped_here = ops.and_(runs(k, ops, s, c, m), ops.eq(s[k.rv[c]], ops.const(v)), zapped_in(k, ops, s, c))
                    why.append(ops.and_(_at_any(k, ops, s, c, ("munmap.flush",)), mine, zapped_here))
                ok.append(O.implies(ops, to_p, O.any_(ops, why)))
        return O.all_(ops, ok)

    lemma("tlb_entry_covered", "every TLB entry is backed by its PTE, a deferred flush owed for it, "
          "a reclaim batch, a pending take-off flush, or a munmap's pending flush", covered)

    def pte_pagecache(ops: Ops, s: Read) -> Expr:
        ok = []
        for m in k.mms:
            for v in k.vas:
                pte = s[k.pte[m, v]]
                present = ops.not_(ops.eq(pte, ops.const(0)))
                state = frame_field(k, ops, s, k.fst, ops.sub(pte, ops.const(1)))
                ok.append(O.implies(ops, present, ops.eq(state, ops.const(PCACHE))))
        return O.all_(ops, ok)

    lemma("pte_maps_pagecache", "a present PTE maps a page-cache frame", pte_pagecache)

    def reclaim_unmapped(ops: Ops, s: Read) -> Expr:
        ok = []
        rmap = k.rmap()
        for c in k.cpus:
            target = ops.add(s[k.rp[c]], ops.const(1))
            for i, after in enumerate([f"reclaim.unmap.{i}" for i in range(1, len(rmap))] + ["reclaim.remove"]):
                done = [ops.not_(ops.eq(s[k.pte[m, v]], target)) for m, v in rmap[: i + 1]]
                ok.append(O.implies(ops, _at_any(k, ops, s, c, (after,)), O.all_(ops, done)))
        return O.all_(ops, ok)

    lemma("reclaim_unmapped", "no PTE the reclaim's rmap walk has passed maps the folio again", reclaim_unmapped)

    def pending_free(ops: Ops, s: Read) -> Expr:
        ok = []
        for p in k.frames:
            owed = O.any_(ops, [s[k.fpend[p, c]] for c in k.cpus])
            ok.append(O.implies(ops, owed, ops.eq(s[k.fst[p]], ops.const(FREE))))
        return O.all_(ops, ok)

    lemma("luf_pending_free", "only a free frame owes a deferred flush (frame_luf)", pending_free)

    def slot_frame(ops: Ops, s: Read) -> Expr:
        ok = []
        for o in k.objs:
            for p in k.frames:
                here = ops.eq(s[k.slot[o]], ops.const(p + 1))
                ok.append(O.implies(ops, here, ops.and_(ops.eq(s[k.fst[p]], ops.const(PCACHE)),
                                                        ops.eq(s[k.fobj[p]], ops.const(o)))))
        return O.all_(ops, ok)

    lemma("slot_frame", "a page-cache slot holds a page-cache frame of its object", slot_frame)

    def pagecache_slot(ops: Ops, s: Read) -> Expr:
        ok = []
        for p in k.frames:
            cached = ops.eq(s[k.fst[p]], ops.const(PCACHE))
            obj = s[k.fobj[p]]
            valid = ops.lt(obj, ops.const(k.cfg.objects))
            ok.append(O.implies(ops, cached, ops.and_(valid, ops.eq(obj_field(k, ops, s, k.slot, obj), ops.const(p + 1)))))
        return O.all_(ops, ok)

    lemma("pagecache_frame_slot", "a page-cache frame is in the slot of the object it holds", pagecache_slot)

    def owner(steps: Sequence[str], state: int, locked: bool) -> StatePred:
        def pred(ops: Ops, s: Read) -> Expr:
            ok = []
            for c in k.cpus:
                p = s[k.rp[c]]
                facts = [ops.eq(frame_field(k, ops, s, k.fst, p), ops.const(state))]
                if locked:
                    facts.append(ops.eq(frame_field(k, ops, s, k.flock, p), ops.const(c + 1)))
                    facts.append(ops.eq(frame_field(k, ops, s, k.fobj, p), s[k.ro[c]]))
                    facts.append(ops.eq(obj_field(k, ops, s, k.slot, s[k.ro[c]]), ops.add(p, ops.const(1))))
                ok.append(O.implies(ops, _at_any(k, ops, s, c, steps), O.all_(ops, facts)))
            return O.all_(ops, ok)
        return pred

    lemma("frame_owner_alloc", "a CPU between allocation and insertion/use holds an allocated frame",
          owner(ALLOC_STEPS, ALLOC, False))
    lemma("frame_owner_reclaim", "a CPU unmapping or removing a folio holds it locked, in the page cache",
          owner(_reclaim_locked_steps(k), PCACHE, True))
    lemma("frame_owner_reclaim_free", "a CPU at the reclaim free holds an isolated frame",
          owner(("reclaim.free",), ISOLATED, False))
    lemma("frame_owner_fault", "a CPU at the fault's set_pte holds the folio locked, in the page cache",
          owner(FAULT_LOCKED_STEPS, PCACHE, True))
    lemma("frame_owner_write", "a CPU in write(2) after write_begin holds the folio locked, in the page cache",
          owner(WRITE_LOCKED_STEPS, PCACHE, True))

    def alloc_unique(ops: Ops, s: Read) -> Expr:
        ok = []
        for p in k.frames:
            owners = [ops.and_(_at_any(k, ops, s, c, ALLOC_STEPS), _is_frame(ops, s[k.rp[c]], p)) for c in k.cpus]
            count = _count(ops, owners)
            allocated = ops.eq(s[k.fst[p]], ops.const(ALLOC))
            ok.append(ops.eq(count, ops.to_int(allocated)))
        return O.all_(ops, ok)

    lemma("alloc_owner_unique", "a frame being allocated belongs to exactly one CPU", alloc_unique)

    lock_steps = FAULT_LOCKED_STEPS + WRITE_LOCKED_STEPS + _reclaim_locked_steps(k)

    def lock_owner(ops: Ops, s: Read) -> Expr:
        ok = []
        for p in k.frames:
            for c in k.cpus:
                locked = ops.eq(s[k.flock[p]], ops.const(c + 1))
                holds = ops.and_(_at_any(k, ops, s, c, lock_steps), _is_frame(ops, s[k.rp[c]], p))
                ok.append(O.implies(ops, locked, holds))
        return O.all_(ops, ok)

    lemma("folio_lock_owner", "a locked folio is locked by a CPU at a step that holds it", lock_owner)

    def fault_registers(ops: Ops, s: Read) -> Expr:
        ok = []
        for c in k.cpus:
            for m in k.mms:
                va = s[k.rv[c]]
                vma = pick(ops, va, [s[k.vma[m, v]] for v in k.vas])
                prot = pick(ops, va, [s[k.vprot[m, v]] for v in k.vas])
                facts = [ops.not_(ops.eq(vma, ops.const(0))), ops.eq(s[k.ro[c]], ops.sub(vma, ops.const(1))),
                         ops.or_(ops.eq(s[k.rx[c]], ops.const(FAULT_READ)), ops.eq(prot, ops.const(PROT_RW)))]
                here = ops.and_(_at_any(k, ops, s, c, FAULT_STEPS), runs(k, ops, s, c, m))
                ok.append(O.implies(ops, here, O.all_(ops, facts)))
        return O.all_(ops, ok)

    lemma("fault_registers", "a fault in progress is for a mapped va, its object is the VMA's, and a write "
          "fault is in a writable VMA", fault_registers)

    def pte_object(ops: Ops, s: Read) -> Expr:
        ok = []
        for m in k.mms:
            for v in k.vas:
                pte, vma = s[k.pte[m, v]], s[k.vma[m, v]]
                present = ops.not_(ops.eq(pte, ops.const(0)))
                held = frame_field(k, ops, s, k.fobj, ops.sub(pte, ops.const(1)))
                right = ops.and_(ops.not_(ops.eq(vma, ops.const(0))), ops.eq(held, ops.sub(vma, ops.const(1))))
                ok.append(O.implies(ops, present, ops.or_(right, _fence_on(k, ops, s, m, v))))
        return O.all_(ops, ok)

    lemma("pte_object", "a present PTE maps a frame holding its VMA's object (unless an "
          "mprotect/munmap/mmap of it is in progress)", pte_object)

    def tlb_object(ops: Ops, s: Read) -> Expr:
        ok = []
        for c, m, v in entries:
            vma = s[k.vma[m, v]]
            present = ops.not_(ops.eq(s[k.tlb[c, m, v]], ops.const(0)))
            right = ops.and_(ops.not_(ops.eq(vma, ops.const(0))), ops.eq(s[k.tlbo[c, m, v]], ops.sub(vma, ops.const(1))))
            ok.append(O.implies(ops, present, ops.or_(right, _fence_on(k, ops, s, m, v))))
        return O.all_(ops, ok)

    lemma("tlb_object", "a TLB entry was filled for its VMA's object (unless an mprotect/munmap/mmap of it "
          "is in progress)", tlb_object)

    def writable(ops: Ops, s: Read) -> Expr:
        ok = []
        for m in k.mms:
            for v in k.vas:
                rw = ops.or_(ops.eq(s[k.vprot[m, v]], ops.const(PROT_RW)), _fence_on(k, ops, s, m, v))
                ok.append(O.implies(ops, s[k.ptew[m, v]], ops.and_(ops.not_(ops.eq(s[k.pte[m, v]], ops.const(0))), rw)))
                for c in k.cpus:
                    present = ops.not_(ops.eq(s[k.tlb[c, m, v]], ops.const(0)))
                    ok.append(O.implies(ops, s[k.tlbw[c, m, v]], ops.and_(present, rw)))
        return O.all_(ops, ok)

    lemma("writable_needs_rw", "a writable PTE or TLB entry is present and in a read-write VMA (unless an "
          "mprotect/munmap/mmap of it is in progress)", writable)

    def gather_refs(ops: Ops, s: Read) -> Expr:
        ok = []
        for p in k.frames:
            holders = [ops.and_(_at_any(k, ops, s, c, ("munmap.flush",)), zapped_in(k, ops, s, c),
                                _is_frame(ops, s[k.rp[c]], p)) for c in k.cpus]
            ok.append(ops.eq(s[k.frefs[p]], _count(ops, holders)))
        return O.all_(ops, ok)

    lemma("gather_refs_count", "a frame's mmu_gather references are those of the munmaps that zapped it and "
          "have not flushed yet", gather_refs)

    def munmap_pending(c: int, m: int, v: int, p: int, ops: Ops, s: Read) -> Expr:
        """CPU ``c``'s munmap of (m, v) zapped frame ``p`` and has not flushed yet."""
        return ops.and_(_at_any(k, ops, s, c, ("munmap.flush",)), runs(k, ops, s, c, m),
                        ops.eq(s[k.rv[c]], ops.const(v)), zapped_in(k, ops, s, c), _is_frame(ops, s[k.rp[c]], p))

    def stale_batched(ops: Ops, s: Read) -> Expr:
        ok = []
        for c2, m, v in entries:
            for p in k.frames:
                to_p = ops.eq(s[k.tlb[c2, m, v]], ops.const(p + 1))
                why = [ops.eq(s[k.pte[m, v]], ops.const(p + 1)), s[k.mmbatched[m]]]
                why += [munmap_pending(c, m, v, p, ops, s) for c in k.cpus]
                ok.append(O.implies(ops, to_p, O.any_(ops, why)))
        return O.all_(ops, ok)

    lemma("stale_batched", "a TLB entry not backed by its PTE is either in an mm whose unmap reclaim batched "
          "(tlb_flush_batched) or one a munmap zapped and has still to flush", stale_batched)

    def munmap_range_clean(ops: Ops, s: Read) -> Expr:
        ok = []
        for c in k.cpus:
            for c2, m, v in entries:
                flushing = ops.and_(_at_any(k, ops, s, c, ("munmap.flush",)), runs(k, ops, s, c, m),
                                    ops.eq(s[k.rv[c]], ops.const(v)))
                present = ops.not_(ops.eq(s[k.tlb[c2, m, v]], ops.const(0)))
                zapped = O.any_(ops, [ops.and_(ops.eq(s[k.tlb[c2, m, v]], ops.const(p + 1)),
                                               munmap_pending(c, m, v, p, ops, s)) for p in k.frames])
                ok.append(O.implies(ops, ops.and_(flushing, present), zapped))
        return O.all_(ops, ok)

    lemma("munmap_range_clean", "when a munmap is about to flush, the only TLB entries of its page are to the "
          "page it zapped (flush_tlb_batched_pending removed the others)", munmap_range_clean)

    def gathered_pagecache(ops: Ops, s: Read) -> Expr:
        held = [O.implies(ops, ops.not_(ops.eq(s[k.frefs[p]], ops.const(0))), ops.eq(s[k.fst[p]], ops.const(PCACHE)))
                for p in k.frames]
        return O.all_(ops, held)

    lemma("gathered_pagecache", "a page an mmu_gather holds a reference to stays in the page cache (reclaim "
          "keeps it)", gathered_pagecache)

    def stale_in_mm_batch(ops: Ops, s: Read) -> Expr:
        ok = []
        for c2, m, v in entries:
            for p in k.frames:
                stale = ops.and_(ops.eq(s[k.tlb[c2, m, v]], ops.const(p + 1)),
                                 ops.not_(ops.eq(s[k.pte[m, v]], ops.const(p + 1))))
                deferred = [s[k.fpend[p, c2]]]
                for c in k.cpus:
                    deferred.append(ops.and_(_at_any(k, ops, s, c, ("reclaim.remove", "reclaim.free")),
                                             _is_frame(ops, s[k.rp[c]], p), s[k.ubcl[c, c2]]))
                ok.append(O.implies(ops, ops.and_(stale, O.any_(ops, deferred)), s[k.mmluf[m, c2]]))
        return O.all_(ops, ok)

    lemma("stale_in_mm_batch", "a stale TLB entry whose flush LUF deferred is in its mm's LUF batch "
          "(so luf_flush_mm/luf_flush_vma flush it)", stale_in_mm_batch)

    def munmap_registers(ops: Ops, s: Read) -> Expr:
        ok = []
        for c in k.cpus:
            for m in k.mms:
                va = s[k.rv[c]]
                here = ops.and_(_at_any(k, ops, s, c, ("munmap.zap", "munmap.flush")), runs(k, ops, s, c, m))
                detached = ops.eq(pick(ops, va, [s[k.vma[m, v]] for v in k.vas]), ops.const(0))
                ok.append(O.implies(ops, here, detached))
                flushing = ops.and_(_at_any(k, ops, s, c, ("munmap.flush",)), runs(k, ops, s, c, m))
                gone = ops.eq(pick(ops, va, [s[k.pte[m, v]] for v in k.vas]), ops.const(0))
                ok.append(O.implies(ops, flushing, gone))
                zapping = ops.and_(_at_any(k, ops, s, c, ("munmap.zap",)), runs(k, ops, s, c, m))
                ok.append(O.implies(ops, zapping, ops.not_(zapped_in(k, ops, s, c))))
        return O.all_(ops, ok)

    lemma("munmap_registers", "a munmap in progress has detached its VMA, and after the zap its PTE is none",
          munmap_registers)

    kind_steps = FAULT_STEPS + FENCE_STEPS

    def idle_registers(ops: Ops, s: Read) -> Expr:
        ok = []
        for c in k.cpus:
            clear = [ops.eq(s[reg[c]], ops.const(0)) for reg in (k.ro, k.rv)]
            ok.append(O.implies(ops, _at_any(k, ops, s, c, ("user",)), O.all_(ops, clear)))
            ok.append(O.implies(ops, ops.not_(_at_any(k, ops, s, c, kind_steps)), ops.eq(s[k.rx[c]], ops.const(0))))
        return O.all_(ops, ok)

    lemma("idle_registers", "a CPU in user mode has its object and va registers cleared, and reg_kind is "
          "clear outside faults and mprotect/munmap/mmap", idle_registers)

    def mprotect_registers(ops: Ops, s: Read) -> Expr:
        ok = []
        for c in k.cpus:
            for m in k.mms:
                va = s[k.rv[c]]
                vma = pick(ops, va, [s[k.vma[m, v]] for v in k.vas])
                prot = pick(ops, va, [s[k.vprot[m, v]] for v in k.vas])
                facts = [ops.not_(ops.eq(vma, ops.const(0))), ops.eq(s[k.ro[c]], ops.sub(vma, ops.const(1))),
                         ops.eq(s[k.rx[c]], prot), ops.not_(ops.eq(prot, ops.const(PROT_RO)))]
                here = ops.and_(_at_any(k, ops, s, c, ("mprotect.pte", "mprotect.flush")), runs(k, ops, s, c, m))
                ok.append(O.implies(ops, here, O.all_(ops, facts)))
                protected = ops.and_(_at_any(k, ops, s, c, ("mprotect.flush",)), runs(k, ops, s, c, m),
                                     ops.eq(s[k.rx[c]], ops.const(PROT_RO_MAYWRITE)))
                ptew = pick(ops, va, [s[k.ptew[m, v]] for v in k.vas])
                ok.append(O.implies(ops, protected, ops.not_(ptew)))
        return O.all_(ops, ok)

    lemma("mprotect_registers", "an mprotect in progress is of a mapped va, with the VMA's object and its new "
          "protection in its registers", mprotect_registers)

    def idle_batches(ops: Ops, s: Read) -> Expr:
        ok = []
        for c in k.cpus:
            luf = [s[k.ubcl[c, c2]] for c2 in k.cpus] + [s[k.canluf[c]], s[k.ubcw[c]]]
            ubc = [s[k.ubc[c, c2]] for c2 in k.cpus]
            ok.append(O.implies(ops, ops.not_(_at_any(k, ops, s, c, reclaim_steps)), ops.not_(O.any_(ops, luf))))
            busy = _at_any(k, ops, s, c, reclaim_steps + TAKEOFF_STEPS)
            ok.append(O.implies(ops, ops.not_(busy), ops.not_(O.any_(ops, ubc))))
            first = _at_any(k, ops, s, c, ("reclaim.unmap.0",))
            ok.append(O.implies(ops, first, ops.not_(O.any_(ops, ubc + luf[:-2] + luf[-1:]))))
        return O.all_(ops, ok)

    lemma("idle_batches", "a CPU's flush batches (tlb_ubc, the LUF batch) are empty outside reclaim and "
          "take-off, and at the start of a reclaim's rmap walk", idle_batches)

    def mmap_lock_count(ops: Ops, s: Read) -> Expr:
        ok = []
        for m in k.mms:
            readers = _count(ops, [ops.and_(_at_any(k, ops, s, c, FAULT_STEPS), runs(k, ops, s, c, m)) for c in k.cpus])
            writer = O.any_(ops, [ops.and_(_at_any(k, ops, s, c, FENCE_STEPS), runs(k, ops, s, c, m)) for c in k.cpus])
            ok.append(ops.eq(s[k.mmlock[m]], ops.ite(writer, ops.const(k.lock_writer), readers)))
        return O.all_(ops, ok)

    lemma("mmap_lock_count", "an mm's mmap lock is write-locked by the CPU in mprotect/munmap/mmap of it, "
          "else read-held once per CPU in a page fault of it", mmap_lock_count)

    for reg, steps, prefixes in ((k.rp, FRAME_HELD_STEPS, HELD_PREFIXES), (k.rd, DST_HELD_STEPS, DST_HELD_PREFIXES)):
        if not reg.shape[0]:
            continue
        at = [n for n in k.pcs if n in steps or n.startswith(prefixes)]

        def held(ops: Ops, s: Read, reg: VarArray = reg, at: list[str] = at) -> Expr:
            return O.all_(ops, [O.implies(ops, _at_any(k, ops, s, c, at), ops.not_(ops.eq(s[reg[c]], ops.const(k.no_frame))))
                                for c in k.cpus])

        lemma(f"{reg.family}_held", f"a CPU at a step that works on a frame holds it in {reg.family}", held)
    return tuple(out)


def _count(ops: Ops, xs: Sequence[Expr]) -> Expr:
    total: Expr = ops.const(0)
    for x in xs:
        total = ops.add(total, ops.to_int(x))
    return total
