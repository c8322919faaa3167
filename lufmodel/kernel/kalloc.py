"""Kernel page allocation (a slab page) and its free: the page reuse of scenario L5.

The allocation shares the take-off steps with the page cache (``pagecache``); then the
kernel writes its own data into the page. A stale user TLB entry that still reaches the page
would read kernel memory (P1). ``kalloc_atomic`` allocates where the kernel cannot send IPIs
(LUF v12's ``no_shootdown_context()``), so its take-off cannot flush.
"""

from __future__ import annotations

from lufmodel.builder import ModelBuilder
from lufmodel.kernel import events
from lufmodel.kernel.pagecache import add_alloc_steps
from lufmodel.kernel.state import FREE, KERNEL, Kernel, at, frames_of, goto, put
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops

PATH = "kmalloc"


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    add_kalloc(k, b, "kalloc", shootdown=True)
    if "kalloc_atomic" in cfg.events:
        add_kalloc(k, b, "kalloc_atomic", shootdown=False)
    where = lambda a: cfg.allows(a.c, "kalloc") or cfg.allows(a.c, "kalloc_atomic")  # noqa: E731

    def free_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return ops.and_(at(k, ops, s, a.c, "user"), ops.eq(s[k.fst[a.p]], ops.const(KERNEL)))

    def free(ops: Ops, s: Read, a: Args, w: Write) -> None:
        w[k.fst[a.p]] = ops.const(FREE)

    b.action("kfree", path="kfree", step="free the kernel page", params={"c": k.cpus, "p": k.frames},
             guard=free_guard, effect=free, writes=["frame_state"], kind="kalloc", where=where)


def add_kalloc(k: Kernel, b: ModelBuilder, kind: str, *, shootdown: bool) -> None:
    """A slab allocation of kind ``kind``: ``kalloc`` from task context, or ``kalloc_atomic``
    (GFP_ATOMIC with interrupts disabled) where ``no_shootdown_context()`` holds."""
    cfg = k.cfg
    where = lambda a: cfg.allows(a.c, kind)  # noqa: E731
    path = PATH if shootdown else PATH + " (GFP_ATOMIC, irqs disabled)"
    add_alloc_steps(k, b, prefix=kind, path=path, kind=kind, start="user", then=f"{kind}.use", shootdown=shootdown)

    def use_guard(ops: Ops, s: Read, a: Args) -> Expr:
        return at(k, ops, s, a.c, f"{kind}.use")

    def use(ops: Ops, s: Read, a: Args, w: Write) -> None:
        p = s[k.rp[a.c]]
        put(ops, w, frames_of(k, k.fst), p, ops.const(KERNEL))
        put(ops, w, frames_of(k, k.fobj), p, ops.const(k.kdata))
        put(ops, w, frames_of(k, k.fver), p, ops.const(0))
        w[k.rp[a.c]] = ops.const(k.no_frame)
        goto(k, ops, w, a.c, "user")

    b.action(f"{kind}.use", path=path, step="the slab writes kernel data into the page", params={"c": k.cpus},
             guard=use_guard, effect=use, emit=lambda ops, s, a: [Event(events.KMAP, ops.const(True), {"frame": s[k.rp[a.c]]})],
             writes=["frame_state", "frame_obj", "frame_ver", "reg_frame", "pc"],
             kind=kind, where=where)
