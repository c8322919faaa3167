"""Context switches and user-level synchronisation.

* ``switch``: the CPU starts running a task of another mm (entries stay tagged by mm, as
  with PCID); ``finish_task_switch`` of LUF v12 calls ``luf_flush_mm(prev_mm)``; on arm64
  ``__switch_to()``'s ``dsb(ish)`` completes the CPU's TLBIs first.
* ``sync``: a lock release on one CPU and its acquire on another (a pipe, a futex, NFS's
  file lock in scenario L6): the receiver learns every version the sender knows. It only
  moves ghost happens-before knowledge; the kernel state does not change.
"""

from __future__ import annotations

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel.flush import arch_dsb, arch_dsb_writes, luf_flush, luf_flush_events, luf_flush_writes
from lufmodel.kernel.state import Kernel, at
from lufmodel.model import Args, Read, Write
from lufmodel.ops import Expr, Ops


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    v12 = cfg.luf and cfg.point("v12_task_switch")
    if cfg.mms > 1:
        def switch_guard(ops: Ops, s: Read, a: Args) -> Expr:
            return ops.and_(at(k, ops, s, a.c, "user"), ops.not_(ops.eq(s[k.mm[a.c]], ops.const(a.to))))

        def switch(ops: Ops, s: Read, a: Args, w: Write) -> None:
            arch_dsb(k, ops, w, a.c, ops.const(True))  # arm64: __switch_to()'s dsb(ish)
            if v12:
                luf_flush(k, ops, w, mm=s[k.mm[a.c]])
            w[k.mm[a.c]] = ops.const(a.to)
            w[k.mmcpus[a.to, a.c]] = ops.const(True)

        b.action("switch", path="context_switch",
                 step="switch to a task of another mm" + ("; finish_task_switch: luf_flush_mm(prev)" if v12 else ""),
                 params={"c": k.cpus, "to": k.mms}, guard=switch_guard, effect=switch,
                 emit=(lambda ops, s, a: luf_flush_events(k, ops, s, mm=s[k.mm[a.c]])) if v12 else None,
                 writes=["cpu_mm", "mm_cpumask"] + (luf_flush_writes(k) if v12 else []) + arch_dsb_writes(k), kind="switch",
                 where=lambda a: cfg.allows(a.c, "switch"))

    def sync_guard(ops: Ops, s: Read, a: Args) -> Expr:
        behind = O.any_(ops, [ops.lt(s[k.hb[a.c, o]], s[k.hb[a.src, o]]) for o in k.all_objs])
        return ops.and_(at(k, ops, s, a.c, "user"), behind)

    def sync(ops: Ops, s: Read, a: Args, w: Write) -> None:
        for o in k.all_objs:
            w[k.hb[a.c, o]] = O.max_(ops, s[k.hb[a.c, o]], s[k.hb[a.src, o]])

    b.action("sync", path="user", step="acquire what another CPU released (happens-before)",
             params={"c": k.cpus, "src": k.cpus}, guard=sync_guard, effect=sync, writes=["hb"], kind="sync",
             where=lambda a: a.c != a.src and cfg.allows(a.c, "sync"))
