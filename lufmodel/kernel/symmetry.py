"""Page frames are interchangeable: how each variable family moves when frames are renamed.

Every frame starts free and holding nothing, and every path picks "any free frame", so
renaming frames maps reachable states to reachable states, and every frame may be renamed:
the frame registers (``reg_frame``, ``reg_dst``) hold ``Kernel.no_frame`` (one past the last
frame), not frame 0, while they hold no frame. With F frames the F! renamings are used. The
native explorer's ``--symmetry`` stores one representative per renaming class; a test checks
on sampled reachable states that every renaming commutes with every step of the reference
interpreter.

A family missing from both tables disables the reduction (``frame_symmetry`` returns None
and says which), so a new variable cannot silently break it; a test checks that every
family of every spec is classified.
"""

from __future__ import annotations

from typing import Iterable

from lufmodel.kernel.config import Config
from lufmodel.model import CPU_SORT, ItemSort, Symmetry

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
"""Families whose value is a frame number plus this offset. Values outside
offset .. offset + frames - 1 are not frames and stay (0 for ``pte``; ``no_frame`` for the
registers)."""

FRAME_FREE = frozenset({
    "can_luf", "cpu_mm", "disk", "dontneed_owed", "dontneed_stale", "hb", "invalidate_lock",
    "lb_cpus", "lb_ugen", "luf_kgen", "luf_ugen", "map_lb", "map_lb_ugen", "mapping_luf",
    "mm_cpumask", "mm_flush_batched", "mm_lb", "mm_lb_ugen", "mm_luf", "mmap_lock", "pc",
    "pte_dirty", "pte_w", "r1_record", "r2_record", "reg_kind", "reg_obj", "reg_target",
    "reg_ugen", "reg_va", "tlb_flush_pending", "tlb_inv", "tlb_tag", "tlb_ubc", "tlb_ubc_luf",
    "tlb_ubc_writable", "tlb_w", "ugen_done", "unmapped", "ver", "vma", "vma_anon", "vma_prot",
})
"""Families with no frame in their index or value."""


CPU_INDEXED: dict[str, tuple[int, ...]] = {
    "can_luf": (0,), "cpu_mm": (0,), "dontneed_owed": (0, 3), "dontneed_stale": (0,),
    "frame_luf": (1,), "hb": (0,), "lb_cpus": (1,), "map_lb": (1,), "mapping_luf": (1,),
    "mm_cpumask": (1,), "mm_lb": (1,), "mm_luf": (1,), "pc": (0,), "r1_record": (2,),
    "r2_record": (1,), "reg_dst": (0,), "reg_frame": (0,), "reg_kind": (0,), "reg_obj": (0,),
    "reg_target": (0,), "reg_ugen": (0,), "reg_va": (0,), "tlb": (0,), "tlb_inv": (0, 3),
    "tlb_tag": (0,), "tlb_ubc": (0, 1), "tlb_ubc_luf": (0, 1), "tlb_ubc_writable": (0,),
    "tlb_w": (0,), "ugen_done": (0,), "unmapped": (0,),
}
"""Families indexed by CPU (the listed index positions)."""

CPU_VALUED: dict[str, int] = {"folio_lock": 1}
"""Families whose value is a CPU number plus this offset (``folio_lock``: 0 is unlocked)."""

CPU_FREE = frozenset({
    "disk", "frame_dirty", "frame_key", "frame_obj", "frame_state", "frame_ver",
    "frame_writeback", "gather_refs", "invalidate_lock", "lb_ugen", "luf_kgen", "luf_ugen",
    "map_lb_ugen", "mm_flush_batched", "mm_lb_ugen", "mmap_lock", "pin_refs", "pte",
    "pte_dirty", "pte_migration", "pte_w", "slot", "tlb_flush_pending", "ver", "vma",
    "vma_anon", "vma_prot",
})
"""Families with no CPU in their index or value (``mmap_lock``, ``gather_refs``,
``pin_refs`` and ``tlb_flush_pending`` count CPUs; they do not name one)."""


def unclassified(families: Iterable[str]) -> list[str]:
    """Families this module does not know for frames: with any of them, no frame symmetry."""
    return sorted(f for f in set(families) if f not in FRAME_INDEXED and f not in FRAME_VALUED and f not in FRAME_FREE)


def cpu_unclassified(families: Iterable[str]) -> list[str]:
    """Families this module does not know for CPUs: with any of them, no CPU symmetry."""
    return sorted(f for f in set(families) if f not in CPU_INDEXED and f not in CPU_VALUED and f not in CPU_FREE)


def cpu_classes(cfg: Config) -> tuple[tuple[int, ...], ...]:
    """CPUs with the same role: the same mm and the same allowed event kinds."""
    groups: dict[tuple[int, frozenset[str]], list[int]] = {}
    for c in range(cfg.cpus):
        kinds = frozenset(kind for kind in cfg.events if cfg.allows(c, kind))
        groups.setdefault((cfg.cpu_mm[c], kinds), []).append(c)
    return tuple(tuple(g) for g in sorted(groups.values()))


def kernel_symmetry(families: Iterable[str], cfg: Config) -> Symmetry | None:
    """The symmetry of a kernel model with these variable families: its frames (all of
    them), and its CPUs within each role; None if neither applies. A sort with an
    unclassified family is left out."""
    fams = set(families)
    sorts: list[ItemSort] = []
    if not unclassified(fams) and cfg.frames >= 2:
        sorts.append(ItemSort(
            name="frame", items=cfg.frames, classes=(tuple(range(cfg.frames)),),
            index_dims=tuple(sorted((f, d) for f, d in FRAME_INDEXED.items() if f in fams)),
            value_offset=tuple(sorted((f, o) for f, o in FRAME_VALUED.items() if f in fams)),
        ))
    classes = cpu_classes(cfg)
    if not cpu_unclassified(fams) and any(len(cls) > 1 for cls in classes):
        sorts.append(ItemSort(
            name=CPU_SORT, items=cfg.cpus, classes=classes,
            index_dims=tuple(sorted((f, d) for f, d in CPU_INDEXED.items() if f in fams)),
            value_offset=tuple(sorted((f, o) for f, o in CPU_VALUED.items() if f in fams)),
        ))
    return Symmetry(tuple(sorts)) if sorts else None
