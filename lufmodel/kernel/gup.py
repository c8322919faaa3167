"""DMA into a mapped file page through a GUP pin: an O_DIRECT read into an mmap'ed buffer, RDMA.

1. ``pin_user_pages`` (FOLL_WRITE | FOLL_PIN): take the mmap lock for read; the VMA must be
   writable;
2. ``follow_page_pte`` under the PTL: a present writable PTE is pinned (the folio gets
   GUP_PIN_COUNTING_BIAS references) and the mmap lock is released; otherwise
   ``faultin_page`` runs the page fault path with FAULT_FLAG_WRITE (the model's fault steps,
   from the page-cache lookup on, including LUF v12's flush at the end of
   ``handle_mm_fault``), which returns here to retry. A CPU that may not run faults pins
   only a present writable PTE;
3. the device writes a new version into the pinned frame: a committed content change of the
   object the frame holds (the task waits in the syscall, so this is a step of its path and
   it learns the version);
4. ``unpin_user_pages_dirty_lock``: folio_lock, folio_mark_dirty, folio_unlock, drop the pin.

The pin is a reference: ``__remove_mapping`` in reclaim fails on it (``state.extra_refs``)
and the folio is kept, with its batch flushed at once.
"""

from __future__ import annotations

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel import events
from lufmodel.kernel.config import PROT_RW
from lufmodel.kernel.state import (
    FAULT_GUP,
    PCACHE,
    Kernel,
    at,
    frame_field,
    frames_of,
    goto,
    goto_if,
    obj_field,
    objs_of,
    pick,
    put,
    runs,
)
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "pin_user_pages"
KIND = "dma"


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    if KIND not in cfg.events:
        return
    where = lambda a: cfg.allows(a.c, KIND)  # noqa: E731
    top = cfg.versions

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            runs(k, ops, s, a.c, a.m),
            ops.not_(ops.eq(s[k.mmlock[a.m]], ops.const(k.lock_writer))),
            ops.not_(ops.eq(s[k.vma[a.m, a.v]], ops.const(0))),
            ops.eq(s[k.vprot[a.m, a.v]], ops.const(PROT_RW)),
        )

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.mmlock[a.m]] = ops.add(s[k.mmlock[a.m]], ops.const(1))
        w[k.rv[a.c]] = ops.const(a.v)
        w[k.ro[a.c]] = ops.sub(s[k.vma[a.m, a.v]], ops.const(1))
        goto(k, ops, w, a.c, "dma.pin")

    b.action("dma", path=PATH, step="O_DIRECT read into a mapped page: pin_user_pages(FOLL_WRITE), mmap_read_lock",
             params={"c": k.cpus, "m": k.mms, "v": k.vas}, guard=start_guard, effect=start,
             writes=["mmap_lock", "reg_va", "reg_obj", "pc"], kind=KIND, where=where)

    def _pte(ops: Ops, s: Read, a: Args) -> tuple[Expr, Expr]:
        v = s[k.rv[a.c]]
        pte = pick(ops, v, [s[k.pte[a.m, va]] for va in k.vas])
        ptew = pick(ops, v, [s[k.ptew[a.m, va]] for va in k.vas])
        return pte, ops.and_(ops.not_(ops.eq(pte, ops.const(0))), ptew)

    def pin_guard(ops: Ops, s: Read, a: Args) -> Expr:
        here = ops.and_(at(k, ops, s, a.c, "dma.pin"), runs(k, ops, s, a.c, a.m))
        if cfg.allows(a.c, "fault"):
            return here
        return ops.and_(here, _pte(ops, s, a)[1])

    def pin(ops: Ops, s: Read, a: Args, w: Write) -> None:
        pte, ok = _pte(ops, s, a)
        p = ops.sub(pte, ops.const(1))
        refs = frame_field(k, ops, s, k.pins, p)
        put(ops, w, frames_of(k, k.pins), p, ops.add(refs, ops.const(1)), when=ok)
        w[k.rp[a.c]] = ops.ite(ok, p, s[k.rp[a.c]])
        # Pinned: mmap_read_unlock. Else faultin_page runs the fault under GUP's read lock;
        # fault.end keeps it and returns here.
        w[k.mmlock[a.m]] = ops.ite(ok, ops.sub(s[k.mmlock[a.m]], ops.const(1)), s[k.mmlock[a.m]])
        w[k.rx[a.c]] = ops.ite(ok, s[k.rx[a.c]], ops.const(FAULT_GUP))
        goto_if(k, ops, w, a.c, ok, "dma.write", "fault.lookup")

    b.action("dma.pin", path="follow_page_pte",
             step="(PTL) a present writable PTE: pin its folio, mmap_read_unlock; else faultin_page (write fault)",
             params={"c": k.cpus, "m": k.mms}, guard=pin_guard, effect=pin,
             writes=["pin_refs", "reg_frame", "mmap_lock", "reg_kind", "pc"], kind=KIND, where=where)

    def write_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, "dma.write")

    def _target(ops: Ops, s: Read, a: Args) -> tuple[Expr, Expr, Expr]:
        p = s[k.rp[a.c]]
        o = frame_field(k, ops, s, k.fobj, p)
        # The pin keeps the folio in the page cache (reclaim keeps it; truncation is not
        # modelled), so the frame holds the object's page: the write commits a version.
        cached = ops.eq(frame_field(k, ops, s, k.fst, p), ops.const(PCACHE))
        return p, o, cached

    def write(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p, o, cached = _target(ops, s, a)
        cur = obj_field(k, ops, s, k.ver, o)
        nv = ops.ite(ops.lt(cur, ops.const(top)), ops.add(cur, ops.const(1)), cur)
        put(ops, w, frames_of(k, k.fver), p, nv)
        put(ops, w, objs_of(k, k.ver), o, nv, when=cached)
        known = pick(ops, o, [s[k.hb[a.c, q]] for q in k.objs])
        put(ops, w, [k.hb[a.c, q] for q in k.objs], o, O.max_(ops, known, nv), when=cached)
        goto(k, ops, w, a.c, "dma.unpin")

    def write_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        p, o, cached = _target(ops, s, a)
        return [Event("content_change", cached, {"obj": o}), Event(events.KMAP, ops.const(True), {"frame": p})]

    b.action("dma.write", path="bio completion",
             step="the device writes a new version into the pinned frame; the I/O completes",
             params={"c": k.cpus}, guard=write_guard, effect=write, emit=write_emit,
             writes=["frame_ver", "ver", "hb", "pc"], kind=KIND, where=where)

    def unpin_guard(ops: Ops, s: Read, a: Args) -> Expr:
        free = ops.eq(frame_field(k, ops, s, k.flock, s[k.rp[a.c]]), ops.const(0))
        return ops.and_(at(k, ops, s, a.c, "dma.unpin"), free)

    def unpin(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p = s[k.rp[a.c]]
        put(ops, w, frames_of(k, k.fdirty), p, ops.const(True))
        refs = frame_field(k, ops, s, k.pins, p)
        put(ops, w, frames_of(k, k.pins), p, ops.sub(refs, ops.const(1)))
        for reg in (k.rv, k.ro, k.rp):
            w[reg[a.c]] = ops.const(k.idle(reg))
        goto(k, ops, w, a.c, "user")

    b.action("dma.unpin", path="unpin_user_pages_dirty_lock",
             step="folio_lock, folio_mark_dirty, folio_unlock; unpin",
             params={"c": k.cpus}, guard=unpin_guard, effect=unpin,
             writes=["frame_dirty", "pin_refs", "reg_va", "reg_obj", "reg_frame", "pc"], kind=KIND, where=where)
