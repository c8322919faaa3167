"""The rules and the safety properties behind them (reference §3), each reported on its own.

Rules (``category="rule"``): syntactic proxies a kernel could check.
* ``R1``: a LUF'd PTE is not rewritten (set_pte, pte_mkwrite) before a luf_flush() of
  every CPU it was deferred for — Dave Hansen's rule 1, literally.
* ``R2``: a LUF'd page's position in the page cache is not refilled before that flush —
  rule 2, literally (insertions by filemap_add_folio).
* ``R1_refined``/``R2_refined`` (§3.2): replacing with a read-only, content-identical page
  is allowed; what is reported is a PTE of the object becoming writable, or the object's
  content changing by any path, while a deferred flush for an older page of it is owed.

Safety (``category="safety"``): what must really hold.
* ``P0``: no CPU holds a writable TLB entry to a frame that is not in the page cache.
* ``P1``: no read returns memory that was reused since the TLB entry was filled.
* ``P2_strict``: a read (through a live mapping, no fence syscall in flight) returns the
  mapped object's latest committed version.
* ``P2_causal``: ... a version at least as new as any the reading CPU has seen or been
  told of (its own writes and reads, and ``sync`` from other CPUs).
* ``P3``: no lost write: the latest version is in the page-cache page, or on disk.
* ``P4``: after munmap/mprotect/mmap returns, no access uses the old translation or
  permission.

Non-vacuity (``sometimes``): a flush was deferred, a stale entry served a read, a frame
with a deferred flush was allocated again.
"""

from __future__ import annotations

from typing import Mapping

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel.config import PROT_RW
from lufmodel.kernel.state import FENCE_STEPS, PCACHE, Kernel, pick
from lufmodel.model import EventPred, Read
from lufmodel.ops import Expr, Ops

RULES = ("R1", "R2", "R1_refined", "R2_refined")
SAFETY = ("P0", "P1", "P2_strict", "P2_causal", "P3", "P4")
REACH = ("luf_deferred", "stale_read", "luf_page_reused")
LUF_ONLY = ("luf_deferred", "luf_page_reused")


def _owed(k: Kernel, ops: Ops, s: Read, rec: list[list[Expr]], index: Expr) -> Expr:
    """Some CPU still owes the flush recorded at ``rec[index]`` (a symbolic index)."""
    return O.any_(ops, [pick(ops, index, [row[c] for row in rec]) for c in k.cpus])


def _in_flight(k: Kernel, ops: Ops, s: Read, mm: Expr, va: Expr) -> Expr:
    """An mprotect/munmap/mmap of (mm, va) has started on some CPU and not returned."""
    out = []
    for c in k.cpus:
        at_fence = O.any_(ops, [ops.eq(s[k.pc[c]], ops.const(k.pcs[name])) for name in FENCE_STEPS])
        out.append(ops.and_(at_fence, ops.eq(s[k.mm[c]], mm), ops.eq(s[k.rv[c]], va)))
    return O.any_(ops, out)


def add(k: Kernel, b: ModelBuilder) -> None:
    rec2 = [[k.rec2[o, c] for c in k.cpus] for o in k.objs]

    def r1(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        owed = []
        for m in k.mms:
            for v in k.vas:
                here = ops.and_(ops.eq(e["mm"], ops.const(m)), ops.eq(e["va"], ops.const(v)))
                owed.append(ops.and_(here, O.any_(ops, [s[k.rec1[m, v, c]] for c in k.cpus])))
        return ops.not_(O.any_(ops, owed))

    b.always_on("R1", "a LUF'd PTE is not rewritten until after a luf_flush() (Dave Hansen's rule 1)",
                "set_pte", r1, category="rule")

    def r2(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        return ops.not_(_owed(k, ops, s, [[s[v] for v in row] for row in rec2], e["obj"]))

    b.always_on("R2", "a LUF'd page's position in the page cache is not replaced until after a luf_flush() (rule 2)",
                "slot_insert", r2, category="rule")

    def r1r(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        return O.implies(ops, e["writable"], r2(ops, s, e))

    b.always_on("R1_refined", "no PTE of an object becomes writable while a deferred flush for an older page of it is owed",
                "set_pte", r1r, category="rule")
    b.always_on("R2_refined", "an object's content does not change while a deferred flush for an older page of it is owed",
                "content_change", r2, category="rule")

    def p0(ops: Ops, s: Read) -> Expr:
        ok = []
        for c in k.cpus:
            for m in k.mms:
                for v in k.vas:
                    t = s[k.tlb[c, m, v]]
                    for p in k.frames:
                        bad = ops.and_(ops.eq(t, ops.const(p + 1)), s[k.tlbw[c, m, v]],
                                       ops.not_(ops.eq(s[k.fst[p]], ops.const(PCACHE))))
                        ok.append(ops.not_(bad))
        return O.all_(ops, ok)

    b.always("P0", "no CPU holds a writable TLB entry to a page that is free, isolated or reused", p0)

    def live(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        mapped = ops.not_(ops.eq(e["vma"], ops.const(0)))
        return ops.and_(mapped, ops.not_(_in_flight(k, ops, s, e["mm"], e["va"])))

    def is_read(ops: Ops, e: Mapping[str, Expr]) -> Expr:
        return ops.not_(e["write"])

    def p1(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        return O.implies(ops, is_read(ops, e), ops.eq(e["content_obj"], e["tag"]))

    b.always_on("P1", "no read through a TLB entry returns memory reused since the entry was filled", "access", p1)

    def p2(knowledge: str) -> EventPred:
        def pred(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
            vobj = ops.sub(e["vma"], ops.const(1))
            if knowledge == "strict":
                need = pick(ops, vobj, [s[k.ver[o]] for o in k.objs])
            else:
                need = pick(ops, vobj, [pick(ops, e["cpu"], [s[k.hb[c, o]] for c in k.cpus]) for o in k.objs])
            fresh = ops.and_(ops.eq(e["content_obj"], vobj), O.le(ops, need, e["content_ver"]))
            return O.implies(ops, ops.and_(is_read(ops, e), live(ops, s, e)), fresh)
        return pred

    b.always_on("P2_strict", "a read returns the mapped object's latest committed version", "access",
                p2("strict"))
    b.always_on("P2_causal", "a read returns a version at least as new as any the reader has seen or been told of",
                "access", p2("causal"))

    def p3(ops: Ops, s: Read) -> Expr:
        ok = []
        for o in k.objs:
            sv = s[k.slot[o]]
            ok.append(O.implies(ops, ops.eq(sv, ops.const(0)), ops.eq(s[k.disk[o]], s[k.ver[o]])))
            for p in k.frames:
                ok.append(O.implies(ops, ops.eq(sv, ops.const(p + 1)), ops.eq(s[k.fver[p]], s[k.ver[o]])))
        return O.all_(ops, ok)

    b.always("P3", "no lost write: an object's latest version is in its page-cache page, or on disk", p3)

    def p4(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        vobj = ops.sub(e["vma"], ops.const(1))
        same = ops.and_(ops.not_(ops.eq(e["vma"], ops.const(0))), ops.eq(e["tag"], vobj))
        allowed = ops.or_(ops.not_(e["write"]), ops.eq(e["prot"], ops.const(PROT_RW)))
        return O.implies(ops, ops.not_(_in_flight(k, ops, s, e["mm"], e["va"])), ops.and_(same, allowed))

    b.always_on("P4", "after munmap/mprotect/mmap returns, no access uses the old translation or permission", "access", p4)

    b.sometimes_on("luf_deferred", "reclaim deferred a TLB flush (LUF)", "luf_defer", lambda ops, s, e: ops.const(True))
    b.sometimes_on("stale_read", "a read was served by a stale TLB entry", "access",
                   lambda ops, s, e: ops.and_(is_read(ops, e), e["stale"]))
    b.sometimes_on("luf_page_reused", "a page with a deferred flush was allocated again", "alloc",
                   lambda ops, s, e: e["luf"])
