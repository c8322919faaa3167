"""Events the kernel paths report for observers (the debug monitors, kernel/monitors.py).

Properties read the events of ``emit`` functions (pre-state). These are reported from
inside effects with ``Write.emit`` (a flush reports the mask it computed) or by ``emit``
functions, and only observers read them; no property listens to these kinds.

* ``flush``: a full flush of every CPU in the mask (``arch_tlbbatch_flush``, what
  ``try_to_unmap_flush()`` and the LUF flushes do), by the step's CPU: fields ``cpu0..``.
* ``flush_mm``: ``flush_tlb_mm(mm)`` on every CPU (``flush.flush_mm``): ``mm``.
* ``luf_deferral``: the end of an rmap walk kept a batch for LUF (reclaim and migration,
  ``reclaim.fold``): the folio (``frame``), its page-cache object (``obj``), the CPUs
  skipped (``cpu0..``) and, per mm, whether one of its PTEs was cleared (``mm0..``).
* ``luf_free``: a folio freed with its LUF key: ``frame`` and the key's CPUs (``cpu0..``).
* ``write_end``: ``a_ops->write_end()`` of write(2): ``obj`` and ``frame``.
* ``kmap``: the kernel touches a page through its direct map: ``frame``.
* ``takeoff``: ``luf_takeoff_end()`` hands a page out, after its flush: ``frame``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from lufmodel.model import Event
from lufmodel.ops import Expr

FLUSH = "flush"
FLUSH_MM = "flush_mm"
LUF_DEFERRAL = "luf_deferral"
LUF_FREE = "luf_free"
WRITE_END = "write_end"
KMAP = "kmap"
TAKEOFF = "takeoff"
OBSERVED = (FLUSH, FLUSH_MM, LUF_DEFERRAL, LUF_FREE, WRITE_END, KMAP, TAKEOFF)


def mask_fields(mask: Sequence[Expr]) -> dict[str, Expr]:
    """A per-CPU mask as event fields ``cpu0``, ``cpu1``, ..."""
    return {f"cpu{c}": x for c, x in enumerate(mask)}


def event_mask(e: Mapping[str, Expr], cpus: int) -> list[Expr]:
    """The per-CPU mask of an event built with ``mask_fields``."""
    return [e[f"cpu{c}"] for c in range(cpus)]


def with_mask(kind: str, when: Expr, mask: Sequence[Expr], **fields: Expr) -> Event:
    return Event(kind, when, {**fields, **mask_fields(mask)})
