"""Kernel page allocation (a slab page) and its free: the page reuse of scenario L5.

The allocation shares the take-off steps with the page cache (``pagecache``); then the
kernel writes its own data into the page. A stale user TLB entry that still reaches the
page would read kernel memory (P1).
"""

from __future__ import annotations

from lufmodel.builder import ModelBuilder
from lufmodel.kernel.pagecache import add_alloc_steps
from lufmodel.kernel.state import FREE, KERNEL, Kernel, at, frames_of, goto, put
from lufmodel.model import Args, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "kmalloc"


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    where = lambda a: cfg.allows(a.c, "kalloc")  # noqa: E731
    add_alloc_steps(k, b, prefix="kalloc", path=PATH, kind="kalloc", start="user", then="kalloc.use")

    def use_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, "kalloc.use")

    def use(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p = s[k.rp[a.c]]
        put(ops, w, frames_of(k, k.fst), p, ops.const(KERNEL))
        put(ops, w, frames_of(k, k.fobj), p, ops.const(k.kdata))
        put(ops, w, frames_of(k, k.fver), p, ops.const(0))
        w[k.rp[a.c]] = ops.const(0)
        goto(k, ops, w, a.c, "user")

    b.action("kalloc.use", path=PATH, step="the slab writes kernel data into the page", params={"c": k.cpus},
             guard=use_guard, effect=use, writes=["frame_state", "frame_obj", "frame_ver", "reg_frame", "pc"],
             kind="kalloc", where=where)

    def free_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "user"), ops.eq(s[k.fst[a.p]], ops.const(KERNEL)))

    def free(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.fst[a.p]] = ops.const(FREE)

    b.action("kfree", path="kfree", step="free the kernel page", params={"c": k.cpus, "p": k.frames},
             guard=free_guard, effect=free, writes=["frame_state"], kind="kalloc", where=where)
