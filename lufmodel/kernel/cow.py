"""Copy-on-write of a MAP_PRIVATE file page: ``do_wp_page`` → ``wp_page_copy``, and
``do_cow_fault`` (reference §2 row 11).

A write fault on a private read-write VMA (``fault`` routes it here, kernel/fault.py):

1. ``cow.start`` (PTL, ``handle_pte_fault``): a present read-only PTE goes to
   ``do_wp_page``, which takes a reference on the mapped folio (a page-cache page, or an
   anonymous or KSM page mapped read-only) for ``wp_page_copy``; a none PTE goes to
   ``do_cow_fault``, which finds the file page through ``filemap_fault`` (the shared
   page-cache steps ``cowfile.*``, ending with the folio locked); a PTE made writable
   meanwhile is a spurious fault;
2. ``cow.alloc``/``cow.takeoff``: the new anonymous page, through the shared take-off steps
   (``do_cow_fault`` allocates it before ``__do_fault``; here it comes after, with the file
   folio locked, which changes nothing another CPU can observe);
3. ``cow.copy`` (``copy_user_highpage``, no lock): the new page gets the content of the
   anonymous object of (mm, va): a copy of the file page is its version 0 (which reads the
   same as that file page: the spec loader keeps a file with private mappings unchanged), a
   copy of an anonymous or KSM page keeps its version;
4. ``cow.set`` (PTL): ``wp_page_copy`` re-checks ``pte_same``, does ``ptep_clear_flush``
   (the old PTE is present, hence accessible: ``flush_tlb_page``; v12's ``luf_flush_vma`` for
   an inaccessible one cannot happen here) and sets the PTE writable to the new page;
   ``finish_fault`` of ``do_cow_fault`` installs into the none PTE with no flush at all. The
   page is anonymous from then on (``vma_anon``). The old folio's reference is dropped (an
   anonymous one no longer mapped is freed), or the file folio unlocked. If the PTE changed,
   the new page is freed and the fault returns, to be taken again.

Then the shared end of ``handle_mm_fault`` (``fault.end``): LUF v12's ``luf_flush_mm`` (a
private file VMA has VM_MAYWRITE; not being VM_SHARED, no ``luf_flush_mapping``). A
read-only anonymous page is always copied, never reused in place (``wp_page_reuse``): the
kernel copies whenever the folio is not exclusively referenced, so this keeps the copying
behaviours and drops the reusing ones.
"""

from __future__ import annotations

from lufmodel.builder import ModelBuilder
from lufmodel.kernel.anon import anon_obj_at, pte_at, release_anon
from lufmodel.kernel.flush import ptep_clear_flush, ptep_clear_flush_discharges, ptep_clear_flush_writes
from lufmodel.kernel.pagecache import add_alloc_steps, add_pagecache_steps
from lufmodel.kernel.state import ANON, FAULT_WP, FAULT_WRITE, FREE, Kernel, at, frame_field, frames_of, goto, put, runs
from lufmodel.model import Args, Event, Guard, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "wp_page_copy"
KIND = "fault"


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    if not cfg.private:
        return
    where = lambda a: cfg.allows(a.c, KIND)  # noqa: E731
    params = {"c": k.cpus, "m": k.mms}

    def here(step: str) -> Guard:
        def guard(ops: Ops, s: Read, a: Args) -> Expr:
            return ops.and_(at(k, ops, s, a.c, step), runs(k, ops, s, a.c, a.m))
        return guard

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        pte, ptew, _ = pte_at(k, ops, s, a.m, s[k.rv[a.c]])
        present = ops.not_(ops.eq(pte, ops.const(0)))
        wp = ops.and_(present, ops.not_(ptew))
        old = ops.sub(pte, ops.const(1))
        refs = frame_field(k, ops, s, k.frefs, old)
        put(ops, w, frames_of(k, k.frefs), old, ops.add(refs, ops.const(1)), when=wp)
        w[k.rp[a.c]] = ops.ite(wp, old, s[k.rp[a.c]])
        w[k.rx[a.c]] = ops.ite(wp, ops.const(FAULT_WP), ops.const(FAULT_WRITE))
        nxt = ops.ite(present, ops.const(k.pcs["fault.end"]), ops.const(k.pcs["cowfile.lookup"]))
        w[k.pc[a.c]] = ops.ite(wp, ops.const(k.pcs["cow.alloc"]), nxt)

    b.action("cow.start", path="handle_pte_fault",
             step="(PTL) read-only PTE: do_wp_page, folio_get the old folio; none PTE: do_cow_fault; writable: spurious",
             params=params, guard=here("cow.start"), effect=start,
             writes=["gather_refs", "reg_frame", "reg_kind", "pc"], kind=KIND, where=where)

    add_pagecache_steps(k, b, prefix="cowfile", path="do_cow_fault", kind=KIND, locked="cow.alloc")
    add_alloc_steps(k, b, prefix="cow", path=PATH, kind=KIND, start="cow.alloc", then="cow.copy", into=k.rd)

    def copy(ops: Ops, s: Read, a: Args, w: Write) -> None:
        old, new = s[k.rp[a.c]], s[k.rd[a.c]]
        aobj = anon_obj_at(k, ops, a.m, s[k.rv[a.c]])
        from_anon = ops.eq(frame_field(k, ops, s, k.fobj, old), aobj)
        put(ops, w, frames_of(k, k.fobj), new, aobj)
        put(ops, w, frames_of(k, k.fver), new, ops.ite(from_anon, frame_field(k, ops, s, k.fver, old), ops.const(0)))
        goto(k, ops, w, a.c, "cow.set")

    b.action("cow.copy", path=PATH, step="copy_user_highpage: the old page's content into the new anonymous page",
             params=params, guard=here("cow.copy"), effect=copy, writes=["frame_obj", "frame_ver", "pc"],
             kind=KIND, where=where)

    def _same(ops: Ops, s: Read, a: Args) -> tuple[Expr, Expr, Expr]:
        v = s[k.rv[a.c]]
        pte, ptew, _ = pte_at(k, ops, s, a.m, v)
        wp = ops.eq(s[k.rx[a.c]], ops.const(FAULT_WP))
        same = ops.ite(wp, ops.and_(ops.eq(pte, ops.add(s[k.rp[a.c]], ops.const(1))), ops.not_(ptew)),
                       ops.eq(pte, ops.const(0)))
        return v, wp, same

    def set_pte(ops: Ops, s: Read, a: Args, w: Write) -> None:
        v, wp, same = _same(ops, s, a)
        old, new = s[k.rp[a.c]], s[k.rd[a.c]]
        ptep_clear_flush(k, ops, s, w, a.m, v, s[k.ro[a.c]], ops.const(False), ops.and_(same, wp))
        put(ops, w, [k.pte[a.m, va] for va in k.vas], v, ops.add(new, ops.const(1)), when=same)
        put(ops, w, [k.ptew[a.m, va] for va in k.vas], v, ops.const(True), when=same)
        put(ops, w, [k.pted[a.m, va] for va in k.vas], v, ops.const(True), when=same)
        put(ops, w, [k.vanon[a.m, va] for va in k.vas], v, ops.const(True), when=same)
        put(ops, w, frames_of(k, k.fst), new, ops.ite(same, ops.const(ANON), ops.const(FREE)))
        refs = frame_field(k, ops, s, k.frefs, old)
        put(ops, w, frames_of(k, k.frefs), old, ops.sub(refs, ops.const(1)), when=wp)
        release_anon(k, ops, w, old, wp)
        put(ops, w, frames_of(k, k.flock), old, ops.const(0), when=ops.not_(wp))
        w[k.rd[a.c]] = ops.const(k.no_frame)
        goto(k, ops, w, a.c, "fault.end")

    def set_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        v, wp, same = _same(ops, s, a)
        flushed = ops.and_(wp, ptep_clear_flush_discharges(k, ops, s, a.m, v, s[k.ro[a.c]], ops.const(False)))
        fields = {"mm": ops.const(a.m), "va": v, "obj": anon_obj_at(k, ops, a.m, v),
                  "writable": ops.const(True), "discharged": flushed}
        return [Event("set_pte", same, fields)]

    b.action("cow.set", path="wp_page_copy/finish_fault",
             step="(PTL) wp_page_copy: pte_same, ptep_clear_flush, set_pte writable to the new page; "
                  "do_cow_fault: finish_fault into the none PTE; folio_put / folio_unlock the old page",
             params=params, guard=here("cow.set"), effect=set_pte, emit=set_emit,
             writes=sorted(set(["pte", "pte_w", "pte_dirty", "vma_anon", "frame_state", "gather_refs", "folio_lock",
                                "reg_dst", "pc"] + ptep_clear_flush_writes(k))),
             kind=KIND, where=where)
