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
* ``P4``: after munmap/mprotect/mmap/mremap returns, no access uses the old translation or
  permission; after a MADV_DONTNEED returns, no access uses a translation that call had to
  remove (kernel/madvise.py).

* ``P5`` (bookkeeping ``v12`` only): whenever LUF v12's bookkeeping concludes that a CPU
  needs no flush — for a page leaving the free lists (take-off), or for an mm or a file
  (``luf_flush_mm``/``luf_flush_mapping``/``luf_flush_vma``) — that CPU holds no TLB entry
  in that scope whose deferred flush is still owed (stale, and its ghost R1 record set).
* ``P6`` (arm64 only): no page leaves the free lists while a CPU can still use a TLB entry
  to it whose invalidation was issued but not completed by the issuer's DSB.

Non-vacuity (``sometimes``): a flush was deferred, a stale entry served a read, a frame
with a deferred flush was allocated again; with v12's bookkeeping, a ugen saved a flush.
"""

from __future__ import annotations

from typing import Mapping

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder
from lufmodel.kernel.config import PROT_PRIVATE_RW, PROT_RW
from lufmodel.kernel import arm64
from lufmodel.kernel.lufbatch import KEY_REUSE, LUF_SKIP, SCOPE_FRAME, SCOPE_MAPPING, SCOPE_MM
from lufmodel.kernel.state import ANON, FENCE_STEPS, PCACHE, Kernel, pick
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
    """An mprotect/munmap/mmap/mremap of (mm, va) has started on some CPU and not returned."""
    out = []
    for c in k.cpus:
        at_fence = O.any_(ops, [ops.eq(s[k.pc[c]], ops.const(k.pcs[name])) for name in FENCE_STEPS if name in k.pcs])
        out.append(ops.and_(at_fence, ops.eq(s[k.mm[c]], mm), ops.eq(s[k.rv[c]], va)))
    return O.any_(ops, out)


def add(k: Kernel, b: ModelBuilder) -> None:
    rec2 = [[k.rec2[o, c] for c in k.cpus] for o in k.objs]
    # Anonymous memory (kernel/cow.py): an anonymous object's "older page" is the page its
    # (mm, va) mapped before the COW, so its deferred flush is that PTE's R1 record. A
    # set_pte event right after a ptep_clear_flush in the same PTL section carries
    # ``discharged``: that flush already discharged the PTE's records (events see the
    # pre-state).
    private = k.cfg.private

    def owed_obj(ops: Ops, s: Read, obj: Expr) -> Expr:
        file = _owed(k, ops, s, [[s[v] for v in row] for row in rec2], obj)
        if not private:
            return file
        anon = [ops.and_(ops.eq(obj, ops.const(k.anon_obj(m, v))), O.any_(ops, [s[k.rec1[m, v, c]] for c in k.cpus]))
                for m in k.mms for v in k.vas]
        return ops.or_(ops.and_(ops.lt(obj, ops.const(k.cfg.objects)), file), O.any_(ops, anon))

    def r1(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        owed = []
        for m in k.mms:
            for v in k.vas:
                here = ops.and_(ops.eq(e["mm"], ops.const(m)), ops.eq(e["va"], ops.const(v)))
                owed.append(ops.and_(here, O.any_(ops, [s[k.rec1[m, v, c]] for c in k.cpus])))
        if "discharged" in e:
            return ops.or_(e["discharged"], ops.not_(O.any_(ops, owed)))
        return ops.not_(O.any_(ops, owed))

    b.always_on("R1", "a LUF'd PTE is not rewritten until after a luf_flush() (Dave Hansen's rule 1)",
                "set_pte", r1, category="rule")

    def r2(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        return ops.not_(owed_obj(ops, s, e["obj"]))

    b.always_on("R2", "a LUF'd page's position in the page cache is not replaced until after a luf_flush() (rule 2)",
                "slot_insert", r2, category="rule")

    def r1r(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        if "discharged" in e:
            return O.implies(ops, e["writable"], ops.or_(e["discharged"], r2(ops, s, e)))
        return O.implies(ops, e["writable"], r2(ops, s, e))

    b.always_on("R1_refined", "no PTE of an object becomes writable while a deferred flush for an older page of it is owed",
                "set_pte", r1r, category="rule")
    def r2r(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        if "discharged" in e:
            return ops.or_(e["discharged"], r2(ops, s, e))
        return r2(ops, s, e)

    b.always_on("R2_refined", "an object's content does not change while a deferred flush for an older page of it is owed",
                "content_change", r2r, category="rule")

    # With writeback modelled, a page handed to I/O is covered too: a writable entry to a
    # clean folio lets a store bypass dirty tracking (d950c9477d51, folio_mkclean's flush).
    io = "writeback" in k.cfg.events

    def p0(ops: Ops, s: Read) -> Expr:
        ok = []
        for c in k.cpus:
            for m in k.mms:
                for v in k.vas:
                    t = s[k.tlb[c, m, v]]
                    for p in k.frames:
                        fine = ops.eq(s[k.fst[p]], ops.const(PCACHE))
                        if io:
                            fine = ops.and_(fine, s[k.fdirty[p]])
                        if private:  # a COW copy is mapped writable
                            fine = ops.or_(fine, ops.eq(s[k.fst[p]], ops.const(ANON)))
                        bad = ops.and_(ops.eq(t, ops.const(p + 1)), s[k.tlbw[c, m, v]], ops.not_(fine))
                        ok.append(ops.not_(bad))
        return O.all_(ops, ok)

    b.always("P0", "no CPU holds a writable TLB entry to a page that is free, isolated or reused"
             + (", or to a clean folio (written back: its stores would be lost)" if io else ""), p0)

    def live(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        mapped = ops.not_(ops.eq(e["vma"], ops.const(0)))
        return ops.and_(mapped, ops.not_(_in_flight(k, ops, s, e["mm"], e["va"])))

    def is_read(ops: Ops, e: Mapping[str, Expr]) -> Expr:
        return ops.not_(e["write"])

    def p1(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        return O.implies(ops, is_read(ops, e), ops.eq(e["content_obj"], e["tag"]))

    b.always_on("P1", "no read through a TLB entry returns memory reused since the entry was filled", "access", p1)

    def mapped(ops: Ops, s: Read, e: Mapping[str, Expr]) -> tuple[Expr, Expr]:
        """The object the access's (mm, va) maps (its anonymous object once COW'd, else the
        VMA's file page), and whether it is COW'd."""
        vobj = ops.sub(e["vma"], ops.const(1))
        if not private:
            return vobj, ops.const(False)
        cowed = []
        for m in k.mms:
            for v in k.vas:
                hit = ops.and_(ops.eq(e["mm"], ops.const(m)), ops.eq(e["va"], ops.const(v)), s[k.vanon[m, v]])
                vobj = ops.ite(hit, ops.const(k.anon_obj(m, v)), vobj)
                cowed.append(hit)
        return vobj, O.any_(ops, cowed)

    def p2(knowledge: str) -> EventPred:
        def pred(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
            vobj, cowed = mapped(ops, s, e)
            if knowledge == "strict":
                need = pick(ops, vobj, [s[k.ver[o]] for o in k.all_objs])
            else:
                need = pick(ops, vobj, [pick(ops, e["cpu"], [s[k.hb[c, o]] for c in k.cpus]) for o in k.all_objs])
            fresh = ops.and_(ops.eq(e["content_obj"], vobj), O.le(ops, need, e["content_ver"]))
            if private:
                # Version 0 of an anonymous object, a COW copy not written since, reads the
                # same as the file page it was copied from (version 0: the spec loader keeps
                # a file with private mappings unchanged).
                copy = ops.and_(cowed, ops.eq(need, ops.const(0)), ops.eq(e["content_obj"], ops.sub(e["vma"], ops.const(1))),
                                ops.eq(e["content_ver"], ops.const(0)))
                fresh = ops.or_(fresh, copy)
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
                fresh = ops.eq(s[k.fver[p]], s[k.ver[o]])
                if remote:
                    # A remote change (kernel/remote.py) leaves the local copy stale until it is
                    # invalidated: the write is on disk, not lost (reference P3: in cur(O) or on disk).
                    fresh = ops.or_(fresh, ops.eq(s[k.disk[o]], s[k.ver[o]]))
                ok.append(O.implies(ops, ops.eq(sv, ops.const(p + 1)), fresh))
        if private:  # a COW'd page: the latest version is in the anonymous page its PTE maps
            for m in k.mms:
                for v in k.vas:
                    for p in k.frames:
                        here = ops.and_(s[k.vanon[m, v]], ops.eq(s[k.pte[m, v]], ops.const(p + 1)))
                        ok.append(O.implies(ops, here, ops.eq(s[k.fver[p]], s[k.ver[k.anon_obj(m, v)]])))
        return O.all_(ops, ok)

    remote = "remote" in k.cfg.events

    b.always("P3", "no lost write: an object's latest version is in its page-cache page, or on disk", p3)

    def p4(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        vobj = ops.sub(e["vma"], ops.const(1))
        same = ops.and_(ops.not_(ops.eq(e["vma"], ops.const(0))), ops.eq(e["tag"], vobj))
        allowed = ops.or_(ops.not_(e["write"]), ops.eq(e["prot"], ops.const(PROT_RW)))
        if private:  # a translation of this VMA: its file page or, once COW'd, its anonymous page
            same = ops.or_(same, ops.and_(ops.not_(ops.eq(e["vma"], ops.const(0))), ops.eq(e["tag"], mapped(ops, s, e)[0])))
            allowed = ops.or_(allowed, ops.eq(e["prot"], ops.const(PROT_PRIVATE_RW)))
        ok = O.implies(ops, ops.not_(_in_flight(k, ops, s, e["mm"], e["va"])), ops.and_(same, allowed))
        if dontneed:
            # A translation MADV_DONTNEED zapped, still cached after that call returned.
            zapped = [ops.and_(ops.eq(e["cpu"], ops.const(c)), ops.eq(e["mm"], ops.const(m)),
                               ops.eq(e["va"], ops.const(v)), s[k.dnstale[c, m, v]])
                      for c in k.cpus for m in k.mms for v in k.vas]
            ok = ops.and_(ok, ops.not_(O.any_(ops, zapped)))
        return ok

    dontneed = "madvise" in k.cfg.events
    fences = "munmap/mprotect/mmap" + ("/mremap" if "mremap" in k.cfg.events else "") + ("/madvise(DONTNEED)" if dontneed else "")
    b.always_on("P4", f"after {fences} returns, no access uses the old translation or permission", "access", p4)

    b.sometimes_on("luf_deferred", "reclaim deferred a TLB flush (LUF)", "luf_defer", lambda ops, s, e: ops.const(True))
    b.sometimes_on("stale_read", "a read was served by a stale TLB entry", "access",
                   lambda ops, s, e: ops.and_(is_read(ops, e), e["stale"]))
    b.sometimes_on("luf_page_reused", "a page with a deferred flush was allocated again", "alloc",
                   lambda ops, s, e: e["luf"])
    if k.cfg.real_book:
        add_p5(k, b)
    if k.cfg.arm64:
        add_p6(k, b)


def luf_stale(k: Kernel, ops: Ops, s: Read, c: int, m: int, v: int) -> Expr:
    """CPU ``c`` holds a TLB entry for (``m``, ``v``) whose deferred flush is still owed: the
    entry is stale (its PTE no longer maps that page) and the PTE's clear was LUF-deferred
    for ``c`` with no flush of ``c`` since (the ghost R1 record, which stays ideal)."""
    t = s[k.tlb[c, m, v]]
    return ops.and_(ops.not_(ops.eq(t, ops.const(0))), ops.not_(ops.eq(t, s[k.pte[m, v]])), s[k.rec1[m, v, c]])


def add_p5(k: Kernel, b: ModelBuilder) -> None:
    """P5, flush bookkeeping soundness (LUF v12's bookkeeping, kernel/lufbatch.py)."""

    def p5(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        bad = []
        for c in k.cpus:
            for m in k.mms:
                for v in k.vas:
                    t = s[k.tlb[c, m, v]]
                    tag = s[k.tlbo[c, m, v]]
                    in_scope = ops.or_(
                        ops.and_(ops.eq(e["scope"], ops.const(SCOPE_FRAME)), ops.eq(t, ops.add(e["index"], ops.const(1)))),
                        ops.and_(ops.eq(e["scope"], ops.const(SCOPE_MM)), ops.eq(e["index"], ops.const(m))),
                        ops.and_(ops.eq(e["scope"], ops.const(SCOPE_MAPPING)),
                                 O.any_(ops, [ops.and_(ops.eq(tag, ops.const(o)), ops.eq(e["index"], ops.const(k.file_of(o))))
                                              for o in k.objs])),
                    )
                    flushed_here = ops.and_(ops.eq(e["range_mm"], ops.const(m)), ops.eq(e["range_va1"], ops.const(v + 1)))
                    bad.append(ops.and_(ops.eq(e["cpu"], ops.const(c)), in_scope, ops.not_(flushed_here),
                                        luf_stale(k, ops, s, c, m, v)))
        return ops.not_(O.any_(ops, bad))

    b.always_on("P5", "when the flush bookkeeping concludes a CPU needs no flush for a page leaving the free lists, "
                "an mm or a file, that CPU holds no TLB entry of it whose deferred flush is still owed", LUF_SKIP, p5)
    b.sometimes_on("ugen_saved_flush", "the ugen bookkeeping left a CPU of a LUF batch unflushed (it was marked done)",
                   LUF_SKIP, lambda ops, s, e: e["dieted"])
    b.sometimes_on("luf_key_folded", "a free page's luf_key was handed out again, folding two batches into one",
                   KEY_REUSE, lambda ops, s, e: ops.const(True))


def add_p6(k: Kernel, b: ModelBuilder) -> None:
    """P6, arch completion (arm64, kernel/arm64.py)."""

    def p6(ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
        bad = []
        for c in k.cpus:
            for m in k.mms:
                for v in k.vas:
                    to_it = ops.eq(s[k.tlb[c, m, v]], ops.add(e["frame"], ops.const(1)))
                    bad.append(ops.and_(to_it, arm64.incomplete(k, ops, s, c, m, v)))
        return ops.not_(O.any_(ops, bad))

    b.always_on("P6", "no page leaves the free lists while a CPU can still use a TLB entry to it whose "
                "invalidation was issued but not completed by the issuing CPU's DSB", "alloc", p6)
