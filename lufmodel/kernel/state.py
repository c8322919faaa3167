"""The kernel model's state variables, step numbering, and the helpers every path shares.

State, in the vocabulary of the reference (§2):

* per CPU: the running mm, a TLB of (mm, va) -> (frame, writable) with a ghost tag of the
  object the entry was filled for, the kernel path step it is in (``pc``) and that path's
  registers, the task's flush batches (``tlb_ubc``, the LUF batch, ``can_luf``), and the
  ghost happens-before knowledge of each object's version;
* per mm: mm_cpumask, the v12 per-mm LUF batch, ``tlb_flush_batched``, the mmap lock, and
  per virtual page the VMA (object mapped, protection) and the PTE (frame, writable; with
  the ``migrate`` kind, a migration entry: the PTE is not present, ``pte_migration`` names
  the source frame, and the write and dirty bits stay in ``pte_w``/``pte_dirty``);
* per file: the v12 per-mapping LUF batch; per object (file, offset): the page-cache slot,
  the backing store's version and the latest committed version (ground truth);
* per frame: its state (free, page cache, isolated by reclaim, being allocated, kernel),
  its content (object, version), dirty bit, folio lock, the CPUs a deferred flush is
  still owed for (the LUF key's batch), and the references munmap's mmu_gather holds until
  its flush (``gather_refs``; with anonymous memory also do_wp_page's, uprobes' GUP and
  ksmd's transient references).

Ghost records for Dave Hansen's rules (R1 per PTE, R2 per page-cache position) are set when
a flush is deferred and discharged, per CPU, by a full flush of that CPU.

By default the LUF bookkeeping is *ideal*: a full flush of a CPU discharges every record for
it, as ugen/ugen_done would if they were exact. With ``[luf] bookkeeping = "v12"`` the
kernel's own bookkeeping decides instead (the luf_key table, ugens, ``ugen_done``, the per-mm
and per-mapping batches: kernel/lufbatch.py, kernel/ugen.py), and the ideal records become
the ghosts P5 checks it against; with ``arch = "arm64"``, TLB entries carry the CPUs whose
TLBIs for them have not completed (kernel/arm64.py). Both are zero-size otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder, VarArray
from lufmodel.kernel.config import Config
from lufmodel.model import Read, Var, Write
from lufmodel.ops import Expr, Ops

# Frame states.
FREE = 0
PCACHE = 1
ISOLATED = 2
ALLOC = 3
KERNEL = 4
ANON = 5
KSM = 6
FRAME_STATES = ("free", "page-cache", "isolated", "allocating", "kernel", "anon", "ksm")
"""``anon``: an anonymous page (a COW copy or uprobes' breakpoint page) mapped by its (mm, va);
``ksm``: a KSM page (read-only, same content). Both exist only with a MAP_PRIVATE VMA."""

# Fault kinds kept in the ``rx`` register during a fault.
FAULT_READ = 0
FAULT_WRITE = 1
FAULT_WP = 2
FAULT_GUP = 3
"""A write fault taken by GUP (``faultin_page``): ``fault.end`` returns to ``dma.pin``."""
FAULT_GUP_READ = 4
"""A read fault taken by uprobes' GUP (FOLL_FORCE, no FOLL_WRITE): ``fault.end`` returns to ``uprobe.gup``."""


def step_names(cfg: Config) -> list[str]:
    """Every kernel path step, in a fixed order: ``pc`` values index this list."""
    names = ["user"]
    names += ["fault.lookup", "fault.lock", "fault.alloc", "fault.takeoff", "fault.add", "fault.set_pte", "fault.end"]
    names += [f"reclaim.unmap.{i}" for i in range(cfg.mms * cfg.vpages)]
    names += ["reclaim.remove", "reclaim.free"]
    names += ["kalloc.takeoff", "kalloc.use"]
    names += ["write.lookup", "write.lock", "write.alloc", "write.takeoff", "write.add", "write.flush", "write.copy", "write.end", "write.v11"]
    names += ["mprotect.pte", "mprotect.flush", "munmap.zap", "munmap.flush", "mmap.install"]
    if "writeback" in cfg.events:
        names += [f"writeback.mkclean.{i}" for i in range(cfg.mms * cfg.vpages)] + ["writeback.clear", "writeback.io"]
    if "dma" in cfg.events:
        names += ["dma.pin", "dma.write", "dma.unpin"]
    if "migrate" in cfg.events:
        walk = [f"migrate.unmap.{i}" for i in range(cfg.mms * cfg.vpages)]
        remap = [f"migrate.remap.{i}" for i in range(cfg.mms * cfg.vpages)]
        names += ["migrate.alloc", "migrate.takeoff"] + walk + ["migrate.flush", "migrate.copy", "migrate.mapping"] + remap + ["migrate.free"]
    if "mremap" in cfg.events:
        names += ["mremap.move"]
    if "madvise" in cfg.events:
        names += ["madvise.zap", "madvise.flush"]
    if "truncate" in cfg.events:  # kernel/truncate.py
        names += [f"truncate.{x}.{m}" for m in range(cfg.mms) for x in ("zap", "gather")]
        names += ["truncate.lookup", "truncate.lock", "truncate.remove", "truncate.flush", "truncate.commit"]
    if "invalidate" in cfg.events or "filelock" in cfg.events:  # kernel/truncate.py
        names += [f"inval.{x}.{m}" for m in range(cfg.mms) for x in ("zap", "gather")]
        names += ["inval.lookup", "inval.lock", "inval.remove", "inval.flush"]
    if cfg.private:  # kernel/cow.py, kernel/uprobes.py, kernel/ksm.py
        names += ["cow.start", "cowfile.lookup", "cowfile.lock", "cowfile.alloc", "cowfile.takeoff", "cowfile.add",
                  "cow.alloc", "cow.takeoff", "cow.copy", "cow.set"]
        if "uprobe" in cfg.events:
            names += ["uprobe.gup", "uprobe.alloc", "uprobe.takeoff", "uprobe.copy", "uprobe.replace"]
        if "ksm" in cfg.events:
            names += ["ksm.wrprotect", "ksm.alloc", "ksm.takeoff", "ksm.copy", "ksm.replace"]
    if "kalloc_atomic" in cfg.events:  # kernel/kalloc.py
        names += ["kalloc_atomic.takeoff", "kalloc_atomic.use"]
    if cfg.real_book:  # kernel/pagecache.py: luf_takeoff_end's tlb_flush_end as its own step (keep last)
        names += [f"{n}_end" for n in names if n.endswith(".takeoff")]
    return names


FENCE_STEPS = ("mprotect.pte", "mprotect.flush", "munmap.zap", "munmap.flush", "mmap.install", "mremap.move")
"""Steps during which an mprotect/munmap/mmap/mremap of (mm, va) has started and not returned
(``reg_va`` is the old address; a step a spec's paths lack is skipped). MADV_DONTNEED is not
here: it keeps the VMA, and its P4 obligation is per call (``dontneed_owed``, kernel/madvise.py)."""


@dataclass(frozen=True)
class Kernel:
    """The configuration, the variables, and the step numbers: what every path needs."""

    cfg: Config
    pcs: dict[str, int]
    # per CPU
    pc: VarArray
    mm: VarArray
    rv: VarArray
    ro: VarArray
    rp: VarArray
    rx: VarArray
    rt: VarArray
    ubc: VarArray
    ubcl: VarArray
    ubcw: VarArray
    canluf: VarArray
    rclr: VarArray
    hb: VarArray
    tlb: VarArray
    tlbw: VarArray
    tlbo: VarArray
    # per mm
    mmcpus: VarArray
    mmluf: VarArray
    mmbatched: VarArray
    mmlock: VarArray
    vma: VarArray
    vprot: VarArray
    pte: VarArray
    ptew: VarArray
    pted: VarArray
    rec1: VarArray
    # per file / object
    mapluf: VarArray
    slot: VarArray
    disk: VarArray
    ver: VarArray
    rec2: VarArray
    # per frame
    fst: VarArray
    fobj: VarArray
    fver: VarArray
    fdirty: VarArray
    flock: VarArray
    fpend: VarArray
    frefs: VarArray
    fwb: VarArray
    pins: VarArray
    pmig: VarArray
    rd: VarArray
    tfp: VarArray
    dnowed: VarArray
    dnstale: VarArray
    vanon: VarArray
    ilock: VarArray
    # LUF v12's real bookkeeping (kernel/lufbatch.py, kernel/ugen.py) and arm64 (kernel/arm64.py)
    lugen: VarArray
    udone: VarArray
    rugen: VarArray
    kgen: VarArray
    lbcpus: VarArray
    lbugen: VarArray
    fkey: VarArray
    mmlb: VarArray
    mmlbugen: VarArray
    maplb: VarArray
    maplbugen: VarArray
    tinv: VarArray

    # ---- sizes and codes ------------------------------------------------------------

    @property
    def cpus(self) -> range:
        return range(self.cfg.cpus)

    @property
    def mms(self) -> range:
        return range(self.cfg.mms)

    @property
    def vas(self) -> range:
        return range(self.cfg.vpages)

    @property
    def objs(self) -> range:
        return range(self.cfg.objects)

    @property
    def frames(self) -> range:
        return range(self.cfg.frames)

    @property
    def all_objs(self) -> range:
        """File pages, then the anonymous objects (none without a MAP_PRIVATE VMA)."""
        return range(self.cfg.all_objects)

    def anon_obj(self, m: int, v: int) -> int:
        """The anonymous object of (mm, va): its private copy once it has been COW'd."""
        return self.cfg.objects + m * self.cfg.vpages + v

    @property
    def no_frame(self) -> int:
        """What ``reg_frame`` and ``reg_dst`` hold while they hold no frame: one past the
        last frame, so that no frame is special and every renaming of frames is a symmetry
        of the model (kernel/symmetry.py)."""
        return self.cfg.frames

    def idle(self, reg: VarArray) -> int:
        """The value register ``reg`` is reset to when its CPU leaves a path."""
        return self.no_frame if reg.family in ("reg_frame", "reg_dst") else 0

    @property
    def kdata(self) -> int:
        """The content tag of a frame holding kernel (slab) data."""
        return self.cfg.all_objects

    @property
    def junk(self) -> int:
        """The content tag of a frame that never held a file page."""
        return self.cfg.all_objects + 1

    @property
    def lock_writer(self) -> int:
        """``mmlock`` value of a write-locked mmap lock (below it: number of readers)."""
        return self.cfg.cpus + 1

    def rmap(self) -> list[tuple[int, int]]:
        """The (mm, va) pairs an rmap walk visits, in order."""
        return [(m, v) for m in self.mms for v in self.vas]

    def file_of(self, obj: int) -> int:
        return obj // self.cfg.offsets


def declare(cfg: Config, b: ModelBuilder) -> Kernel:
    """Declare every state variable of the kernel model on ``b``."""
    n, m_, v_, objs, p_ = cfg.cpus, cfg.mms, cfg.vpages, cfg.objects, cfg.frames
    aobjs = cfg.all_objects  # objs, plus one anonymous object per (mm, va) with a MAP_PRIVATE VMA
    x = cfg.versions
    names = step_names(cfg)
    pcs = {name: i for i, name in enumerate(names)}
    return Kernel(
        cfg=cfg,
        pcs=pcs,
        pc=b.array("pc", (n,), 0, len(names) - 1),
        mm=b.array("cpu_mm", (n,), 0, m_ - 1),
        rv=b.array("reg_va", (n,), 0, v_ - 1),
        ro=b.array("reg_obj", (n,), 0, objs - 1),
        rp=b.array("reg_frame", (n,), 0, p_),
        rx=b.array("reg_kind", (n,), 0, FAULT_GUP_READ if "uprobe" in cfg.events and cfg.private else 3),
        rt=b.array("reg_target", (n,), 0, max(0, len(cfg.mmap_targets) - 1)),
        ubc=b.bools("tlb_ubc", (n, n)),
        ubcl=b.bools("tlb_ubc_luf", (n, n)),
        ubcw=b.bools("tlb_ubc_writable", (n,)),
        canluf=b.bools("can_luf", (n,)),
        rclr=b.bools("unmapped", (n, m_ * v_)),
        hb=b.array("hb", (n, aobjs), 0, x),
        tlb=b.array("tlb", (n, m_, v_), 0, p_),
        tlbw=b.bools("tlb_w", (n, m_, v_)),
        tlbo=b.array("tlb_tag", (n, m_, v_), 0, aobjs + 1),
        mmcpus=b.bools("mm_cpumask", (m_, n)),
        mmluf=b.bools("mm_luf", (m_, n)),
        mmbatched=b.bools("mm_flush_batched", (m_,)),
        mmlock=b.array("mmap_lock", (m_,), 0, n + 1),
        vma=b.array("vma", (m_, v_), 0, objs),
        vprot=b.array("vma_prot", (m_, v_), 0, 4 if cfg.private else 2),
        pte=b.array("pte", (m_, v_), 0, p_),
        ptew=b.bools("pte_w", (m_, v_)),
        pted=b.bools("pte_dirty", (m_, v_)),
        rec1=b.bools("r1_record", (m_, v_, n)),
        mapluf=b.bools("mapping_luf", (cfg.files, n)),
        slot=b.array("slot", (objs,), 0, p_),
        disk=b.array("disk", (objs,), 0, x),
        ver=b.array("ver", (aobjs,), 0, x),
        rec2=b.bools("r2_record", (objs, n)),
        fst=b.array("frame_state", (p_,), 0, KSM if cfg.private else KERNEL),
        fobj=b.array("frame_obj", (p_,), 0, aobjs + 1),
        fver=b.array("frame_ver", (p_,), 0, x),
        fdirty=b.bools("frame_dirty", (p_,)),
        flock=b.array("folio_lock", (p_,), 0, n),
        fpend=b.bools("frame_luf", (p_, n)),
        frefs=b.array("gather_refs", (p_,), 0, n),
        fwb=b.bools("frame_writeback", (p_ if "writeback" in cfg.events else 0,)),
        pins=b.array("pin_refs", (p_ if "dma" in cfg.events else 0,), 0, n),
        pmig=b.array("pte_migration", (m_ if "migrate" in cfg.events else 0, v_), 0, p_),
        rd=b.array("reg_dst", (n if "migrate" in cfg.events or cfg.private else 0,), 0, p_),
        tfp=b.array("tlb_flush_pending", (m_ if {"madvise", "truncate", "invalidate", "filelock"} & cfg.events else 0,), 0, n),
        dnowed=b.bools("dontneed_owed", (n if "madvise" in cfg.events else 0, m_, v_, n)),
        dnstale=b.bools("dontneed_stale", (n if "madvise" in cfg.events else 0, m_, v_)),
        vanon=b.bools("vma_anon", (m_ if cfg.private else 0, v_)),
        ilock=b.bools("invalidate_lock", (cfg.files if "truncate" in cfg.events else 0,)),
        **_book_vars(cfg, b),
    )


def _book_vars(cfg: Config, b: ModelBuilder) -> dict[str, VarArray]:
    """LUF v12's bookkeeping (zero-size unless ``bookkeeping = "v12"`` on x86) and arm64's
    issued-but-incomplete invalidations (zero-size unless ``arch = "arm64"``)."""
    on = 1 if cfg.real_book else 0
    n, keys = cfg.cpus, cfg.luf_keys if cfg.real_book else 0
    hi = cfg.ugen_top
    return {
        "lugen": b.array("luf_ugen", (on,), 0, hi),
        "udone": b.array("ugen_done", (n * on,), 0, hi),
        "rugen": b.array("reg_ugen", (n * on,), 0, hi),
        "kgen": b.array("luf_kgen", (on,), 0, max(keys, 1)),
        "lbcpus": b.bools("lb_cpus", (keys, n)),
        "lbugen": b.array("lb_ugen", (keys,), 0, hi),
        "fkey": b.array("frame_key", (cfg.frames * on,), 0, max(keys, 1)),
        "mmlb": b.bools("mm_lb", (cfg.mms * on, n)),
        "mmlbugen": b.array("mm_lb_ugen", (cfg.mms * on,), 0, hi),
        "maplb": b.bools("map_lb", (cfg.files * on, n)),
        "maplbugen": b.array("map_lb_ugen", (cfg.files * on,), 0, hi),
        "tinv": b.bools("tlb_inv", (n if cfg.arm64 else 0, cfg.mms, cfg.vpages, n)),
    }


# ---- expression helpers ---------------------------------------------------------------


def at(k: Kernel, ops: Ops, s: Read, c: int, step: str) -> Expr:
    """CPU ``c`` is at kernel path step ``step``."""
    return ops.eq(s[k.pc[c]], ops.const(k.pcs[step]))


def runs(k: Kernel, ops: Ops, s: Read, c: int, m: int) -> Expr:
    """CPU ``c`` runs a task of mm ``m``."""
    return ops.eq(s[k.mm[c]], ops.const(m))


def goto(k: Kernel, ops: Ops, w: Write, c: int, step: str) -> None:
    w[k.pc[c]] = ops.const(k.pcs[step])


def goto_if(k: Kernel, ops: Ops, w: Write, c: int, cond: Expr, then: str, other: str) -> None:
    w[k.pc[c]] = ops.ite(cond, ops.const(k.pcs[then]), ops.const(k.pcs[other]))


def pick(ops: Ops, index: Expr, values: Sequence[Expr]) -> Expr:
    """``values[index]`` for a symbolic index."""
    return O.select(ops, index, values)


def put(ops: Ops, w: Write, targets: Sequence[Var], index: Expr, value: Expr, when: Expr | None = None) -> None:
    """``targets[index] = value`` (only if ``when``) for a symbolic index."""
    for i, var in enumerate(targets):
        hit = ops.eq(index, ops.const(i))
        if when is not None:
            hit = ops.and_(when, hit)
        w[var] = ops.ite(hit, value, w.get(var))


def frame_field(k: Kernel, ops: Ops, get: Read, arr: VarArray, frame: Expr) -> Expr:
    """``arr[frame]`` for a per-frame array and a symbolic frame index."""
    return pick(ops, frame, [get[arr[p]] for p in k.frames])


def obj_field(k: Kernel, ops: Ops, get: Read, arr: VarArray, obj: Expr) -> Expr:
    return pick(ops, obj, [get[arr[o]] for o in k.objs])


def frames_of(k: Kernel, arr: VarArray) -> list[Var]:
    return [arr[p] for p in k.frames]


def objs_of(k: Kernel, arr: VarArray) -> list[Var]:
    return [arr[o] for o in k.objs]


class WriteView:
    """``Read`` over the values an effect has assigned so far (``w.get``)."""

    __slots__ = ("w",)

    def __init__(self, w: Write) -> None:
        self.w = w

    def __getitem__(self, var: Var) -> Expr:
        return self.w.get(var)


def extra_refs(k: Kernel, ops: Ops, s: Read, frame: Expr) -> Expr:
    """The folio holds references beyond the page cache's and the isolating task's:
    munmap's mmu_gather (until its flush) or a GUP pin (until unpin). ``__remove_mapping``
    (and any other refcount freeze) fails on them."""
    held = [frame_field(k, ops, s, k.frefs, frame)]
    if "dma" in k.cfg.events:
        held.append(frame_field(k, ops, s, k.pins, frame))
    return O.any_(ops, [ops.not_(ops.eq(x, ops.const(0))) for x in held])


def mapped_obj(k: Kernel, ops: Ops, s: Read, m: int, v: int) -> Expr:
    """The object (mm, va) maps: its anonymous object once COW'd (``vma_anon``), else the
    VMA's file page (``vma - 1``)."""
    file = ops.sub(s[k.vma[m, v]], ops.const(1))
    if not k.cfg.private:
        return file
    return ops.ite(s[k.vanon[m, v]], ops.const(k.anon_obj(m, v)), file)
