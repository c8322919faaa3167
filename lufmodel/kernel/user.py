"""User-mode loads and stores through the TLB.

A load needs a TLB entry (a miss is a fill, or a fault when the PTE is none); it reads the
frame's content: (object, version). A store needs a writable entry; it commits a new
version of the object the VMA maps into the frame the entry points at — through a stale
entry, into a frame that is no longer the object's page. Both emit an ``access`` event
that the properties P1, P2 and P4 observe. The ghost ``hb`` (happens-before knowledge)
of the CPU is updated by what it reads and writes.
"""

from __future__ import annotations

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel.state import Kernel, at, frame_field, frames_of, mapped_obj, pick, put, runs
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops


def _access(k: Kernel, ops: Ops, s: Read, a: Args, write: bool) -> Event:
    t = s[k.tlb[a.c, a.m, a.v]]
    frame = ops.sub(t, ops.const(1))
    return Event(
        "access",
        ops.const(True),
        {
            "write": ops.const(write),
            "cpu": ops.const(a.c),
            "mm": ops.const(a.m),
            "va": ops.const(a.v),
            "content_obj": frame_field(k, ops, s, k.fobj, frame),
            "content_ver": frame_field(k, ops, s, k.fver, frame),
            "tag": s[k.tlbo[a.c, a.m, a.v]],
            "vma": s[k.vma[a.m, a.v]],
            "prot": s[k.vprot[a.m, a.v]],
            "stale": ops.not_(ops.eq(s[k.pte[a.m, a.v]], t)),
        },
    )


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    params = {"c": k.cpus, "m": k.mms, "v": k.vas}

    def load_guard(ops: Ops, s: Read, a: Args) -> Expr:
        hit = ops.not_(ops.eq(s[k.tlb[a.c, a.m, a.v]], ops.const(0)))
        return ops.and_(at(k, ops, s, a.c, "user"), runs(k, ops, s, a.c, a.m), hit)

    def load(ops: Ops, s: Read, a: Args, w: Write) -> None:
        frame = ops.sub(s[k.tlb[a.c, a.m, a.v]], ops.const(1))
        vobj = mapped_obj(k, ops, s, a.m, a.v)
        cobj = frame_field(k, ops, s, k.fobj, frame)
        cver = frame_field(k, ops, s, k.fver, frame)
        known = [s[k.hb[a.c, o]] for o in k.all_objs]
        learn = ops.eq(cobj, vobj)
        put(ops, w, [k.hb[a.c, o] for o in k.all_objs], vobj, O.max_(ops, O.select(ops, vobj, known), cver), when=learn)

    b.action("load", path="user", step="load through the TLB", params=params, guard=load_guard,
             effect=load, writes=["hb"], emit=lambda ops, s, a: [_access(k, ops, s, a, False)], kind="load",
             where=lambda a: cfg.allows(a.c, "load"))

    top = cfg.versions

    def store_guard(ops: Ops, s: Read, a: Args) -> Expr:
        t = s[k.tlb[a.c, a.m, a.v]]
        vma = s[k.vma[a.m, a.v]]
        vobj = mapped_obj(k, ops, s, a.m, a.v)
        room = ops.lt(pick(ops, vobj, [s[k.ver[o]] for o in k.all_objs]), ops.const(top))
        return ops.and_(
            at(k, ops, s, a.c, "user"),
            runs(k, ops, s, a.c, a.m),
            ops.not_(ops.eq(t, ops.const(0))),
            s[k.tlbw[a.c, a.m, a.v]],
            ops.not_(ops.eq(vma, ops.const(0))),
            room,
        )

    def store(ops: Ops, s: Read, a: Args, w: Write) -> None:
        frame = ops.sub(s[k.tlb[a.c, a.m, a.v]], ops.const(1))
        vobj = mapped_obj(k, ops, s, a.m, a.v)
        nv = ops.add(pick(ops, vobj, [s[k.ver[o]] for o in k.all_objs]), ops.const(1))
        put(ops, w, frames_of(k, k.fver), frame, nv)
        put(ops, w, frames_of(k, k.fobj), frame, vobj)
        put(ops, w, [k.ver[o] for o in k.all_objs], vobj, nv)
        put(ops, w, [k.hb[a.c, o] for o in k.all_objs], vobj, nv)

    def store_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        vobj = mapped_obj(k, ops, s, a.m, a.v)
        return [_access(k, ops, s, a, True), Event("content_change", ops.const(True), {"obj": vobj})]

    b.action("store", path="user", step="store through the TLB", params=params, guard=store_guard,
             effect=store, writes=["frame_ver", "frame_obj", "ver", "hb"], emit=store_emit, kind="store",
             where=lambda a: cfg.allows(a.c, "store"))
