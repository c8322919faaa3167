"""TLB flushes, written once and used by every path that flushes.

* ``flush_cpus``: the x86 batch flush (``arch_tlbbatch_flush``): every CPU in the mask drops
  all its TLB entries; being flushed discharges every LUF record owed for that CPU (the
  ideal ``ugen_done`` bookkeeping).
* ``flush_page``: ``flush_tlb_page``/``flush_tlb_range`` of one (mm, va) on every CPU.
* ``flush_mm``: ``flush_tlb_mm``, all entries of one mm on every CPU.
* ``luf_*_mask``: the CPUs the LUF flush variants would flush (ideal bookkeeping).
* ``try_to_unmap_flush``, ``luf_flush``, ``batched_pending``, ``arch_dsb``: the same flushes
  aware of ``[luf] bookkeeping`` (v12: ugens taken before, ``ugen_done`` marked after, LUF
  flushes dieted by ugen) and ``[luf] arch`` (arm64: a batch flush is the issuer's DSB);
  with x86 and the ideal bookkeeping they are exactly the flushes above.

A flush is synchronous (the IPI waits for every target), so it is one atomic step.
"""

from __future__ import annotations

from typing import Sequence

from lufmodel import ops as O
from lufmodel.kernel import arm64, events, lufbatch, ugen
from lufmodel.kernel.state import Kernel, WriteView
from lufmodel.model import Event, Read, Var, Write
from lufmodel.ops import Expr, Ops

FLUSH_WRITES = ("tlb", "tlb_w", "tlb_tag", "frame_luf", "mm_luf", "mapping_luf", "r1_record", "r2_record")
PAGE_FLUSH_WRITES = ("tlb", "tlb_w", "tlb_tag", "r1_record")
MM_FLUSH_WRITES = PAGE_FLUSH_WRITES + ("mm_luf",)


def _drop_entry(k: Kernel, ops: Ops, w: Write, c: int, m: int, v: int, when: Expr) -> None:
    w[k.tlb[c, m, v]] = ops.ite(when, ops.const(0), w.get(k.tlb[c, m, v]))
    w[k.tlbw[c, m, v]] = ops.and_(ops.not_(when), w.get(k.tlbw[c, m, v]))
    w[k.tlbo[c, m, v]] = ops.ite(when, ops.const(0), w.get(k.tlbo[c, m, v]))


def _clear(ops: Ops, w: Write, var: Var, when: Expr) -> None:
    w[var] = ops.and_(ops.not_(when), w.get(var))


def flush_cpus(k: Kernel, ops: Ops, w: Write, mask: Sequence[Expr]) -> None:
    """Fully flush every CPU ``c`` with ``mask[c]``, discharging its LUF records."""
    w.emit(events.with_mask(events.FLUSH, O.any_(ops, list(mask)), mask))  # for the debug monitors
    for c in k.cpus:
        f = mask[c]
        for m in k.mms:
            for v in k.vas:
                _drop_entry(k, ops, w, c, m, v, f)
                _clear(ops, w, k.rec1[m, v, c], f)
            _clear(ops, w, k.mmluf[m, c], f)
        for p in k.frames:
            _clear(ops, w, k.fpend[p, c], f)
        for fl in range(k.cfg.files):
            _clear(ops, w, k.mapluf[fl, c], f)
        for o in k.objs:
            _clear(ops, w, k.rec2[o, c], f)


def flush_page(k: Kernel, ops: Ops, w: Write, m: int, v: Expr, when: Expr) -> None:
    """``flush_tlb_page(mm m, va v)`` on every CPU, if ``when``; ``v`` may be symbolic."""
    for va in k.vas:
        hit = ops.and_(when, ops.eq(v, ops.const(va)))
        for c in k.cpus:
            _drop_entry(k, ops, w, c, m, va, hit)
            _clear(ops, w, k.rec1[m, va, c], hit)


def flush_mm(k: Kernel, ops: Ops, w: Write, m: int, when: Expr) -> None:
    """``flush_tlb_mm(mm m)`` on every CPU, if ``when``."""
    w.emit(Event(events.FLUSH_MM, when, {"mm": ops.const(m)}))  # for the debug monitors
    for c in k.cpus:
        for v in k.vas:
            _drop_entry(k, ops, w, c, m, v, when)
            _clear(ops, w, k.rec1[m, v, c], when)
        _clear(ops, w, k.mmluf[m, c], when)


def union(ops: Ops, *masks: Sequence[Expr]) -> list[Expr]:
    return [O.any_(ops, [mask[i] for mask in masks]) for i in range(len(masks[0]))]


def gated(ops: Ops, mask: Sequence[Expr], when: Expr) -> list[Expr]:
    return [ops.and_(when, x) for x in mask]


def luf_mm_mask(k: Kernel, ops: Ops, w: Write, m: int) -> list[Expr]:
    """The CPUs ``luf_flush_mm(mm m)`` flushes: the per-mm LUF batch."""
    return [w.get(k.mmluf[m, c]) for c in k.cpus]


def luf_mapping_mask(k: Kernel, ops: Ops, w: Write, obj: Expr) -> list[Expr]:
    """The CPUs ``luf_flush_mapping()`` flushes for the file of object ``obj`` (symbolic)."""
    return [
        O.any_(ops, [ops.and_(ops.eq(obj, ops.const(o)), w.get(k.mapluf[k.file_of(o), c])) for o in k.objs])
        for c in k.cpus
    ]


def luf_all_mask(k: Kernel, ops: Ops, w: Write) -> list[Expr]:
    """The CPUs the v11 global ``luf_flush()`` flushes: every CPU any deferral is owed for."""
    view = WriteView(w)
    out = []
    for c in k.cpus:
        owed = [view[k.fpend[p, c]] for p in k.frames]
        owed += [view[k.mmluf[m, c]] for m in k.mms]
        owed += [view[k.mapluf[f, c]] for f in range(k.cfg.files)]
        out.append(O.any_(ops, owed))
    return out


def batched_pending(k: Kernel, ops: Ops, s: Read, w: Write, m: int, c: int | None = None) -> None:
    """``flush_tlb_batched_pending(mm)`` (under the PTL) on CPU ``c``: flush the mm if reclaim
    batched an unmap of it since the last such flush. Writes ``MM_FLUSH_WRITES`` and
    ``mm_flush_batched`` (``batched_pending_writes(k)`` with v12 or arm64). v12 takes a ugen
    first and then marks all of ``mm_cpumask(mm)`` done (``arch_mm_mark_ugen()``, switch
    ``v12_mm_mark_ugen``); arm64 is a DSB on ``c`` (switch ``arm64_batched_pending_flush_mm``:
    flush the mm, as since 2025)."""
    pending = s[k.mmbatched[m]]
    if k.cfg.arm64:
        if k.cfg.point("arm64_batched_pending_flush_mm"):
            flush_mm(k, ops, w, m, pending)
        if c is not None:
            arm64.dsb(k, ops, w, c, pending)
    elif k.cfg.real_book and k.cfg.point("v12_mm_mark_ugen"):
        g = ugen.take(k, ops, w, pending)
        flush_mm(k, ops, w, m, pending)
        lufbatch.mark(k, ops, w, [ops.and_(pending, s[k.mmcpus[m, c2]]) for c2 in k.cpus], g)
        ugen.settle(k, ops, w)
    else:
        flush_mm(k, ops, w, m, pending)
    w[k.mmbatched[m]] = ops.const(False)


def luf_flush_vma(k: Kernel, ops: Ops, w: Write, m: int, obj: Expr, shared: Expr | None = None, when: Expr | None = None) -> None:
    """v12 ``luf_flush_vma()``: the per-mm batch and, for a shared file VMA, the mapping's
    (``shared``: whether the VMA is VM_SHARED; default: it is). Only if ``when``."""
    if k.cfg.real_book or k.cfg.arm64:
        luf_flush(k, ops, w, mm=ops.const(m), obj=obj, shared=shared, when=when)
        return
    mapping = luf_mapping_mask(k, ops, w, obj)
    if shared is not None:
        mapping = gated(ops, mapping, shared)
    mask = union(ops, luf_mm_mask(k, ops, w, m), mapping)
    flush_cpus(k, ops, w, mask if when is None else gated(ops, mask, when))


def ptep_clear_flush(k: Kernel, ops: Ops, s: Read, w: Write, m: int, v: Expr, obj: Expr, shared: Expr, when: Expr) -> None:
    """``ptep_clear_flush(vma, addr)`` of (mm ``m``, va ``v``) if ``when`` (the caller then sets
    the PTE): ``flush_tlb_page`` if the old PTE is accessible (present), else, in LUF v12 with
    ``v12_ptep_clear_flush``, ``luf_flush_vma``. Writes ``FLUSH_WRITES`` (``PAGE_FLUSH_WRITES``
    without that flush point)."""
    present = ops.not_(ops.eq(O.select(ops, v, [s[k.pte[m, va]] for va in k.vas]), ops.const(0)))
    flush_page(k, ops, w, m, v, ops.and_(when, present))
    if k.cfg.luf and k.cfg.point("v12_ptep_clear_flush"):
        luf_flush_vma(k, ops, w, m, obj, shared, ops.and_(when, ops.not_(present)))


def ptep_clear_flush_writes(k: Kernel) -> list[str]:
    return list(FLUSH_WRITES) if k.cfg.luf and k.cfg.point("v12_ptep_clear_flush") else list(PAGE_FLUSH_WRITES)


def ptep_clear_flush_discharges(k: Kernel, ops: Ops, s: Read, m: int, v: Expr, obj: Expr, shared: Expr) -> Expr:
    """After ``ptep_clear_flush`` of (mm ``m``, va ``v``) in pre-state ``s``, no CPU still owes
    the PTE's deferred (R1) flush: for the ``discharged`` field of a ``set_pte`` event that
    follows it in the same PTL section."""
    present = ops.not_(ops.eq(O.select(ops, v, [s[k.pte[m, va]] for va in k.vas]), ops.const(0)))
    if not (k.cfg.luf and k.cfg.point("v12_ptep_clear_flush")):
        return present
    pre = Write(s)
    mask = union(ops, luf_mm_mask(k, ops, pre, m), gated(ops, luf_mapping_mask(k, ops, pre, obj), shared))
    covered = []
    for va in k.vas:
        here = ops.eq(v, ops.const(va))
        covered.append(ops.and_(here, O.all_(ops, [O.implies(ops, s[k.rec1[m, va, c]], mask[c]) for c in k.cpus])))
    return ops.or_(present, O.any_(ops, covered))


# ---- arch- and bookkeeping-aware flushes ([luf] arch, [luf] bookkeeping) -----------------
#
# With x86 and the ideal bookkeeping these are exactly the flushes above. With
# ``bookkeeping = "v12"`` (kernel/lufbatch.py) each flush takes a ugen first and marks the
# flushed CPUs done after it, and the LUF flushes flush only what the ugens leave owed. On
# arm64 (kernel/arm64.py) a batch flush is the issuing CPU's DSB and LUF flushes are no-ops.


def try_to_unmap_flush(k: Kernel, ops: Ops, w: Write, c: int, mask: Sequence[Expr]) -> None:
    """``try_to_unmap_flush()`` of CPU ``c``'s batch ``mask`` (flush if any CPU is in it):
    ``tlb_flush_start()`` takes a ugen, ``arch_tlbbatch_flush()`` flushes, and
    ``tlb_flush_end()`` marks the batch's CPUs. Writes ``batch_flush_writes(k)``."""
    if k.cfg.arm64:
        arm64.dsb(k, ops, w, c, O.any_(ops, list(mask)))
        return
    if not k.cfg.real_book:
        flush_cpus(k, ops, w, mask)
        return
    g = ugen.take(k, ops, w, O.any_(ops, list(mask)))
    flush_cpus(k, ops, w, mask)
    lufbatch.mark(k, ops, w, mask, g)
    ugen.settle(k, ops, w)


def batch_flush_writes(k: Kernel) -> list[str]:
    if k.cfg.arm64:
        return list(arm64.DSB_WRITES)
    return list(FLUSH_WRITES) + (list(ugen.UGEN_FAMILIES) if k.cfg.real_book else [])


def luf_flush(k: Kernel, ops: Ops, w: Write, *, mm: Expr | None = None, obj: Expr | None = None,
              shared: Expr | None = None, when: Expr | None = None) -> None:
    """``luf_flush_mapping(file of obj)`` (if ``shared``, default yes) then
    ``luf_flush_mm(mm)``, if ``when``. Ideal: flush the CPUs the deferrals are owed for.
    v12: flush the batches' CPUs their ugens do not show done. arm64: nothing
    (``arch_tlbbatch_diet()`` is always true). Writes ``luf_flush_writes(k)``."""
    if k.cfg.arm64:
        return
    if k.cfg.real_book:
        plan = lufbatch.luf_flush_plan(k, ops, WriteView(w), mm, obj, shared)
        try_to_unmap_flush(k, ops, w, 0, plan if when is None else gated(ops, plan, when))
        return
    masks = []
    if obj is not None:
        mapping = luf_mapping_mask(k, ops, w, obj)
        masks.append(mapping if shared is None else gated(ops, mapping, shared))
    if mm is not None:
        masks.append([O.any_(ops, [ops.and_(ops.eq(mm, ops.const(m)), w.get(k.mmluf[m, c])) for m in k.mms])
                      for c in k.cpus])
    mask = union(ops, *masks)
    flush_cpus(k, ops, w, mask if when is None else gated(ops, mask, when))


def luf_flush_writes(k: Kernel) -> list[str]:
    if k.cfg.arm64:
        return []
    return batch_flush_writes(k)


def luf_flush_events(k: Kernel, ops: Ops, s: Read, *, mm: Expr | None = None, obj: Expr | None = None,
                     shared: Expr | None = None, when: Expr | None = None) -> list[Event]:
    """P5's events for ``luf_flush`` in pre-state ``s``: one ``luf_skip`` per CPU the v12
    bookkeeping leaves unflushed, per scope (the mm, the file). None without v12."""
    if not k.cfg.real_book:
        return []
    plan = lufbatch.luf_flush_plan(k, ops, s, mm, obj, shared)
    raw = lufbatch.luf_flush_plan(k, ops, s, mm, obj, shared, use_diet=False)
    on = ops.const(True) if when is None else when
    scopes: list[tuple[int, Expr, Expr]] = []
    if obj is not None:
        file_of = O.select(ops, obj, [ops.const(k.file_of(o)) for o in k.objs])
        scopes.append((lufbatch.SCOPE_MAPPING, file_of, on if shared is None else ops.and_(on, shared)))
    if mm is not None:
        scopes.append((lufbatch.SCOPE_MM, mm, on))
    return [lufbatch.skip_event(ops, c, scope, index, ops.and_(gate, ops.not_(plan[c])), raw[c])
            for scope, index, gate in scopes for c in k.cpus]


def batched_pending_writes(k: Kernel) -> list[str]:
    """What ``batched_pending`` writes, with ``mm_flush_batched``."""
    if k.cfg.arm64:
        flush = list(MM_FLUSH_WRITES) if k.cfg.point("arm64_batched_pending_flush_mm") else []
        return sorted(set(flush + list(arm64.DSB_WRITES) + ["mm_flush_batched"]))
    marks = list(ugen.UGEN_FAMILIES) if k.cfg.real_book and k.cfg.point("v12_mm_mark_ugen") else []
    return list(MM_FLUSH_WRITES) + marks + ["mm_flush_batched"]


def arch_dsb(k: Kernel, ops: Ops, w: Write, c: int, when: Expr) -> None:
    """The ``dsb(ish)`` that ends arm64's ``flush_tlb_page``/``flush_tlb_range`` on CPU ``c``
    (if ``when``), completing ``c``'s earlier TLBIs too. Nothing on x86. Writes
    ``arch_dsb_writes(k)``."""
    if k.cfg.arm64:
        arm64.dsb(k, ops, w, c, when)


def arch_dsb_writes(k: Kernel) -> list[str]:
    return list(arm64.DSB_WRITES) if k.cfg.arm64 else []
