"""How the kernel model's values read to a kernel developer, and what is stale in a state."""

from __future__ import annotations

from typing import Callable, Sequence

from lufmodel.kernel.config import Config
from lufmodel.kernel.state import FRAME_STATES, step_names
from lufmodel.model import Var

PROT_TEXT = ("r", "r-maywrite", "rw", "private-r", "private")


def object_name(cfg: Config, obj: int) -> str:
    """File pages read as ``A0`` (file A, offset 0); then the anonymous objects (``anon0.1``:
    mm 0, va 1), kernel data and never-used."""
    if cfg.objects <= obj < cfg.all_objects:
        a = obj - cfg.objects
        return f"anon{a // cfg.vpages}.{a % cfg.vpages}"
    if obj == cfg.all_objects:
        return "kernel-data"
    if obj > cfg.all_objects:
        return "junk"
    return f"{chr(ord('A') + obj // cfg.offsets)}{obj % cfg.offsets}"


def describer(cfg: Config) -> Callable[[Var, int], str]:
    steps = step_names(cfg)

    def describe(var: Var, value: int) -> str:
        fam = var.family
        if fam in ("tlb", "pte", "slot"):
            return "-" if value == 0 else f"P{value - 1}"
        if fam in ("tlb_tag", "frame_obj"):
            return object_name(cfg, value)
        if fam == "vma":
            return "-" if value == 0 else object_name(cfg, value - 1)
        if fam == "reg_obj":
            return object_name(cfg, value)
        if fam in ("reg_frame", "reg_dst"):
            return "-" if value == cfg.frames else f"P{value}"
        if fam == "frame_key":  # kernel/lufbatch.py
            return "none" if value == 0 else f"key {value}"
        if fam == "pte_migration":
            return "-" if value == 0 else f"migration entry for P{value - 1}"
        if fam == "frame_state":
            return FRAME_STATES[value]
        if fam == "vma_prot":
            return PROT_TEXT[value]
        if fam == "pc":
            return steps[value]
        if fam == "mmap_lock":
            return "write-locked" if value == cfg.cpus + 1 else f"{value} readers"
        if fam == "folio_lock":
            return "unlocked" if value == 0 else f"CPU{value - 1}"
        if fam in ("ver", "disk", "frame_ver", "hb"):
            return f"v{value}"
        if var.is_bool:
            return "yes" if value else "no"
        return str(value)

    return describe


def annotator(cfg: Config, positions: dict[str, Var]) -> Callable[[Sequence[int]], tuple[str, ...]]:
    """The stale translations of a state: TLB entries whose PTE no longer maps that page."""

    def annotate(state: Sequence[int]) -> tuple[str, ...]:
        notes = []
        for c in range(cfg.cpus):
            for m in range(cfg.mms):
                for v in range(cfg.vpages):
                    t = state[positions[f"tlb[{c},{m},{v}]"].pos]
                    if t == 0:
                        continue
                    pte = state[positions[f"pte[{m},{v}]"].pos]
                    if pte == t:
                        continue
                    w = "rw" if state[positions[f"tlb_w[{c},{m},{v}]"].pos] else "ro"
                    now = "none" if pte == 0 else f"P{pte - 1}"
                    mig = positions.get(f"pte_migration[{m},{v}]")
                    if pte == 0 and mig is not None and state[mig.pos]:
                        now = f"a migration entry for P{state[mig.pos] - 1}"
                    fst = FRAME_STATES[state[positions[f"frame_state[{t - 1}]"].pos]]
                    issued = [i for i in range(cfg.cpus) if (x := positions.get(f"tlb_inv[{c},{m},{v},{i}]")) is not None and state[x.pos]]
                    tlbi = f"; TLBI issued by CPU{', CPU'.join(map(str, issued))}, not completed" if issued else ""
                    notes.append(f"stale: CPU{c} TLB mm{m} va{v} -> P{t - 1} ({w}); PTE is {now}; P{t - 1} is {fst}{tlbi}")
        return tuple(notes)

    return annotate
