"""TLB flushes, written once and used by every path that flushes.

* ``flush_cpus``: the x86 batch flush (``arch_tlbbatch_flush``): every CPU in the mask drops
  all its TLB entries; being flushed discharges every LUF record owed for that CPU (the
  ideal ``ugen_done`` bookkeeping).
* ``flush_page``: ``flush_tlb_page``/``flush_tlb_range`` of one (mm, va) on every CPU.
* ``flush_mm``: ``flush_tlb_mm``, all entries of one mm on every CPU.
* ``luf_*_mask``: the CPUs the LUF flush variants would flush.

A flush is synchronous (the IPI waits for every target), so it is one atomic step.
"""

from __future__ import annotations

from typing import Sequence

from lufmodel import ops as O
from lufmodel.kernel.state import Kernel, WriteView
from lufmodel.model import Read, Var, Write
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


def batched_pending(k: Kernel, ops: Ops, s: Read, w: Write, m: int) -> None:
    """``flush_tlb_batched_pending(mm)`` (under the PTL): flush the mm if reclaim batched an
    unmap of it since the last such flush. Writes ``MM_FLUSH_WRITES`` and ``mm_flush_batched``."""
    pending = s[k.mmbatched[m]]
    flush_mm(k, ops, w, m, pending)
    w[k.mmbatched[m]] = ops.const(False)


def luf_flush_vma(k: Kernel, ops: Ops, w: Write, m: int, obj: Expr) -> None:
    """v12 ``luf_flush_vma()``: the per-mm batch and, for a shared file VMA, the mapping's."""
    flush_cpus(k, ops, w, union(ops, luf_mm_mask(k, ops, w, m), luf_mapping_mask(k, ops, w, obj)))
