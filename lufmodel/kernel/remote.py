"""Remote content change (reference §2 row 24, scenarios L6 and L7): a file page changes on
the server (NFS, FUSE) or on a shared block device (NBD) with no local write.

* ``remote``: a remote client writes the page and releases its lock. The backing store and
  the committed version advance; nothing local runs (the CPU is only a stand-in for the
  other host: its state does not change), so LUF's flush points never see it.
* ``filelock``: the local task takes the file lock the remote writer released: it learns
  every version committed to the file (happens-before, as ``sync`` does). With
  ``[remote] revalidate`` (NFS, the default), ``do_setlk`` then revalidates the page cache
  before the lock returns: ``invalidate_inode_pages2`` of the file if some VMA maps it
  (``nfs_revalidate_mapping``; kernel/truncate.py). Without it (FUSE without notify-inval, a
  filesystem on a network block device): nothing else happens (L7).

With no local copy cached, a read after the lock faults and reads the new version; a page
kept in the page cache, or a stale TLB entry, serves the old one unless the invalidation
(and v12's flush at its end, also for an empty mapping: L6) removes it.
"""

from __future__ import annotations

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel.state import Kernel, at
from lufmodel.kernel.truncate import INVALIDATE_START_WRITES, begin_invalidate
from lufmodel.model import Args, Event, Read, Write
from lufmodel.ops import Expr, Ops


def add(k: Kernel, b: ModelBuilder) -> None:
    cfg = k.cfg
    top = cfg.versions
    if "remote" in cfg.events:
        def remote_guard(ops: Ops, s: Read, a: Args) -> Expr:
            return ops.and_(at(k, ops, s, a.c, "user"), ops.lt(s[k.ver[a.o]], ops.const(top)))

        def remote(ops: Ops, s: Read, a: Args, w: Write) -> None:
            nv = ops.add(s[k.ver[a.o]], ops.const(1))
            w[k.disk[a.o]] = nv
            w[k.ver[a.o]] = nv

        def remote_emit(ops: Ops, s: Read, a: Args) -> list[Event]:
            return [Event("content_change", ops.const(True), {"obj": ops.const(a.o)})]

        b.action("remote", path="remote client", step="another host writes the page on the server and unlocks (a new version, no local write)",
                 params={"c": k.cpus, "o": k.objs}, guard=remote_guard, effect=remote, emit=remote_emit,
                 writes=["disk", "ver"], kind="remote", where=lambda a: cfg.allows(a.c, "remote"))

    if "filelock" in cfg.events:
        revalidate = cfg.remote_revalidate

        def lock_guard(ops: Ops, s: Read, a: Args) -> Expr:
            return at(k, ops, s, a.c, "user")

        def lock(ops: Ops, s: Read, a: Args, w: Write) -> None:
            objs = [x for x in k.objs if k.file_of(x) == a.f]
            for x in objs:
                w[k.hb[a.c, x]] = O.max_(ops, s[k.hb[a.c, x]], s[k.ver[x]])
            if revalidate:
                mapped = O.any_(ops, [O.is_in(ops, s[k.vma[m, v]], [x + 1 for x in objs]) for m in k.mms for v in k.vas])
                begin_invalidate(k, ops, s, w, a.c, a.f, mapped)

        empty = "v12: goto out, the flush" if cfg.luf and cfg.point("v12_invalidate_flush") and cfg.point("v12_invalidate_empty_flush") else "return"
        what = (f"; NFS do_setlk: if the file is mapped, invalidate_inode_pages2 (an empty mapping: {empty})" if revalidate
                else "; no revalidation (FUSE, network block device)")
        b.action("filelock", path="fcntl(F_SETLKW)", step="take the file lock the remote writer released (happens-before)" + what,
                 params={"c": k.cpus, "f": range(cfg.files)}, guard=lock_guard, effect=lock,
                 writes=["hb"] + (INVALIDATE_START_WRITES if revalidate else []), kind="filelock",
                 where=lambda a: cfg.allows(a.c, "filelock"))
