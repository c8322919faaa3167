"""uprobes: ``uprobe_write_opcode`` → ``__replace_page`` (kernels up to 6.14), reference §2
row 22 and scenario L8.

A breakpoint is installed in a MAP_PRIVATE text page (a ``private-r`` VMA) by replacing the
page with a new anonymous copy that holds it. With the mmap lock held for write (the mm's
faults wait; reclaim does not):

1. ``uprobe``: ``mmap_write_lock``;
2. ``uprobe.gup`` (``get_user_pages_remote``, FOLL_FORCE, a read; ``follow_page_pte`` under
   the PTL): a present PTE: take a reference on its folio; a none PTE: ``faultin_page`` runs
   the read fault (the model's fault steps from the page-cache lookup on, with LUF v12's
   flush at the end of ``handle_mm_fault``: a private file VMA has VM_MAYWRITE), which
   returns here;
3. ``uprobe.alloc``/``uprobe.takeoff``: the new page, through the shared take-off steps;
4. ``uprobe.copy``: ``copy_highpage`` and ``copy_to_page`` of the breakpoint: the new page
   holds version 1 of the anonymous object of (mm, va), "the text with the breakpoint";
5. ``uprobe.replace``: ``folio_lock`` of the old page, then ``page_vma_mapped_walk`` under
   the PTL: if the PTE still maps the old page, ``ptep_clear_flush`` and ``set_pte_at`` of the
   new page, read-only (a private mapping's ``vm_page_prot``): the page is anonymous from
   then on and version 1 is committed (a content change of the anonymous object). Else
   ``-EAGAIN``: the new page is freed and GUP runs again. Then ``folio_unlock``, the old
   page's ``put_page`` and ``mmap_write_unlock``.

P2 then reads "the task sees its own text with the breakpoint": once it is installed, a read
of (mm, va) must return the anonymous object at version 1, and a stale entry to the file
page returns the text without it.

Switches (``[uprobes]`` in a spec): ``walk_check = false`` is one of Dave Hansen's "ten
other ways where it would break": the rewrite does not check that the PTE still maps the old
page, so it rewrites whatever it holds, a LUF'd none PTE included, with no fault.
``hold_page = false`` drops the old page's reference after the copy and does not lock it
(so reclaim can free it, with LUF, before the rewrite).
"""

from __future__ import annotations

from lufmodel.builder import ModelBuilder
from lufmodel.kernel.anon import anon_obj_at, pte_at
from lufmodel.kernel.config import PROT_PRIVATE_RO
from lufmodel.kernel.flush import ptep_clear_flush, ptep_clear_flush_discharges, ptep_clear_flush_writes
from lufmodel.kernel.pagecache import add_alloc_steps
from lufmodel.kernel.state import (
    ANON,
    FAULT_GUP_READ,
    FREE,
    Kernel,
    at,
    frame_field,
    frames_of,
    goto,
    goto_if,
    put,
    runs,
)
from lufmodel.model import Args, Event, Guard, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "uprobe_write_opcode"
KIND = "uprobe"
BREAKPOINT = 1
"""The anonymous object's version that holds the breakpoint (version 0: the unmodified text)."""


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    if not (cfg.private and KIND in cfg.events):
        return
    where = lambda a: cfg.allows(a.c, KIND)  # noqa: E731
    params = {"c": k.cpus, "m": k.mms}
    hold, check = cfg.uprobe_hold_page, cfg.uprobe_walk_check

    def here(step: str) -> Guard:
        def guard(ops: Ops, s: Read, a: Args) -> Expr:
            return ops.and_(at(k, ops, s, a.c, step), runs(k, ops, s, a.c, a.m))
        return guard

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            runs(k, ops, s, a.c, a.m),
            ops.eq(s[k.mmlock[a.m]], ops.const(0)),
            ops.eq(s[k.vprot[a.m, a.v]], ops.const(PROT_PRIVATE_RO)),
            ops.not_(s[k.vanon[a.m, a.v]]),
        )

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.mmlock[a.m]] = ops.const(k.lock_writer)
        w[k.rv[a.c]] = ops.const(a.v)
        w[k.ro[a.c]] = ops.sub(s[k.vma[a.m, a.v]], ops.const(1))
        goto(k, ops, w, a.c, "uprobe.gup")

    b.action("uprobe", path=PATH, step="install a breakpoint in a private text page: mmap_write_lock",
             params={"c": k.cpus, "m": k.mms, "v": k.vas}, guard=start_guard, effect=start,
             writes=["mmap_lock", "reg_va", "reg_obj", "pc"], kind=KIND, where=where)

    def _present(ops: Ops, s: Read, a: Args) -> tuple[Expr, Expr]:
        pte, _, _ = pte_at(k, ops, s, a.m, s[k.rv[a.c]])
        return pte, ops.not_(ops.eq(pte, ops.const(0)))

    def gup_guard(ops: Ops, s: Read, a: Args) -> Expr:
        g = here("uprobe.gup")(ops, s, a)
        if cfg.allows(a.c, "fault"):
            return g
        return ops.and_(g, _present(ops, s, a)[1])

    def gup(ops: Ops, s: Read, a: Args, w: Write) -> None:
        pte, present = _present(ops, s, a)
        old = ops.sub(pte, ops.const(1))
        refs = frame_field(k, ops, s, k.frefs, old)
        put(ops, w, frames_of(k, k.frefs), old, ops.add(refs, ops.const(1)), when=present)
        w[k.rp[a.c]] = ops.ite(present, old, s[k.rp[a.c]])
        w[k.rx[a.c]] = ops.ite(present, s[k.rx[a.c]], ops.const(FAULT_GUP_READ))
        goto_if(k, ops, w, a.c, present, "uprobe.alloc", "fault.lookup")

    b.action("uprobe.gup", path="get_user_pages_remote",
             step="follow_page_pte (PTL): a present PTE: get the old page; none: faultin_page (read fault)",
             params=params, guard=gup_guard, effect=gup,
             writes=["gather_refs", "reg_frame", "reg_kind", "pc"], kind=KIND, where=where)

    add_alloc_steps(k, b, prefix="uprobe", path=PATH, kind=KIND, start="uprobe.alloc", then="uprobe.copy", into=k.rd)

    def copy(ops: Ops, s: Read, a: Args, w: Write) -> None:
        new, old = s[k.rd[a.c]], s[k.rp[a.c]]
        put(ops, w, frames_of(k, k.fobj), new, anon_obj_at(k, ops, a.m, s[k.rv[a.c]]))
        put(ops, w, frames_of(k, k.fver), new, ops.const(BREAKPOINT))
        if not hold:
            refs = frame_field(k, ops, s, k.frefs, old)
            put(ops, w, frames_of(k, k.frefs), old, ops.sub(refs, ops.const(1)))
        goto(k, ops, w, a.c, "uprobe.replace")

    b.action("uprobe.copy", path=PATH,
             step="copy_highpage + copy_to_page: the text with the breakpoint in the new page"
                  + ("" if hold else "; put_page(old page) already"),
             params=params, guard=here("uprobe.copy"), effect=copy,
             writes=["frame_obj", "frame_ver", "pc"] + ([] if hold else ["gather_refs"]), kind=KIND, where=where)

    def replace_guard(ops: Ops, s: Read, a: Args) -> Expr:
        g = here("uprobe.replace")(ops, s, a)
        if not hold:
            return g
        return ops.and_(g, ops.eq(frame_field(k, ops, s, k.flock, s[k.rp[a.c]]), ops.const(0)))

    def _ok(ops: Ops, s: Read, a: Args) -> tuple[Expr, Expr]:
        v = s[k.rv[a.c]]
        if not check:
            return v, ops.const(True)
        pte, _, _ = pte_at(k, ops, s, a.m, v)
        return v, ops.eq(pte, ops.add(s[k.rp[a.c]], ops.const(1)))

    def replace(ops: Ops, s: Read, a: Args, w: Write) -> None:
        v, ok = _ok(ops, s, a)
        new, old = s[k.rd[a.c]], s[k.rp[a.c]]
        aobj = anon_obj_at(k, ops, a.m, v)
        ptep_clear_flush(k, ops, s, w, a.m, v, s[k.ro[a.c]], ops.const(False), ok)
        put(ops, w, [k.pte[a.m, va] for va in k.vas], v, ops.add(new, ops.const(1)), when=ok)
        put(ops, w, [k.ptew[a.m, va] for va in k.vas], v, ops.const(False), when=ok)
        put(ops, w, [k.pted[a.m, va] for va in k.vas], v, ops.const(False), when=ok)
        put(ops, w, [k.vanon[a.m, va] for va in k.vas], v, ops.const(True), when=ok)
        put(ops, w, frames_of(k, k.fst), new, ops.ite(ok, ops.const(ANON), ops.const(FREE)))
        put(ops, w, [k.ver[o] for o in k.all_objs], aobj, ops.const(BREAKPOINT), when=ok)
        put(ops, w, [k.hb[a.c, o] for o in k.all_objs], aobj, ops.const(BREAKPOINT), when=ok)
        if hold:
            refs = frame_field(k, ops, s, k.frefs, old)
            put(ops, w, frames_of(k, k.frefs), old, ops.sub(refs, ops.const(1)))
        w[k.rd[a.c]] = ops.const(k.no_frame)
        w[k.rp[a.c]] = ops.const(k.no_frame)
        w[k.rx[a.c]] = ops.const(0)
        w[k.mmlock[a.m]] = ops.ite(ok, ops.const(0), s[k.mmlock[a.m]])
        for reg in (k.rv, k.ro):
            w[reg[a.c]] = ops.ite(ok, ops.const(0), s[reg[a.c]])
        goto_if(k, ops, w, a.c, ok, "user", "uprobe.gup")

    def replace_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        v, ok = _ok(ops, s, a)
        aobj = anon_obj_at(k, ops, a.m, v)
        flushed = ptep_clear_flush_discharges(k, ops, s, a.m, v, s[k.ro[a.c]], ops.const(False))
        return [
            Event("set_pte", ok, {"mm": ops.const(a.m), "va": v, "obj": aobj, "writable": ops.const(False),
                                  "discharged": flushed}),
            Event("content_change", ok, {"obj": aobj, "discharged": flushed}),
        ]

    what = ("page_vma_mapped_walk (PTL): if the PTE still maps the old page: ptep_clear_flush, set_pte read-only "
            "to the new page; else -EAGAIN, retry GUP" if check
            else "(PTL, no walk check) whatever the PTE holds: ptep_clear_flush, set_pte read-only to the new page")
    b.action("uprobe.replace", path="__replace_page",
             step=("folio_lock(old); " if hold else "") + what
             + ("; folio_unlock, put_page(old)" if hold else "") + "; mmap_write_unlock",
             params=params, guard=replace_guard, effect=replace, emit=replace_emit,
             writes=sorted(set(["pte", "pte_w", "pte_dirty", "vma_anon", "frame_state", "ver", "hb", "reg_dst",
                                "reg_frame", "reg_kind", "mmap_lock", "reg_va", "reg_obj", "pc"]
                               + ptep_clear_flush_writes(k) + (["gather_refs"] if hold else []))),
             kind=KIND, where=where)
