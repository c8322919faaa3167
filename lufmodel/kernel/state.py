"""The kernel model's state variables, step numbering, and the helpers every path shares.

State, in the vocabulary of the reference (§2):

* per CPU: the running mm, a TLB of (mm, va) -> (frame, writable) with a ghost tag of the
  object the entry was filled for, the kernel path step it is in (``pc``) and that path's
  registers, the task's flush batches (``tlb_ubc``, the LUF batch, ``can_luf``), and the
  ghost happens-before knowledge of each object's version;
* per mm: mm_cpumask, the v12 per-mm LUF batch, ``tlb_flush_batched``, the mmap lock, and
  per virtual page the VMA (object mapped, protection) and the PTE (frame, writable);
* per file: the v12 per-mapping LUF batch; per object (file, offset): the page-cache slot,
  the backing store's version and the latest committed version (ground truth);
* per frame: its state (free, page cache, isolated by reclaim, being allocated, kernel),
  its content (object, version), dirty bit, folio lock, the CPUs a deferred flush is
  still owed for (the LUF key's batch), and the references munmap's mmu_gather holds until
  its flush.

Ghost records for Dave Hansen's rules (R1 per PTE, R2 per page-cache position) are set when
a flush is deferred and discharged, per CPU, by a full flush of that CPU.

The LUF bookkeeping here is *ideal*: a full flush of a CPU discharges every record for it,
as ugen/ugen_done would if they were exact. The luf_key table, ugen wraparound and racy
done-marks are the next layer of the model (P5).
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
FRAME_STATES = ("free", "page-cache", "isolated", "allocating", "kernel")

# Fault kinds kept in the ``rx`` register during a fault.
FAULT_READ = 0
FAULT_WRITE = 1
FAULT_WP = 2


def step_names(cfg: Config) -> list[str]:
    """Every kernel path step, in a fixed order: ``pc`` values index this list."""
    names = ["user"]
    names += ["fault.lookup", "fault.lock", "fault.alloc", "fault.takeoff", "fault.add", "fault.set_pte", "fault.end"]
    names += [f"reclaim.unmap.{i}" for i in range(cfg.mms * cfg.vpages)]
    names += ["reclaim.remove", "reclaim.free"]
    names += ["kalloc.takeoff", "kalloc.use"]
    names += ["write.lookup", "write.lock", "write.alloc", "write.takeoff", "write.add", "write.flush", "write.copy", "write.end", "write.v11"]
    names += ["mprotect.pte", "mprotect.flush", "munmap.zap", "munmap.flush", "mmap.install"]
    return names


FENCE_STEPS = ("mprotect.pte", "mprotect.flush", "munmap.zap", "munmap.flush", "mmap.install")
"""Steps during which an mprotect/munmap/mmap of (mm, va) has started and not returned."""


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
    def kdata(self) -> int:
        """The content tag of a frame holding kernel (slab) data."""
        return self.cfg.objects

    @property
    def junk(self) -> int:
        """The content tag of a frame that never held a file page."""
        return self.cfg.objects + 1

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
        rp=b.array("reg_frame", (n,), 0, p_ - 1),
        rx=b.array("reg_kind", (n,), 0, 3),
        rt=b.array("reg_target", (n,), 0, max(0, len(cfg.mmap_targets) - 1)),
        ubc=b.bools("tlb_ubc", (n, n)),
        ubcl=b.bools("tlb_ubc_luf", (n, n)),
        ubcw=b.bools("tlb_ubc_writable", (n,)),
        canluf=b.bools("can_luf", (n,)),
        rclr=b.bools("unmapped", (n, m_ * v_)),
        hb=b.array("hb", (n, objs), 0, x),
        tlb=b.array("tlb", (n, m_, v_), 0, p_),
        tlbw=b.bools("tlb_w", (n, m_, v_)),
        tlbo=b.array("tlb_tag", (n, m_, v_), 0, objs + 1),
        mmcpus=b.bools("mm_cpumask", (m_, n)),
        mmluf=b.bools("mm_luf", (m_, n)),
        mmbatched=b.bools("mm_flush_batched", (m_,)),
        mmlock=b.array("mmap_lock", (m_,), 0, n + 1),
        vma=b.array("vma", (m_, v_), 0, objs),
        vprot=b.array("vma_prot", (m_, v_), 0, 2),
        pte=b.array("pte", (m_, v_), 0, p_),
        ptew=b.bools("pte_w", (m_, v_)),
        pted=b.bools("pte_dirty", (m_, v_)),
        rec1=b.bools("r1_record", (m_, v_, n)),
        mapluf=b.bools("mapping_luf", (cfg.files, n)),
        slot=b.array("slot", (objs,), 0, p_),
        disk=b.array("disk", (objs,), 0, x),
        ver=b.array("ver", (objs,), 0, x),
        rec2=b.bools("r2_record", (objs, n)),
        fst=b.array("frame_state", (p_,), 0, len(FRAME_STATES) - 1),
        fobj=b.array("frame_obj", (p_,), 0, objs + 1),
        fver=b.array("frame_ver", (p_,), 0, x),
        fdirty=b.bools("frame_dirty", (p_,)),
        flock=b.array("folio_lock", (p_,), 0, n),
        fpend=b.bools("frame_luf", (p_, n)),
        frefs=b.array("gather_refs", (p_,), 0, n),
    )


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
