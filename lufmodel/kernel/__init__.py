"""The LUF kernel model: one executable definition of the kernel paths LUF touches."""

from __future__ import annotations

from lufmodel.builder import ModelBuilder
from lufmodel.kernel import fault, hardware, kalloc, properties, reclaim, sched, user, vma, write
from lufmodel.kernel import gup, writeback
from lufmodel.kernel import migrate
from lufmodel.kernel import madvise, mremap
from lufmodel.kernel import remote, truncate
from lufmodel.kernel import cow, ksm, uprobes
from lufmodel.kernel import arm64, ugen
from lufmodel.kernel import monitors
from lufmodel.kernel.config import Config
from lufmodel.kernel.naming import annotator, describer
from lufmodel.kernel.state import FREE, declare
from lufmodel.kernel.symmetry import kernel_symmetry
from lufmodel.model import Model, Var

__all__ = ["Config", "build_model"]


def build_model(cfg: Config, name: str = "luf") -> Model:
    """Build and validate the kernel model for ``cfg``."""
    b = ModelBuilder(name, cfg.cpus)
    k = declare(cfg, b)
    for part in (hardware, user, fault, reclaim, kalloc, write, vma, sched):
        part.add(k, b)
    for part in (writeback, gup):
        part.add(k, b)
    migrate.add(k, b)
    mremap.add(k, b)
    madvise.add(k, b)
    truncate.add(k, b)
    remote.add(k, b)
    for part in (cow, uprobes, ksm):  # anonymous memory: MAP_PRIVATE VMAs only
        part.add(k, b)
    arm64.add(k, b)
    properties.add(k, b)
    monitors.add(k, b)  # only with cfg.monitors: observers and their derived properties
    init: dict[Var, int] = {}
    for c in k.cpus:
        init[k.mm[c]] = cfg.cpu_mm[c]
        init[k.mmcpus[cfg.cpu_mm[c], c]] = 1
        init[k.rp[c]] = k.no_frame
        if k.rd.shape[0]:
            init[k.rd[c]] = k.no_frame
    for p in k.frames:
        init[k.fst[p]] = FREE
        init[k.fobj[p]] = k.junk
    for vm in cfg.vmas:
        init[k.vma[vm.mm, vm.va]] = vm.file * cfg.offsets + vm.offset + 1
        init[k.vprot[vm.mm, vm.va]] = vm.prot
    if cfg.real_book:
        init.update(ugen.initial(k))
    model = b.build(init, describer(cfg))
    positions = {v.name: v for v in model.variables}
    return Model(
        name=model.name,
        variables=model.variables,
        init=model.init,
        instances=model.instances,
        properties=model.properties,
        cpus=model.cpus,
        describe_value=model.describe_value,
        annotate=annotator(cfg, positions),
        observed=model.observed,
        symmetry=kernel_symmetry({v.family for v in model.variables}, cfg),
        control=tuple(k.pc[c] for c in k.cpus),
    )
