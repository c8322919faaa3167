"""LUF v12's real flush bookkeeping on x86 (and riscv): ``[luf] bookkeeping = "v12"``.

The structures of reference §1.3 (v12 07, 08, 16, 17, 19, 20/26), at small sizes:

* ``luf_batch[key]`` (``lb_cpus``, ``lb_ugen``), keys 1 to ``[sizes] luf_keys`` (0 = no
  pending flush); ``new_luf_key()`` is a wrapping counter (``luf_kgen``), so a key in use is
  handed out again, and ``__fold_luf_batch()`` then *folds*: the CPU masks are unioned and the
  newer ugen is kept (after dieting the old mask by the old ugen);
* a free page's key (``frame_key``);
* per CPU ``ugen_done``: the newest ugen for which that CPU is known flushed;
  ``arch_tlbbatch_check_done()``/``arch_tlbbatch_diet()`` compare it with a batch's ugen, and
  ``arch_tlbbatch_mark_ugen()``/``arch_mm_mark_ugen()`` raise it after a flush (only if newer:
  the racy best-effort ``cmpxchg``);
* ``mm->luf_batch`` (``mm_lb``) and ``mapping->luf_batch`` (``map_lb``), stamped with a fresh
  ugen by every LUF'd unmap (``fold_luf_batch_mm()``), consumed by ``luf_flush_mm()``,
  ``luf_flush_mapping()`` and ``luf_flush_vma()``: fold, diet by the batch's ugen, flush the
  rest (``try_to_unmap_flush()``), mark.

Ugens live in ``kernel/ugen.py``. The ghost records (R1/R2, ``frame_luf``) stay ideal: they
are the ground truth P5 checks this bookkeeping against. Simplifications (each errs towards
more flushing, so none can hide a missed flush): the per-mm and per-mapping stamps are taken
once at the end of the rmap walk rather than at each PTE; a flush outside the take-off takes
its ugen, flushes and marks in one step; and a mark that another CPU's newer mark overtakes
is skipped, never lost to a failed ``cmpxchg`` (which could only lower ``ugen_done``).
"""

from __future__ import annotations

from typing import Sequence

from lufmodel import ops as O
from lufmodel.kernel import ugen
from lufmodel.kernel.state import Kernel, WriteView, pick
from lufmodel.model import Event, Read, Var, Write
from lufmodel.ops import Expr, Ops

LUF_SKIP = "luf_skip"
"""The event of a bookkeeping decision that CPU ``cpu`` needs no flush (P5's event)."""
KEY_REUSE = "luf_key_reuse"
"""The event of a new key that a free page still holds (its batches fold)."""
SCOPE_FRAME = 0
SCOPE_MM = 1
SCOPE_MAPPING = 2
SCOPES = ("page", "mm", "mapping")

KEY_FAMILIES = ("luf_kgen", "lb_cpus") + ugen.UGEN_FAMILIES
"""What ``fold_unmap_luf()`` writes."""


# ---- arch_tlbbatch_* over a CPU mask ---------------------------------------------------


def done(k: Kernel, ops: Ops, r: Read, c: int, g: Expr) -> Expr:
    """CPU ``c`` is marked flushed for ugen ``g``: ``!ugen_before(ugen_done[c], g)``."""
    return ops.not_(ugen.before(k, ops, r[k.udone[c]], g))


def check_done(k: Kernel, ops: Ops, r: Read, mask: Sequence[Expr], g: Expr) -> Expr:
    """``arch_tlbbatch_check_done(batch, g)``: every CPU of the batch is done for ``g``
    (with ``g`` = 0: the batch is empty)."""
    empty = ops.not_(O.any_(ops, list(mask)))
    every = O.all_(ops, [O.implies(ops, mask[c], done(k, ops, r, c, g)) for c in k.cpus])
    return ops.ite(ops.eq(g, ops.const(0)), empty, every)


def diet(k: Kernel, ops: Ops, r: Read, mask: Sequence[Expr], g: Expr) -> list[Expr]:
    """``arch_tlbbatch_diet(batch, g)``: drop the CPUs done for ``g`` (none if ``g`` = 0)."""
    valid = ops.not_(ops.eq(g, ops.const(0)))
    return [ops.and_(mask[c], ops.not_(ops.and_(valid, done(k, ops, r, c, g)))) for c in k.cpus]


def mark(k: Kernel, ops: Ops, w: Write, mask: Sequence[Expr], g: Expr) -> None:
    """``arch_tlbbatch_mark_ugen(batch, g)``: raise ``ugen_done`` of the batch's CPUs to ``g``
    where it is older (the best-effort ``cmpxchg``: a newer mark is never overwritten)."""
    for c in k.cpus:
        old = w.get(k.udone[c])
        w[k.udone[c]] = ops.ite(ops.and_(mask[c], ugen.before(k, ops, old, g)), g, old)


def _fold_into(k: Kernel, ops: Ops, w: Write, cpus: Sequence[Var], gvar: Var, src: Sequence[Expr],
               g: Expr, when: Expr) -> None:
    """``__fold_luf_batch(dst, src, g)`` (if ``when``): if ``g`` is newer than the batch's
    ugen, first diet the batch by its old ugen, then take ``g``; union the masks."""
    r = WriteView(w)
    old = r[gvar]
    newer = ops.and_(when, ops.or_(ops.eq(old, ops.const(0)), ugen.before(k, ops, old, g)))
    valid_old = ops.and_(newer, ops.not_(ops.eq(old, ops.const(0))))
    for c in k.cpus:
        dieted = ops.and_(valid_old, done(k, ops, r, c, old))
        w[cpus[c]] = ops.or_(ops.and_(r[cpus[c]], ops.not_(dieted)), ops.and_(when, src[c]))
    w[gvar] = ops.ite(newer, g, old)


# ---- reclaim: the stamps and the key ----------------------------------------------------


def stamp(k: Kernel, ops: Ops, s: Read, w: Write, luf: Expr, cleared: Sequence[Expr], obj: Expr) -> None:
    """At the end of a LUF'd rmap walk: ``fold_luf_batch_mm()`` of every mm whose PTE was
    cleared (``cleared[m]``), with ``mm_cpumask``, and the same into the file's
    ``mapping->luf_batch``, all stamped with one fresh ugen. Settles the ugens."""
    luf = ops.and_(luf, O.any_(ops, list(cleared)))
    g = ugen.take(k, ops, w, luf)
    cpus_of = [[s[k.mmcpus[m, c]] for c in k.cpus] for m in k.mms]
    for m in k.mms:
        _fold_into(k, ops, w, [k.mmlb[m, c] for c in k.cpus], k.mmlbugen[m], cpus_of[m], g, ops.and_(luf, cleared[m]))
    union = [O.any_(ops, [ops.and_(cleared[m], cpus_of[m][c]) for m in k.mms]) for c in k.cpus]
    for f in range(k.cfg.files):
        in_file = O.any_(ops, [ops.eq(obj, ops.const(o)) for o in k.objs if k.file_of(o) == f])
        _fold_into(k, ops, w, [k.maplb[f, c] for c in k.cpus], k.maplbugen[f], union, g, ops.and_(luf, in_file))
    ugen.settle(k, ops, w)


def _next_key(k: Kernel, ops: Ops, r: Read) -> Expr:
    """What ``new_luf_key()`` returns: the key after ``luf_kgen``, wrapping past 0."""
    last = r[k.kgen[0]]
    return ops.ite(ops.eq(last, ops.const(k.cfg.luf_keys)), ops.const(1), ops.add(last, ops.const(1)))


def key_reuse_events(k: Kernel, ops: Ops, s: Read, c: int) -> list[Event]:
    """``fold_unmap_luf()`` at CPU ``c``'s reclaim free is about to hand out a key another
    free page still holds: the batches fold (non-vacuity of the collision specs)."""
    need = O.any_(ops, [ops.and_(s[k.ubcl[c, c2]], ops.not_(s[k.ubc[c, c2]])) for c2 in k.cpus])
    key = _next_key(k, ops, s)
    held = O.any_(ops, [ops.eq(s[k.fkey[p]], key) for p in k.frames])
    return [Event(KEY_REUSE, ops.and_(need, held), {})]


def fold_unmap_luf(k: Kernel, ops: Ops, w: Write, c: int, when: Expr) -> Expr:
    """``fold_unmap_luf()`` (if ``when``): drop from the task's LUF batch the CPUs
    ``tlb_ubc`` flushes anyway (``arch_tlbbatch_done()``); if any remain, take a ugen and a
    key (``new_luf_key()``), fold the batch into ``luf_batch[key]`` and return the key (else
    0). The caller settles the ugens; writes ``KEY_FAMILIES``."""
    r = WriteView(w)
    luf = [ops.and_(r[k.ubcl[c, c2]], ops.not_(r[k.ubc[c, c2]])) for c2 in k.cpus]
    need = ops.and_(when, O.any_(ops, luf))
    g = ugen.take(k, ops, w, need)
    keys = k.cfg.luf_keys
    last = r[k.kgen[0]]
    nxt = _next_key(k, ops, r)
    key = ops.ite(need, nxt, ops.const(0))
    w[k.kgen[0]] = ops.ite(need, nxt, last)
    for j in range(keys):
        hit = ops.eq(key, ops.const(j + 1))
        _fold_into(k, ops, w, [k.lbcpus[j, c2] for c2 in k.cpus], k.lbugen[j], luf, g, hit)
    return key


def key_mask(k: Kernel, ops: Ops, r: Read, key: Expr) -> list[Expr]:
    """``luf_batch[key]``'s CPUs (none for key 0)."""
    return [O.any_(ops, [ops.and_(ops.eq(key, ops.const(j + 1)), r[k.lbcpus[j, c]]) for j in range(k.cfg.luf_keys)])
            for c in k.cpus]


def key_ugen(k: Kernel, ops: Ops, r: Read, key: Expr) -> Expr:
    """``luf_batch[key].ugen`` (0 for key 0)."""
    return pick(ops, key, [ops.const(0)] + [r[k.lbugen[j]] for j in range(k.cfg.luf_keys)])


# ---- take-off ---------------------------------------------------------------------------


def key_pending(k: Kernel, ops: Ops, s: Read, p: int) -> Expr:
    """Free page ``p`` has a key whose batch is not done: ``luf_takeoff_check()`` refuses it
    in a context that cannot IPI."""
    key = s[k.fkey[p]]
    lb_ugen = key_ugen(k, ops, s, key)
    return ops.and_(ops.not_(ops.eq(key, ops.const(0))),
                    ops.not_(check_done(k, ops, s, key_mask(k, ops, s, key), lb_ugen)))


def takeoff_check_and_fold(k: Kernel, ops: Ops, s: Read, w: Write, c: int, p: int) -> None:
    """``luf_takeoff_check_and_fold(page)`` under the zone lock: a page with a key whose batch
    is not done has the batch folded into the take-off batch (``tlb_ubc`` here) and its ugen
    into ``current->luf_ugen`` (``reg_ugen``, if newer). The page's key is consumed. Settles
    the ugens."""
    key = s[k.fkey[p]]
    lb_ugen = key_ugen(k, ops, s, key)
    mask = key_mask(k, ops, s, key)
    fold = ops.and_(ops.not_(ops.eq(key, ops.const(0))), ops.not_(check_done(k, ops, s, mask, lb_ugen)))
    for c2 in k.cpus:
        w[k.ubc[c, c2]] = ops.or_(s[k.ubc[c, c2]], ops.and_(fold, mask[c2]))
    cur = s[k.rugen[c]]
    take = ops.and_(fold, ops.or_(ops.eq(cur, ops.const(0)), ugen.before(k, ops, cur, lb_ugen)))
    w[k.rugen[c]] = ops.ite(take, lb_ugen, cur)
    w[k.fkey[p]] = ops.const(0)
    ugen.settle(k, ops, w)


def takeoff_batch(k: Kernel, ops: Ops, r: Read, c: int) -> list[Expr]:
    """``luf_takeoff_end()``: the take-off batch dieted by ``current->luf_ugen``."""
    return diet(k, ops, r, [r[k.ubc[c, c2]] for c2 in k.cpus], r[k.rugen[c]])


# ---- luf_flush_mm / luf_flush_mapping ---------------------------------------------------


def luf_flush_plan(k: Kernel, ops: Ops, r: Read, mm: Expr | None, obj: Expr | None,
                   shared: Expr | None = None, use_diet: bool = True) -> list[Expr]:
    """The CPUs ``luf_flush_mapping(file of obj)`` then ``luf_flush_mm(mm)`` flush: each folds
    its batch, diets it by the batch's ugen and flushes what is left. (The mm flush runs after
    the mapping flush has marked its CPUs, so it only drops more of them; the union of both
    diets, taken before either, is the set flushed.) ``shared``: the VMA is VM_SHARED (a
    mapping flush happens at all); default yes. Without ``use_diet``: the batches' CPUs."""
    out = [ops.const(False) for _ in k.cpus]
    if obj is not None:
        for f in range(k.cfg.files):
            in_file = O.any_(ops, [ops.eq(obj, ops.const(o)) for o in k.objs if k.file_of(o) == f])
            if shared is not None:
                in_file = ops.and_(shared, in_file)
            part = [r[k.maplb[f, c]] for c in k.cpus]
            part = diet(k, ops, r, part, r[k.maplbugen[f]]) if use_diet else part
            out = [ops.or_(x, ops.and_(in_file, y)) for x, y in zip(out, part)]
    if mm is not None:
        for m in k.mms:
            here = ops.eq(mm, ops.const(m))
            part = [r[k.mmlb[m, c]] for c in k.cpus]
            part = diet(k, ops, r, part, r[k.mmlbugen[m]]) if use_diet else part
            out = [ops.or_(x, ops.and_(here, y)) for x, y in zip(out, part)]
    return out


def skip_event(ops: Ops, c: int, scope: int, index: Expr, when: Expr, dieted: Expr) -> Event:
    """The bookkeeping concluded (if ``when``) that CPU ``c`` needs no flush for ``index`` of
    ``scope`` (a page leaving the free lists, an mm, a file); ``dieted``: ``c`` was in the
    batch, and its ``ugen_done`` took it out."""
    return Event(LUF_SKIP, when, {"cpu": ops.const(c), "scope": ops.const(scope), "index": index, "dieted": dieted,
                                  "range_mm": ops.const(0), "range_va1": ops.const(0)})


def after_range_flush(ops: Ops, e: Event, m: int, v: Expr, on: Expr) -> Event:
    """``e``, decided in a step that also flushed (mm ``m``, va ``v``) on every CPU (if
    ``on``): an entry there no longer counts (``range_va1`` = ``v + 1``, 0 if none)."""
    fields = dict(e.fields)
    fields["range_mm"] = ops.const(m)
    fields["range_va1"] = ops.ite(on, ops.add(v, ops.const(1)), ops.const(0))
    return Event(e.kind, e.when, fields)
