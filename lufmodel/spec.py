"""Spec files (TOML): a kernel configuration, the properties to check, limits, expectations.

Every error names the file, the key and what is allowed (``SpecError``). The format is
documented in ``docs/spec-format.md``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from lufmodel.errors import SpecError
from lufmodel.kernel import build_model
from lufmodel.kernel.config import (
    ARCHES,
    BOOKKEEPINGS,
    MARK_UGEN,
    DEFAULT_EVENTS,
    DEFAULT_FLUSH_POINTS,
    EVENT_KINDS,
    FLUSH_POINTS,
    LUF_CHECKS,
    MIGRATE_REASONS,
    MODES,
    PRIVATE_PROTS,
    PROT_NAMES,
    Config,
    MmapTarget,
    VmaInit,
)
from lufmodel.kernel.properties import LUF_ONLY
from lufmodel.model import Model, Property
from lufmodel.results import VERDICTS, Limits

DEFAULT_SPEC = Path(__file__).parent / "data" / "default.toml"

SIZE_LIMITS = {
    "cpus": (1, 4),
    "mms": (1, 3),
    "vpages": (1, 3),
    "files": (1, 3),
    "offsets": (1, 3),
    "frames": (1, 5),
    "versions": (1, 4),
}
SIZE_DEFAULTS = {"cpus": 2, "mms": 1, "vpages": 1, "files": 1, "offsets": 1, "frames": 2, "versions": 1}
SIZE_LIMITS.update({"luf_keys": (1, 3), "ugen_bits": (0, 4)})  # [luf] bookkeeping = "v12"
SIZE_DEFAULTS.update({"luf_keys": 2, "ugen_bits": 0})
TOP_KEYS: tuple[str, ...] = ("name", "description", "sizes", "luf", "flush_points", "events", "vma", "mmap_target", "cpu", "check", "expect", "notes", "migrate")
TOP_KEYS += ("remote",)  # [remote] revalidate: kernel/remote.py
TOP_KEYS += ("uprobes",)  # [uprobes] walk_check, hold_page: kernel/uprobes.py
TOP_KEYS += ("monitors",)  # [monitors] enabled: kernel/monitors.py
PRIVATE_EVENTS = ("tlb", "load", "store", "fault", "reclaim", "kalloc", "switch", "sync", "uprobe", "ksm")
"""The event kinds a spec with a MAP_PRIVATE VMA may enable: the others would unmap or move
its anonymous pages, or change the file under an unwritten COW copy (not modelled)."""


@dataclass(frozen=True)
class Expectation:
    verdict: str
    depth: int | None = None


@dataclass(frozen=True)
class Spec:
    """A loaded spec: its configuration, its model, and what to check and expect."""

    path: str
    name: str
    description: str
    text: str
    config: Config
    model: Model
    props: tuple[Property, ...]
    limits: Limits
    expect: Mapping[str, Expectation]


class _Reader:
    """Typed access to a TOML table with errors that name the file and the key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: {key}: {message}")

    def table(self, data: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        value = data.get(key.split(".")[-1], {})
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, got {type(value).__name__}")
        self.keys(value, key, allowed)
        return value

    def keys(self, value: Mapping[str, Any], where: str, allowed: tuple[str, ...]) -> None:
        for k in value:
            if k not in allowed:
                raise self.fail(f"{where}.{k}" if where else k, f"unknown key; allowed: {', '.join(allowed)}")

    def int_(self, value: Any, key: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer from {lo} to {hi}, got {value!r}")
        if not lo <= value <= hi:
            raise self.fail(key, f"must be from {lo} to {hi}, got {value}")
        return value

    def num(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(key, f"must be a positive number, got {value!r}")
        return float(value)

    def choice(self, value: Any, key: str, allowed: tuple[str, ...] | list[str]) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise self.fail(key, f"must be one of {', '.join(allowed)}; got {value!r}")
        return value

    def str_list(self, value: Any, key: str, allowed: tuple[str, ...] | list[str]) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list of {', '.join(allowed)}")
        return [self.choice(v, key, allowed) for v in value]


def load_spec(path: str | Path, overrides: Mapping[str, int] | None = None) -> Spec:
    """Read and validate a spec file; ``overrides`` replace [sizes] entries (fuzzing)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from None
    return load_spec_text(text, str(path), overrides)


def load_spec_text(text: str, path: str = "<spec>", overrides: Mapping[str, int] | None = None) -> Spec:
    """Validate spec ``text`` (read from ``path``) and build its model."""
    r = _Reader(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    r.keys(data, "", TOP_KEYS)
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str):
        raise r.fail("name", "must be a string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise r.fail("description", "must be a string")

    sizes_t = r.table(data, "sizes", tuple(SIZE_LIMITS))
    sizes = dict(SIZE_DEFAULTS)
    for key, (lo, hi) in SIZE_LIMITS.items():
        if key in sizes_t:
            sizes[key] = r.int_(sizes_t[key], f"sizes.{key}", lo, hi)
    for key, value in (overrides or {}).items():
        if key not in SIZE_LIMITS:
            raise SpecError(f"{path}: override {key}: unknown size; allowed: {', '.join(SIZE_LIMITS)}")
        lo, hi = SIZE_LIMITS[key]
        sizes[key] = r.int_(value, f"override {key}", lo, hi)

    luf_t = r.table(data, "luf", ("mode", "check", "bookkeeping", "arch", "mark"))
    mode = r.choice(luf_t.get("mode", "luf-v12"), "luf.mode", MODES)
    check = r.choice(luf_t.get("check", "pte_write"), "luf.check", LUF_CHECKS)
    book, arch, mark = _bookkeeping(r, luf_t, mode, sizes)

    fp_t = r.table(data, "flush_points", tuple(FLUSH_POINTS))
    points = set(DEFAULT_FLUSH_POINTS[mode])
    for key, value in fp_t.items():
        if not isinstance(value, bool):
            raise r.fail(f"flush_points.{key}", f"must be true or false, got {value!r}")
        (points.add if value else points.discard)(key)

    ev_t = r.table(data, "events", ("enabled",))
    events = r.str_list(ev_t.get("enabled", list(DEFAULT_EVENTS)), "events.enabled", list(EVENT_KINDS))

    vmas = _vmas(r, data.get("vma", []), sizes)
    targets = _targets(r, data.get("mmap_target", []), sizes)
    cpu_mm, roles = _cpus(r, data.get("cpu", {}), sizes)
    mig_t = r.table(data, "migrate", ("reason",))
    migrate_reason = r.choice(mig_t.get("reason", "compaction"), "migrate.reason", MIGRATE_REASONS)
    remote_t = r.table(data, "remote", ("revalidate",))
    revalidate = remote_t.get("revalidate", True)
    if not isinstance(revalidate, bool):
        raise r.fail("remote.revalidate", f"must be true (NFS: the file lock invalidates) or false (FUSE, NBD), got {revalidate!r}")

    up_t = r.table(data, "uprobes", ("walk_check", "hold_page"))
    for key in up_t:
        if not isinstance(up_t[key], bool):
            raise r.fail(f"uprobes.{key}", f"must be true or false, got {up_t[key]!r}")
    _check_private(r, vmas, targets, events)
    monitors = _monitors(r, data)

    cfg = Config(
        cpus=sizes["cpus"], mms=sizes["mms"], vpages=sizes["vpages"], files=sizes["files"],
        offsets=sizes["offsets"], frames=sizes["frames"], versions=sizes["versions"], mode=mode,
        flush_points=frozenset(points), events=frozenset(events), vmas=vmas, cpu_mm=cpu_mm,
        roles=roles, mmap_targets=targets, luf_check=check, migrate_reason=migrate_reason,
        remote_revalidate=revalidate,
        uprobe_walk_check=up_t.get("walk_check", True), uprobe_hold_page=up_t.get("hold_page", True),
        bookkeeping=book, arch=arch, luf_keys=sizes["luf_keys"], ugen_bits=sizes["ugen_bits"], mark_ugen=mark,
        monitors=monitors,
    )
    model = build_model(cfg, name)

    check_t = r.table(data, "check", ("properties", "max_depth", "max_states", "timeout"))
    all_names = [p.name for p in model.properties]
    default_props = [n for n in all_names if cfg.luf or n not in LUF_ONLY]
    chosen = r.str_list(check_t.get("properties", default_props), "check.properties", all_names)
    limits = Limits(
        max_depth=r.int_(check_t["max_depth"], "check.max_depth", 1, 10_000) if "max_depth" in check_t else None,
        max_states=r.int_(check_t["max_states"], "check.max_states", 1, 10**10) if "max_states" in check_t else None,
        timeout=r.num(check_t["timeout"], "check.timeout") if "timeout" in check_t else None,
    )

    exp_t = r.table(data, "expect", tuple(all_names))
    expect: dict[str, Expectation] = {}
    for key, value in exp_t.items():
        expect[key] = _expectation(r, key, value)
    return Spec(path, name, description, text, cfg, model, tuple(model.prop(n) for n in chosen), limits, expect)


def _monitors(r: _Reader, data: Mapping[str, Any]) -> tuple[str, ...]:
    """[monitors] enabled: the debug monitors to build (kernel/monitors.py)."""
    from lufmodel.kernel.monitors import parse

    mon_t = r.table(data, "monitors", ("enabled",))
    names = mon_t.get("enabled", [])
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        raise r.fail("monitors.enabled", "must be a list of monitor names (bp-debug, v12-debug, with +fix variants)")
    for x in names:
        try:
            parse(x)
        except ValueError as exc:
            raise r.fail("monitors.enabled", str(exc)) from None
    if len(set(names)) != len(names):
        raise r.fail("monitors.enabled", "names a monitor twice")
    return tuple(names)


def _bookkeeping(r: _Reader, luf_t: Mapping[str, Any], mode: str, sizes: Mapping[str, int]) -> tuple[str, str, str]:
    """[luf] bookkeeping, arch and mark, checked against the mode and the ugen width."""
    book = r.choice(luf_t.get("bookkeeping", "ideal"), "luf.bookkeeping", BOOKKEEPINGS)
    arch = r.choice(luf_t.get("arch", "x86"), "luf.arch", ARCHES)
    mark = r.choice(luf_t.get("mark", "after_flush"), "luf.mark", MARK_UGEN)
    if book == "v12" and mode != "luf-v12":
        raise r.fail("luf.bookkeeping", f'"v12" is the bookkeeping of LUF v12: it needs mode = "luf-v12", not {mode!r}')
    if arch == "arm64" and mode == "luf-v11":
        raise r.fail("luf.arch", 'arm64 is modelled for modes none, batched and luf-v12 only')
    if arch == "arm64" and mode == "luf-v12" and book != "v12":
        raise r.fail("luf.bookkeeping", 'arm64 has only the bookkeeping of LUF v12 (its batches are always done): set bookkeeping = "v12"')
    if mark != "after_flush" and not (book == "v12" and arch == "x86"):
        raise r.fail("luf.mark", 'only x86 with bookkeeping = "v12" marks ugen_done')
    if sizes["ugen_bits"] == 1:
        raise r.fail("sizes.ugen_bits", "must be 0 (the 64-bit counter, never wraps) or 2 to 4 bits")
    return book, arch, mark


def _expectation(r: _Reader, key: str, value: Any) -> Expectation:
    where = f"expect.{key}"
    if isinstance(value, str):
        return Expectation(r.choice(value, where, VERDICTS))
    if isinstance(value, dict):
        r.keys(value, where, ("verdict", "depth"))
        verdict = r.choice(value.get("verdict"), f"{where}.verdict", VERDICTS)
        depth = r.int_(value["depth"], f"{where}.depth", 0, 10_000) if "depth" in value else None
        return Expectation(verdict, depth)
    raise r.fail(where, f"must be one of {', '.join(VERDICTS)} or {{verdict = ..., depth = N}}")


def _vmas(r: _Reader, items: Any, sizes: Mapping[str, int]) -> tuple[VmaInit, ...]:
    if not isinstance(items, list):
        raise r.fail("vma", "must be an array of tables ([[vma]])")
    out = []
    seen = set()
    for i, item in enumerate(items):
        where = f"vma[{i}]"
        if not isinstance(item, dict):
            raise r.fail(where, "must be a table")
        r.keys(item, where, ("mm", "va", "file", "offset", "prot"))
        mm = r.int_(item.get("mm", 0), f"{where}.mm", 0, sizes["mms"] - 1)
        va = r.int_(item.get("va", 0), f"{where}.va", 0, sizes["vpages"] - 1)
        f = r.int_(item.get("file", 0), f"{where}.file", 0, sizes["files"] - 1)
        off = r.int_(item.get("offset", 0), f"{where}.offset", 0, sizes["offsets"] - 1)
        prot = PROT_NAMES[r.choice(item.get("prot", "r-maywrite"), f"{where}.prot", tuple(PROT_NAMES))]
        if (mm, va) in seen:
            raise r.fail(where, f"mm {mm} va {va} is mapped twice")
        seen.add((mm, va))
        out.append(VmaInit(mm, va, f, off, prot))
    return tuple(out)


def _check_private(r: _Reader, vmas: tuple[VmaInit, ...], targets: tuple[MmapTarget, ...], events: list[str]) -> None:
    """MAP_PRIVATE VMAs (anonymous memory, kernel/cow.py) go only with what the model covers."""
    if any(t.prot in PRIVATE_PROTS for t in targets):
        raise r.fail("mmap_target", "a private mapping can only be an initial [[vma]]")
    if not any(vm.prot in PRIVATE_PROTS for vm in vmas):
        return
    other = [e for e in events if e not in PRIVATE_EVENTS]
    if other:
        raise r.fail("events.enabled", f"with a private VMA only {', '.join(PRIVATE_EVENTS)} are modelled; got {', '.join(other)}")
    if any(vm.prot == PROT_NAMES["rw"] for vm in vmas):
        raise r.fail("vma", "a shared rw VMA would change the file under a private one's unwritten COW copy: not modelled")


def _targets(r: _Reader, items: Any, sizes: Mapping[str, int]) -> tuple[MmapTarget, ...]:
    if not isinstance(items, list):
        raise r.fail("mmap_target", "must be an array of tables ([[mmap_target]])")
    out = []
    for i, item in enumerate(items):
        where = f"mmap_target[{i}]"
        if not isinstance(item, dict):
            raise r.fail(where, "must be a table")
        r.keys(item, where, ("file", "offset", "prot"))
        f = r.int_(item.get("file", 0), f"{where}.file", 0, sizes["files"] - 1)
        off = r.int_(item.get("offset", 0), f"{where}.offset", 0, sizes["offsets"] - 1)
        prot = PROT_NAMES[r.choice(item.get("prot", "r"), f"{where}.prot", tuple(PROT_NAMES))]
        out.append(MmapTarget(f, off, prot))
    return tuple(out)


def _cpus(r: _Reader, table: Any, sizes: Mapping[str, int]) -> tuple[tuple[int, ...], tuple[frozenset[str] | None, ...]]:
    if not isinstance(table, dict):
        raise r.fail("cpu", "must be a table of CPU numbers ([cpu.0], [cpu.1], ...)")
    cpu_mm = [0] * sizes["cpus"]
    roles: list[frozenset[str] | None] = [None] * sizes["cpus"]
    for key, item in table.items():
        if not key.isdigit() or not 0 <= int(key) < sizes["cpus"]:
            raise r.fail(f"cpu.{key}", f"CPU numbers are 0 to {sizes['cpus'] - 1}")
        c = int(key)
        if not isinstance(item, dict):
            raise r.fail(f"cpu.{key}", "must be a table")
        r.keys(item, f"cpu.{key}", ("mm", "events"))
        if "mm" in item:
            cpu_mm[c] = r.int_(item["mm"], f"cpu.{key}.mm", 0, sizes["mms"] - 1)
        if "events" in item:
            roles[c] = frozenset(r.str_list(item["events"], f"cpu.{key}.events", list(EVENT_KINDS)))
    return tuple(cpu_mm), tuple(roles)
