"""Anonymous memory: what the COW fault, uprobes and KSM paths share.

A MAP_PRIVATE file page becomes anonymous when it is first written (``wp_page_copy`` or
``do_cow_fault``) or when uprobes installs a breakpoint in it: from then on (mm, va) maps
its *anonymous object* (``Kernel.anon_obj``; ``vma_anon`` says which pages are COW'd), held
by a frame in state ``anon`` (or ``ksm`` after a KSM merge). The model has no fork, so each
anonymous folio is mapped by the one (mm, va) its object belongs to, and no swap: anonymous
pages are not reclaimed (reclaim only takes page-cache folios).
"""

from __future__ import annotations

from lufmodel import ops as O
from lufmodel.kernel.state import ANON, FREE, KSM, Kernel, WriteView, extra_refs, pick
from lufmodel.model import Read, Write
from lufmodel.ops import Expr, Ops


def anon_obj_at(k: Kernel, ops: Ops, m: int, v: Expr) -> Expr:
    """The anonymous object of (mm ``m``, va ``v``) for a symbolic ``v``."""
    return ops.add(ops.const(k.anon_obj(m, 0)), v)


def pte_at(k: Kernel, ops: Ops, s: Read, m: int, v: Expr) -> tuple[Expr, Expr, Expr]:
    """The PTE of (mm ``m``, va ``v``): its frame + 1 (0: none), its write and dirty bits."""
    return (
        pick(ops, v, [s[k.pte[m, va]] for va in k.vas]),
        pick(ops, v, [s[k.ptew[m, va]] for va in k.vas]),
        pick(ops, v, [s[k.pted[m, va]] for va in k.vas]),
    )


def release_anon(k: Kernel, ops: Ops, w: Write, frame: Expr, when: Expr) -> None:
    """The last ``folio_put`` of an anonymous or KSM folio: if ``when``, and no PTE maps
    ``frame`` any more and no extra reference holds it, it goes back to the free lists (with
    no deferred flush: every path that unmaps one flushes with ``ptep_clear_flush``).
    Reads what ``w`` has assigned so far; writes ``frame_state``."""
    view = WriteView(w)
    for q in k.frames:
        st = w.get(k.fst[q])
        anon = ops.or_(ops.eq(st, ops.const(ANON)), ops.eq(st, ops.const(KSM)))
        unmapped = O.all_(ops, [ops.not_(ops.eq(w.get(k.pte[m, v]), ops.const(q + 1))) for m in k.mms for v in k.vas])
        unref = ops.not_(extra_refs(k, ops, view, ops.const(q)))
        hit = ops.and_(when, ops.eq(frame, ops.const(q)), anon, unmapped, unref)
        w[k.fst[q]] = ops.ite(hit, ops.const(FREE), st)
