"""Page frames are interchangeable: how each variable family moves when frames are renamed.

Every frame starts free and holding nothing, and every path picks "any free frame", so
renaming frames maps reachable states to reachable states. Frame 0 stays in place: a frame
register (``reg_frame``, ``reg_dst``) holds 0 both for frame 0 and while its CPU runs no
kernel path, and paths reset it to 0, which only a renaming that fixes frame 0 respects.
So with F frames the (F-1)! renamings of frames 1..F-1 are used. The native explorer's
``--symmetry`` stores one representative per renaming class.

A family missing from both tables disables the reduction (``frame_symmetry`` returns None
and says which), so a new variable cannot silently break it; a test checks that every
family of every spec is classified.
"""

from __future__ import annotations

from typing import Iterable

from lufmodel.model import Symmetry

FRAME_INDEXED: dict[str, tuple[int, ...]] = {
    "folio_lock": (0,),
    "frame_dirty": (0,),
    "frame_key": (0,),
    "frame_luf": (0,),
    "frame_obj": (0,),
    "frame_state": (0,),
    "frame_ver": (0,),
    "frame_writeback": (0,),
    "gather_refs": (0,),
    "pin_refs": (0,),
}
"""Families indexed by frame (the listed index positions)."""

FRAME_VALUED: dict[str, int] = {
    "pte": 1,
    "pte_migration": 1,
    "slot": 1,
    "tlb": 1,
    "reg_frame": 0,
    "reg_dst": 0,
}
"""Families whose value is a frame number plus this offset (0: none, with offset 1)."""

FRAME_FREE = frozenset({
    "can_luf", "cpu_mm", "disk", "dontneed_owed", "dontneed_stale", "hb", "invalidate_lock",
    "lb_cpus", "lb_ugen", "luf_kgen", "luf_ugen", "map_lb", "map_lb_ugen", "mapping_luf",
    "mm_cpumask", "mm_flush_batched", "mm_lb", "mm_lb_ugen", "mm_luf", "mmap_lock", "pc",
    "pte_dirty", "pte_w", "r1_record", "r2_record", "reg_kind", "reg_obj", "reg_target",
    "reg_ugen", "reg_va", "tlb_flush_pending", "tlb_inv", "tlb_tag", "tlb_ubc", "tlb_ubc_luf",
    "tlb_ubc_writable", "tlb_w", "ugen_done", "unmapped", "ver", "vma", "vma_anon", "vma_prot",
})
"""Families with no frame in their index or value."""


def unclassified(families: Iterable[str]) -> list[str]:
    """Families this module does not know: with any of them, no frame symmetry."""
    return sorted(f for f in set(families) if f not in FRAME_INDEXED and f not in FRAME_VALUED and f not in FRAME_FREE)


def frame_symmetry(families: Iterable[str], frames: int) -> Symmetry | None:
    """The frame symmetry of a model with these variable families, or None if one is unknown."""
    fams = set(families)
    if unclassified(fams) or frames < 3:
        return None
    return Symmetry(
        items=frames,
        index_dims=tuple(sorted((f, d) for f, d in FRAME_INDEXED.items() if f in fams)),
        value_offset=tuple(sorted((f, o) for f, o in FRAME_VALUED.items() if f in fams)),
        fixed=1,
    )
