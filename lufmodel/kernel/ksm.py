"""KSM: ksmd merges an anonymous page into a read-only KSM page with the same content
(``try_to_merge_one_page``), reference §2 row 23 and §3.2 (the mmu_notifier rule: "changing
a pte ... to point to a new write protected page with same content (KSM)" needs no
invalidate before the new PTE is set).

1. ``ksm`` (``scan_get_next_rmap_item`` under ``mmap_read_lock``): an anonymous page of
   (mm, va) is taken with a reference (``follow_page``) and ``folio_trylock``;
2. ``ksm.wrprotect`` (``write_protect_page``, PTL, ``page_vma_mapped_walk``): if the PTE no
   longer maps the page, give up; if it is writable or dirty: ``ptep_clear_flush``, and unless
   the page has references beyond its mapping and ksmd's (``mapcount + 1 != refcount``: a
   concurrent ``do_wp_page`` holds one) set it back read-only and clean;
3. ``ksm.alloc``/``ksm.takeoff`` and ``ksm.copy``: the KSM page, with the same content
   (``pages_identical``). In the kernel it is a stable-tree page that already exists; here it
   is allocated through the shared take-off steps and filled for the merge;
4. ``ksm.replace`` (``replace_page``, PTL): if the PTE is still the write-protected one
   (``pte_same``), ``ptep_clear_flush`` and ``set_pte_at`` read-only to the KSM page; then
   ``folio_unlock`` and ``folio_put``: the old page, unmapped, is freed. Else the KSM page is
   dropped.

KSM touches only present PTEs of anonymous pages: a LUF'd (none) PTE fails the walk.
"""

from __future__ import annotations

from lufmodel.builder import ModelBuilder
from lufmodel.kernel.anon import anon_obj_at, pte_at, release_anon
from lufmodel.kernel.flush import ptep_clear_flush, ptep_clear_flush_discharges, ptep_clear_flush_writes
from lufmodel.kernel.pagecache import add_alloc_steps
from lufmodel.kernel.state import ANON, FREE, KSM, Kernel, at, frame_field, frames_of, goto, goto_if, put, runs
from lufmodel.model import Args, Event, Guard, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "try_to_merge_one_page"
KIND = "ksm"


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    if not (cfg.private and KIND in cfg.events):
        return
    where = lambda a: cfg.allows(a.c, KIND)  # noqa: E731
    params = {"c": k.cpus, "m": k.mms}

    def here(step: str) -> Guard:
        def guard(ops: Ops, s: Read, a: Args) -> Expr:
            return ops.and_(at(k, ops, s, a.c, step), runs(k, ops, s, a.c, a.m))
        return guard

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        pte = s[k.pte[a.m, a.v]]
        p = ops.sub(pte, ops.const(1))
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            runs(k, ops, s, a.c, a.m),
            ops.not_(ops.eq(s[k.mmlock[a.m]], ops.const(k.lock_writer))),
            s[k.vanon[a.m, a.v]],
            ops.not_(ops.eq(pte, ops.const(0))),
            ops.eq(frame_field(k, ops, s, k.fst, p), ops.const(ANON)),
            ops.eq(frame_field(k, ops, s, k.flock, p), ops.const(0)),
        )

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p = ops.sub(s[k.pte[a.m, a.v]], ops.const(1))
        w[k.mmlock[a.m]] = ops.add(s[k.mmlock[a.m]], ops.const(1))
        w[k.rv[a.c]] = ops.const(a.v)
        w[k.rp[a.c]] = p
        put(ops, w, frames_of(k, k.flock), p, ops.const(a.c + 1))
        put(ops, w, frames_of(k, k.frefs), p, ops.add(frame_field(k, ops, s, k.frefs, p), ops.const(1)))
        goto(k, ops, w, a.c, "ksm.wrprotect")

    b.action("ksm", path="ksm_do_scan", step="mmap_read_lock; an anonymous page: follow_page (get), folio_trylock",
             params={"c": k.cpus, "m": k.mms, "v": k.vas}, guard=start_guard, effect=start,
             writes=["mmap_lock", "reg_va", "reg_frame", "folio_lock", "gather_refs", "pc"], kind=KIND, where=where)

    def _finish(ops: Ops, s: Read, a: Args, w: Write, p: Expr, when: Expr) -> None:
        """If ``when``: ``folio_unlock``, ksmd's ``folio_put`` (the last one frees an
        unmapped page), ``mmap_read_unlock``, back to user."""
        put(ops, w, frames_of(k, k.flock), p, ops.const(0), when=when)
        put(ops, w, frames_of(k, k.frefs), p, ops.sub(frame_field(k, ops, s, k.frefs, p), ops.const(1)), when=when)
        release_anon(k, ops, w, p, when)
        w[k.mmlock[a.m]] = ops.ite(when, ops.sub(s[k.mmlock[a.m]], ops.const(1)), s[k.mmlock[a.m]])
        for reg in (k.rv, k.rp, k.rd):
            w[reg[a.c]] = ops.ite(when, ops.const(k.idle(reg)), s[reg[a.c]])

    finish_writes = ["folio_lock", "gather_refs", "frame_state", "mmap_lock", "reg_va", "reg_frame", "reg_dst", "pc"]

    def wrprotect(ops: Ops, s: Read, a: Args, w: Write) -> None:
        v, p = s[k.rv[a.c]], s[k.rp[a.c]]
        pte, ptew, pted = pte_at(k, ops, s, a.m, v)
        maps = ops.eq(pte, ops.add(p, ops.const(1)))
        wr = ops.and_(maps, ops.or_(ptew, pted))
        # mapcount + 1 (ksmd's reference) == refcount: nobody else holds the page.
        alone = ops.eq(frame_field(k, ops, s, k.frefs, p), ops.const(1))
        ok = ops.and_(maps, ops.or_(ops.not_(wr), alone))
        ptep_clear_flush(k, ops, s, w, a.m, v, ops.const(0), ops.const(False), wr)
        put(ops, w, [k.ptew[a.m, va] for va in k.vas], v, ops.const(False), when=ok)
        put(ops, w, [k.pted[a.m, va] for va in k.vas], v, ops.const(False), when=ok)
        _finish(ops, s, a, w, p, ops.not_(ok))
        goto_if(k, ops, w, a.c, ok, "ksm.alloc", "user")

    b.action("ksm.wrprotect", path="write_protect_page",
             step="(PTL) page_vma_mapped_walk; writable or dirty: ptep_clear_flush, then read-only and clean "
                  "unless someone else holds the page (give up)",
             params=params, guard=here("ksm.wrprotect"), effect=wrprotect,
             writes=sorted(set(["pte_w", "pte_dirty"] + finish_writes + ptep_clear_flush_writes(k))),
             kind=KIND, where=where)

    add_alloc_steps(k, b, prefix="ksm", path="ksmd", kind=KIND, start="ksm.alloc", then="ksm.copy", into=k.rd)

    def copy(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p, kp = s[k.rp[a.c]], s[k.rd[a.c]]
        put(ops, w, frames_of(k, k.fobj), kp, frame_field(k, ops, s, k.fobj, p))
        put(ops, w, frames_of(k, k.fver), kp, frame_field(k, ops, s, k.fver, p))
        goto(k, ops, w, a.c, "ksm.replace")

    b.action("ksm.copy", path="ksmd", step="the KSM page with the same content (pages_identical)",
             params=params, guard=here("ksm.copy"), effect=copy, writes=["frame_obj", "frame_ver", "pc"],
             kind=KIND, where=where)

    def _same(ops: Ops, s: Read, a: Args) -> tuple[Expr, Expr]:
        v = s[k.rv[a.c]]
        pte, ptew, pted = pte_at(k, ops, s, a.m, v)
        same = ops.and_(ops.eq(pte, ops.add(s[k.rp[a.c]], ops.const(1))), ops.not_(ptew), ops.not_(pted))
        return v, same

    def replace(ops: Ops, s: Read, a: Args, w: Write) -> None:
        v, same = _same(ops, s, a)
        kp = s[k.rd[a.c]]
        ptep_clear_flush(k, ops, s, w, a.m, v, ops.const(0), ops.const(False), same)
        put(ops, w, [k.pte[a.m, va] for va in k.vas], v, ops.add(kp, ops.const(1)), when=same)
        put(ops, w, frames_of(k, k.fst), kp, ops.ite(same, ops.const(KSM), ops.const(FREE)))
        _finish(ops, s, a, w, s[k.rp[a.c]], ops.const(True))
        goto(k, ops, w, a.c, "user")

    def replace_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        v, same = _same(ops, s, a)
        flushed = ptep_clear_flush_discharges(k, ops, s, a.m, v, ops.const(0), ops.const(False))
        return [Event("set_pte", same, {"mm": ops.const(a.m), "va": v, "obj": anon_obj_at(k, ops, a.m, v),
                                        "writable": ops.const(False), "discharged": flushed})]

    b.action("ksm.replace", path="replace_page",
             step="(PTL) pte_same: ptep_clear_flush, set_pte read-only to the KSM page; "
                  "folio_unlock, folio_put (frees the old page); mmap_read_unlock",
             params=params, guard=here("ksm.replace"), effect=replace, emit=replace_emit,
             writes=sorted(set(["pte"] + finish_writes + ptep_clear_flush_writes(k))),
             kind=KIND, where=where)
