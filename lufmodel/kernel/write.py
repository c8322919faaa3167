"""Buffered write(2): ``generic_perform_write`` on one page.

``write_begin`` finds or creates the folio and locks it (shared page-cache steps); LUF v12
then flushes the mapping's batch (``mapping_write_begin``); the copy commits a new version
into the folio; ``write_end`` marks it dirty and unlocks; LUF v11 flushes afterwards in
``file_end_write``. A copy at the version bound writes the same version again (the bound
of the model, not a kernel behaviour).
"""

from __future__ import annotations

from lufmodel.builder import ModelBuilder
from lufmodel.kernel import events
from lufmodel.kernel.flush import FLUSH_WRITES, flush_cpus, luf_all_mask, luf_flush, luf_flush_events, luf_flush_writes
from lufmodel.kernel.pagecache import add_pagecache_steps
from lufmodel.kernel.state import Kernel, at, frames_of, goto, obj_field, objs_of, put
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "generic_perform_write"


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    where = lambda a: cfg.allows(a.c, "write")  # noqa: E731
    v12 = cfg.luf and cfg.point("v12_write_begin")
    v11 = cfg.luf and cfg.point("v11_file_end_write")
    top = cfg.versions

    def start_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "user"), ops.lt(s[k.ver[a.o]], ops.const(top)))

    def start(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.ro[a.c]] = ops.const(a.o)
        goto(k, ops, w, a.c, "write.lookup")

    b.action("write", path=PATH, step="write(2) of one page: write_begin", params={"c": k.cpus, "o": k.objs},
             guard=start_guard, effect=start, writes=["reg_obj", "pc"], kind="write", where=where)

    add_pagecache_steps(k, b, prefix="write", path=PATH, kind="write", locked="write.flush" if v12 else "write.copy")

    if v12:
        def flush_guard(ops: Ops, s: Read, a: Args) -> Expr:
            return at(k, ops, s, a.c, "write.flush")

        def flush(ops: Ops, s: Read, a: Args, w: Write) -> None:
            luf_flush(k, ops, w, obj=s[k.ro[a.c]])
            goto(k, ops, w, a.c, "write.copy")

        b.action("write.flush", path=PATH, step="mapping_write_begin: luf_flush_mapping", params={"c": k.cpus},
                 guard=flush_guard, effect=flush, emit=lambda ops, s, a: luf_flush_events(k, ops, s, obj=s[k.ro[a.c]]),
                 writes=luf_flush_writes(k) + ["pc"], kind="write", where=where)

    def copy_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, "write.copy")

    def copy(ops: Ops, s: Read, a: Args, w: Write) -> None:
        o, p = s[k.ro[a.c]], s[k.rp[a.c]]
        cur = obj_field(k, ops, s, k.ver, o)
        nv = ops.ite(ops.lt(cur, ops.const(top)), ops.add(cur, ops.const(1)), cur)
        put(ops, w, frames_of(k, k.fver), p, nv)
        put(ops, w, frames_of(k, k.fdirty), p, ops.const(True))
        put(ops, w, objs_of(k, k.ver), o, nv)
        put(ops, w, [k.hb[a.c, q] for q in k.objs], o, nv)
        goto(k, ops, w, a.c, "write.end")

    def copy_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        return [Event("content_change", ops.const(True), {"obj": s[k.ro[a.c]]}),
                Event(events.KMAP, ops.const(True), {"frame": s[k.rp[a.c]]})]

    b.action("write.copy", path=PATH, step="copy_from_user into the folio (a new version)", params={"c": k.cpus},
             guard=copy_guard, effect=copy, emit=copy_emit, writes=["frame_ver", "frame_dirty", "ver", "hb", "pc"],
             kind="write", where=where)

    def end_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, "write.end")

    def end(ops: Ops, s: Read, a: Args, w: Write) -> None:
        put(ops, w, frames_of(k, k.flock), s[k.rp[a.c]], ops.const(0))
        w[k.rp[a.c]] = ops.const(k.no_frame)
        w[k.ro[a.c]] = ops.const(0)
        goto(k, ops, w, a.c, "write.v11" if v11 else "user")

    def end_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
        return [Event(events.WRITE_END, ops.const(True), {"obj": s[k.ro[a.c]], "frame": s[k.rp[a.c]]})]

    b.action("write.end", path=PATH, step="write_end: folio dirty, folio_unlock", params={"c": k.cpus},
             guard=end_guard, effect=end, emit=end_emit, writes=["folio_lock", "reg_frame", "reg_obj", "pc"], kind="write", where=where)

    if v11:
        def v11_guard(ops: Ops, s: Read, a: Args) -> Expr:
            return at(k, ops, s, a.c, "write.v11")

        def v11_flush(ops: Ops, s: Read, a: Args, w: Write) -> None:
            flush_cpus(k, ops, w, luf_all_mask(k, ops, w))
            goto(k, ops, w, a.c, "user")

        b.action("write.v11", path=PATH, step="file_end_write: luf_flush()", params={"c": k.cpus},
                 guard=v11_guard, effect=v11_flush, writes=list(FLUSH_WRITES) + ["pc"], kind="write", where=where)
