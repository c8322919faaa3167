"""What a spec configures in the kernel model: sizes, deferral mode, flush points, events.

Every flush point is its own switch, so a spec removes one by changing one line. A mode
(none, batched, luf-v11, luf-v12) only chooses the default set of switches and whether
reclaim defers flushes at all.
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("none", "batched", "luf-v11", "luf-v12")
LUF_CHECKS = ("pte_write", "pte_dirty")

# VMA protections. A shared file mapping opened read-write has VM_MAYWRITE even when it is
# mapped PROT_READ; mprotect can make only such a VMA writable.
PROT_RO = 0
PROT_RO_MAYWRITE = 1
PROT_RW = 2
PROT_NAMES = {"r": PROT_RO, "r-maywrite": PROT_RO_MAYWRITE, "rw": PROT_RW}

FLUSH_POINTS: dict[str, str] = {
    "unmap_flush": "mode none: ptep_clear_flush() in try_to_unmap_one() flushes each PTE at once",
    "reclaim_batch_flush": "try_to_unmap_flush() at the end of the reclaim batch, before the folios are freed",
    "reclaim_flush_dirty": "try_to_unmap_flush_dirty() before pageout() of a dirty folio",
    "mprotect_batched_pending": "flush_tlb_batched_pending() under the PTL in change_pte_range()",
    "munmap_batched_pending": "flush_tlb_batched_pending() under the PTL in zap_pte_range()",
    "mprotect_tlb_flush": "flush_tlb_range() of the changed PTEs at the end of mprotect",
    "munmap_tlb_flush": "tlb_finish_mmu() flush of the zapped range at the end of munmap",
    "takeoff": "LUF: flush a free page's pending CPUs when it is taken off the free lists",
    "v11_wp_page": "LUF v10/v11: luf_flush() in do_wp_page()",
    "v11_fault_mkwrite": "LUF v11: luf_flush() after update_mmu_tlb() when a fault makes a PTE writable",
    "v11_mmap_write": "LUF v10/v11: luf_flush() in do_mmap() with PROT_WRITE",
    "v11_file_end_write": "LUF v11: luf_flush() in file_end_write()",
    "v12_fault_end_mapping": "LUF v12: luf_flush_mapping() at the end of handle_mm_fault() (VM_SHARED file, VM_WRITE|VM_MAYWRITE or write fault)",
    "v12_fault_end_mm": "LUF v12: luf_flush_mm() at the end of handle_mm_fault() (VM_WRITE|VM_MAYWRITE or write fault)",
    "v12_write_begin": "LUF v12: luf_flush_mapping() after a successful ->write_begin in mapping_write_begin()",
    "v12_munmap_tlb_end_vma": "LUF v12: luf_flush_vma() in tlb_end_vma() on the munmap path",
    "v12_mprotect_tlb_end_vma": "LUF v12: luf_flush_vma() in tlb_end_vma() on the mprotect path",
    "v12_task_switch": "LUF v12: luf_flush_mm(prev_mm) in finish_task_switch()",
}

_VANILLA = frozenset({"mprotect_tlb_flush", "munmap_tlb_flush", "reclaim_flush_dirty"})
_BATCHED = _VANILLA | {"reclaim_batch_flush", "mprotect_batched_pending", "munmap_batched_pending"}
DEFAULT_FLUSH_POINTS: dict[str, frozenset[str]] = {
    "none": _VANILLA | {"unmap_flush"},
    "batched": _BATCHED,
    "luf-v11": _BATCHED | {"takeoff", "v11_wp_page", "v11_fault_mkwrite", "v11_mmap_write", "v11_file_end_write"},
    "luf-v12": _BATCHED
    | {
        "takeoff",
        "v12_fault_end_mapping",
        "v12_fault_end_mm",
        "v12_write_begin",
        "v12_munmap_tlb_end_vma",
        "v12_mprotect_tlb_end_vma",
        "v12_task_switch",
    },
}

EVENT_KINDS: dict[str, str] = {
    "tlb": "hardware TLB fill and eviction",
    "load": "user-mode read through the TLB",
    "store": "user-mode write through the TLB",
    "fault": "page fault (read, write, write-protect)",
    "reclaim": "reclaim of a page-cache folio (shrink_folio_list)",
    "kalloc": "kernel page allocation (slab) and free",
    "write": "buffered write(2) (generic_perform_write)",
    "mprotect": "mprotect to read-only or writable",
    "munmap": "munmap",
    "mmap": "mmap, including MAP_FIXED over a mapped range",
    "switch": "context switch to another mm",
    "sync": "user-level synchronisation between CPUs (lock release/acquire): carries happens-before",
}

DEFAULT_EVENTS = ("tlb", "load", "store", "fault", "reclaim", "kalloc", "write", "mprotect", "munmap")
"""The event kinds a spec without ``[events] enabled`` gets. New kinds are opt-in."""


@dataclass(frozen=True)
class VmaInit:
    """An initial mapping: virtual page ``va`` of ``mm`` maps ``offset`` of ``file``."""

    mm: int
    va: int
    file: int
    offset: int
    prot: int


@dataclass(frozen=True)
class MmapTarget:
    """What an ``mmap`` event may map: a file offset with a protection."""

    file: int
    offset: int
    prot: int


@dataclass(frozen=True)
class Config:
    """The kernel model's configuration, validated by the spec loader."""

    cpus: int
    mms: int
    vpages: int
    files: int
    offsets: int
    frames: int
    versions: int
    mode: str
    flush_points: frozenset[str]
    events: frozenset[str]
    vmas: tuple[VmaInit, ...]
    cpu_mm: tuple[int, ...]
    roles: tuple[frozenset[str] | None, ...]
    mmap_targets: tuple[MmapTarget, ...] = ()
    luf_check: str = "pte_write"
    """What fails LUF eligibility in the rmap walk: a writable PTE (``pte_write``, as the
    reference reads v12's ``can_luf_fail``), or a writable or dirty one (``pte_dirty``, the
    assumption vanilla's ``set_tlb_ubc_flush_pending`` makes for ``tlb_ubc->writable``)."""

    @property
    def objects(self) -> int:
        """File pages, numbered ``file * offsets + offset``."""
        return self.files * self.offsets

    @property
    def luf(self) -> bool:
        return self.mode.startswith("luf")

    def point(self, name: str) -> bool:
        if name not in FLUSH_POINTS:
            raise KeyError(name)
        return name in self.flush_points

    def allows(self, cpu: int, kind: str) -> bool:
        """Whether ``cpu`` may run events of ``kind`` (spec events and per-CPU roles)."""
        if kind not in self.events:
            return False
        role = self.roles[cpu] if cpu < len(self.roles) else None
        return role is None or kind in role
