"""What a spec configures in the kernel model: sizes, deferral mode, flush points, events.

Every flush point is its own switch, so a spec removes one by changing one line. A mode
(none, batched, luf-v11, luf-v12) only chooses the default set of switches and whether
reclaim defers flushes at all.
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("none", "batched", "luf-v11", "luf-v12")
LUF_CHECKS = ("pte_write", "pte_dirty")
MIGRATE_REASONS = ("compaction", "memory-failure")

# VMA protections. A shared file mapping opened read-write has VM_MAYWRITE even when it is
# mapped PROT_READ; mprotect can make only such a VMA writable.
PROT_RO = 0
PROT_RO_MAYWRITE = 1
PROT_RW = 2
PROT_NAMES = {"r": PROT_RO, "r-maywrite": PROT_RO_MAYWRITE, "rw": PROT_RW}
# MAP_PRIVATE file mappings (kernel/cow.py): read-only text (PROT_READ|PROT_EXEC; VM_MAYWRITE
# is set, VM_WRITE is not: what uprobes patches) and read-write (copy-on-write on a write).
PROT_PRIVATE_RO = 3
PROT_PRIVATE_RW = 4
PRIVATE_PROTS = (PROT_PRIVATE_RO, PROT_PRIVATE_RW)
PROT_NAMES.update({"private-r": PROT_PRIVATE_RO, "private": PROT_PRIVATE_RW})

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
    "mkclean_flush": "folio_mkclean(): ptep_clear_flush() (flush_tlb_page) of each writable or dirty PTE it write-protects",
    "v12_mkclean_flush": "LUF v12: luf_flush_mapping() at the end of folio_mkclean()",
    "zap_dirty_flush": "zap_pte_range(): force_flush of a zapped dirty PTE before the PTL is dropped (5df397dec7c4; modelled with writeback, truncate and invalidate, which observe it)",
    "migrate_unmap_flush": "ptep_clear_flush() in try_to_migrate_one() flushes each PTE at once (mode none, or a MIGRATE_SYNC migration: memory failure)",
    "migrate_batch_flush": "try_to_unmap_flush() in migrate_pages_batch() before the folios are moved (LUF: the non-LUF batch only, after fold_unmap_luf())",
    "v12_migrate_memory_failure": "LUF v12: luf_flush(luf_key) in migrate_folio_done() for MR_MEMORY_FAILURE, whose source page is not freed",
    "mremap_batched_pending": "flush_tlb_batched_pending() under the old and new PTLs in move_ptes()",
    "mremap_tlb_flush": "flush_tlb_range() of the old address in move_ptes() when a present PTE moved, before the PTLs are dropped",
    "madvise_batched_pending": "flush_tlb_batched_pending() under the PTL in zap_pte_range() for MADV_DONTNEED",
    "madvise_tlb_flush": "tlb_end_vma()/tlb_finish_mmu() flush of the range MADV_DONTNEED zapped",
    "madvise_concurrent_force_flush": "tlb_finish_mmu(): flush the whole mm when another mmu_gather of it is in flight (mm_tlb_flush_nested, 99baac21e458); for MADV_DONTNEED, and for munmap and unmap_mapping_range when truncate/invalidate run",
    "v12_madvise_tlb_end_vma": "LUF v12: luf_flush_vma() in tlb_end_vma() on the MADV_DONTNEED path",
}

_VANILLA = frozenset({"mprotect_tlb_flush", "munmap_tlb_flush", "reclaim_flush_dirty", "mkclean_flush", "zap_dirty_flush", "migrate_unmap_flush"})
_BATCHED = _VANILLA | {"reclaim_batch_flush", "mprotect_batched_pending", "munmap_batched_pending", "migrate_batch_flush"}
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
        "v12_mkclean_flush",
        "v12_migrate_memory_failure",
    },
}

# mremap (kernel/mremap.py) and MADV_DONTNEED (kernel/madvise.py): the range flushes and the
# concurrent-gather force flush are vanilla since 4.14, flush_tlb_batched_pending comes with
# batched reclaim, luf_flush_vma in tlb_end_vma with v12.
_MREMAP_MADVISE = frozenset({"mremap_tlb_flush", "madvise_tlb_flush", "madvise_concurrent_force_flush"})
_MREMAP_MADVISE_BATCHED = frozenset({"mremap_batched_pending", "madvise_batched_pending"})
DEFAULT_FLUSH_POINTS = {
    mode: points
    | _MREMAP_MADVISE
    | (_MREMAP_MADVISE_BATCHED if mode != "none" else frozenset())
    | (frozenset({"v12_madvise_tlb_end_vma"}) if mode == "luf-v12" else frozenset())
    for mode, points in DEFAULT_FLUSH_POINTS.items()
}

# ptep_clear_flush() (kernel/flush.py), on wp_page_copy, uprobes and KSM: v12 16/26 and 19/25.
FLUSH_POINTS["v12_ptep_clear_flush"] = "LUF v12: luf_flush_vma() in ptep_clear_flush() when the old PTE is not accessible (an accessible one gets flush_tlb_page)"
DEFAULT_FLUSH_POINTS["luf-v12"] = DEFAULT_FLUSH_POINTS["luf-v12"] | {"v12_ptep_clear_flush"}

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
    "writeback": "writeback of a dirty page-cache folio (flusher/fsync): folio_mkclean, then the I/O",
    "dma": "O_DIRECT read / RDMA into a mapped file page: GUP pin, device write, unpin dirty",
    "migrate": "migration of a page-cache folio (try_to_migrate, move, remove_migration_ptes); [migrate] reason picks why",
    "mremap": "mremap(MREMAP_MAYMOVE) of one page to an unmapped address of the same mm",
    "madvise": "madvise(MADV_DONTNEED) of one page (mmap lock for read: concurrent with faults and other callers)",
    "uprobe": "uprobe registration: uprobe_write_opcode -> __replace_page of a MAP_PRIVATE text page (private-r VMA)",
    "ksm": "ksmd merging an anonymous (COW) page into a same-content KSM page: write_protect_page, replace_page",
}

DEFAULT_EVENTS = ("tlb", "load", "store", "fault", "reclaim", "kalloc", "write", "mprotect", "munmap")
"""The event kinds a spec without ``[events] enabled`` gets. New kinds are opt-in."""

# Truncate / punch hole, invalidate_inode_pages2_range and remote content change
# (kernel/truncate.py, kernel/remote.py): v12 16/26 and 20/26 in mm/truncate.c, and
# luf_flush_vma in tlb_end_vma on their unmap_mapping_range zaps. Their zaps share
# zap_pte_range and the mmu_gather with munmap, so munmap_batched_pending and
# munmap_tlb_flush govern them too.
FLUSH_POINTS.update({
    "v12_zap_tlb_end_vma": "LUF v12: luf_flush_vma() in tlb_end_vma() on the unmap_mapping_range path (truncate, invalidate)",
    "v12_truncate_flush": "LUF v12: luf_flush_mapping() at the end of truncate_inode_pages_range() (also when the mapping is empty)",
    "v12_invalidate_flush": "LUF v12: luf_flush_mapping() at the end of invalidate_inode_pages2_range()",
    "v12_invalidate_empty_flush": "LUF v12: invalidate_inode_pages2_range() of an empty mapping goes to that flush (goto out) instead of returning at once",
})
DEFAULT_FLUSH_POINTS["luf-v12"] = DEFAULT_FLUSH_POINTS["luf-v12"] | {
    "v12_zap_tlb_end_vma", "v12_truncate_flush", "v12_invalidate_flush", "v12_invalidate_empty_flush"}
EVENT_KINDS.update({
    "truncate": "punch a hole in one file page (truncate_pagecache_range, then the blocks are freed: a new version)",
    "invalidate": "invalidate_inode_pages2() of a file (FUSE notify-inval, NFS revalidation, O_DIRECT): unmap and drop its folios",
    "remote": "a remote client changes a file page on the server or shared block device (NFS, FUSE, NBD): no local write",
    "filelock": "the local task takes the file lock a remote writer released (happens-before); NFS revalidates ([remote] revalidate)",
})


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
    migrate_reason: str = "compaction"
    """Why a ``migrate`` event migrates: ``compaction`` (MIGRATE_ASYNC, ``TTU_BATCH_FLUSH``:
    the unmap batches, and LUF applies) or ``memory-failure`` (soft offline: MIGRATE_SYNC,
    ``ptep_clear_flush`` per PTE, and the source page is kept poisoned, never freed)."""

    uprobe_walk_check: bool = True
    """``__replace_page`` re-checks under the PTL (``page_vma_mapped_walk``) that the PTE still
    maps the old page, else retries; false: one of Dave Hansen's "ten other ways", which
    rewrites whatever the PTE holds (a LUF'd none PTE too) without a fault."""
    uprobe_hold_page: bool = True
    """The GUP reference and folio lock on the old page are held across ``__replace_page``
    (as in kernels up to 6.14); false: the reference is dropped right after the copy and the
    old folio is not locked, so reclaim can free it before the rewrite."""
    remote_revalidate: bool = True
    """Taking the file lock (``filelock``) revalidates the page cache before it returns, as
    NFS's ``do_setlk`` does for a mapped file (``invalidate_inode_pages2``); false: FUSE or a
    network block device without invalidation (scenario L7)."""

    bookkeeping: str = "ideal"
    """How LUF decides which CPUs a deferred flush is still owed for: ``ideal`` (a full flush
    of a CPU discharges every deferral for it) or ``v12`` (the luf_key table, ugens and
    ``ugen_done`` marks of LUF v12, kernel/lufbatch.py)."""
    arch: str = "x86"
    """``x86`` (IPI shootdowns, complete when the flush returns) or ``arm64`` (broadcast TLBIs
    issued at unmap, complete at the issuing CPU's DSB: kernel/arm64.py)."""
    luf_keys: int = 0
    """v12: entries of the ``luf_batch`` table (keys 1..luf_keys; the kernel has 65535)."""
    ugen_bits: int = 0
    """v12: 0 = the 64-bit ugen counter, which never wraps; 2..4 = ugens of that many bits."""
    mark_ugen: str = "after_flush"
    """v12: when ``tlb_flush_end()`` marks the flushed CPUs done: ``after_flush`` (the kernel,
    behind ``smp_mb()``) or ``before_flush`` (a deliberately broken variant, for P5)."""
    monitors: tuple[str, ...] = ()
    """Debug monitors to build alongside the kernel (kernel/monitors.py: ``bp-debug``,
    ``v12-debug``, with ``+fix`` variants); none for an ordinary run."""

    @property
    def real_book(self) -> bool:
        """LUF v12's ugen bookkeeping is modelled (x86 with ``bookkeeping = "v12"``)."""
        return self.bookkeeping == "v12" and self.arch == "x86"

    @property
    def arm64(self) -> bool:
        return self.arch == "arm64"

    @property
    def ugen_top(self) -> int:
        """The largest value a ugen slot holds (kernel/ugen.py): ``2**ugen_bits - 1`` when
        wrapping; unbounded, a rank: one per slot (the counter, two per CPU, one per batch)
        plus the two new ugens a step may take before it settles."""
        if self.ugen_bits:
            return (1 << self.ugen_bits) - 1
        return 1 + 2 * self.cpus + self.luf_keys + self.mms + self.files + 2

    @property
    def objects(self) -> int:
        """File pages, numbered ``file * offsets + offset``."""
        return self.files * self.offsets

    @property
    def private(self) -> bool:
        """Some VMA is a MAP_PRIVATE file mapping: anonymous (COW) memory is modelled."""
        return any(vm.prot in PRIVATE_PROTS for vm in self.vmas)

    @property
    def anon_objects(self) -> int:
        """One anonymous object per (mm, va) when ``private``, numbered after the file pages."""
        return self.mms * self.vpages if self.private else 0

    @property
    def all_objects(self) -> int:
        """File pages and anonymous objects: what a frame's content and a version refer to."""
        return self.objects + self.anon_objects

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


# LUF v12's real bookkeeping and arm64 completion (kernel/lufbatch.py, kernel/arm64.py).
BOOKKEEPINGS = ("ideal", "v12")
ARCHES = ("x86", "arm64")
MARK_UGEN = ("after_flush", "before_flush")
FLUSH_POINTS.update({
    "v12_takeoff_skip_no_shootdown": "LUF v12: an allocation that cannot IPI (no_shootdown_context) skips free pages whose luf_key batch is not done (luf_takeoff_check)",
    "v12_mm_mark_ugen": "LUF v12: arch_mm_mark_ugen() after flush_tlb_batched_pending() marks every CPU of mm_cpumask(mm) done (bookkeeping v12; removing it is a fix)",
    "arm64_batched_pending_flush_mm": "arm64: arch_flush_tlb_batched_pending() is flush_tlb_mm() (the 2025 fix) instead of a dsb(ish) on the calling CPU (v6.14, LUF v12's base)",
})
DEFAULT_FLUSH_POINTS["luf-v12"] = DEFAULT_FLUSH_POINTS["luf-v12"] | {"v12_takeoff_skip_no_shootdown", "v12_mm_mark_ugen"}
EVENT_KINDS.update({
    "kalloc_atomic": "kernel page allocation from a context that cannot IPI (irqs disabled, not in task): no_shootdown_context",
    "preempt": "arm64: the task is preempted and resumed anywhere in a kernel path (__switch_to's dsb(ish))",
})
