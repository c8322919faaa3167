"""The proposed LUF debug modes as monitors, measured against the model's ground truth.

A monitor is instrumentation the kernel would carry (per-CPU lists, a task's pending set,
a per-page record) and the checks it would WARN at. Each is an ``Observer``
(``model.Observer``): its state rides along with the kernel's own steps and it never
changes what the kernel does. Built only when a spec (or ``lufmodel monitors``) asks:
``Config.monitors``.

* ``bp-debug``: Byungchul Park's June 2024 proposal [BP-debug], literally. Per-CPU lists of
  LUF'd folios and of address spaces, filled for every CPU a flush is skipped for (the
  ``luf_deferral`` event of ``reclaim.fold``, reclaim and migration alike); per task
  ``luf_pending_cpus`` (a task is a CPU running one mm). ``try_to_unmap_flush()`` (a
  ``flush`` event: ``flush.flush_cpus``, the batch flush every ``try_to_unmap_flush`` and
  ``luf_flush*`` runs) empties the lists of the flushed CPUs and clears them from the
  current task's pending set; ``flush_tlb_mm``/``flush_tlb_page`` do not. ``pte_mkwrite``
  adds every CPU whose list holds the folio; ``write_end`` every CPU whose list holds the
  mapping; the WARN on return to user (and after ``write_end`` and its flush, which in the
  model is the same moment: the write path returns right after) fires if the current task's
  set is not empty.
* ``v12-debug``: LUF v12's ``CONFIG_LUF_DEBUG`` (25/25): on a free with a ``luf_key`` the
  page's ``page_ext`` copy folds in the key's CPUs (``luf_free``); a CPU is covered once it
  is flushed (a ``flush`` event; the ideal bookkeeping's ``ugen_done``); WARN at
  ``pte_mkwrite``, ``kmap`` (``kmap`` events: write(2)'s copy, a slab's first write, a
  device write) and take-off (``takeoff``) if the page's record is not covered. It checks
  pages, not page-cache positions. Buddy merging (``__free_one_page``) is not modelled.

A variant ``BASE+fix+fix`` adds proposed fixes to a base design (``FIXES``).

Ground truth (observer ``ground-truth``, shared by the monitors of a run): per rule (R1,
R2) and CPU, whether that CPU's step broke the rule (``gt_rule_broken``), and whether a
safety property (P0–P6, as modelled) was broken so far (``gt_harm``). The observer evaluates
the model's own property predicates (``properties.py``), never a copy.

Derived properties, per monitor ``M`` (category ``monitor``):

* ``M:missed:P`` for a safety property P: P's own predicate, or M has warned before the
  violating step (an event property: ``M`` warned in its pre-state) or in the violating
  state (a state property).
* ``M:missed:R`` for a rule R: no CPU is back in user mode after breaking R (the rule's
  corruption becomes observable) while M has not warned.
* ``M:false_alarm``: M has not warned while no rule nor property was broken so far.
* ``M:alarm_without_harm``: M has not warned while no safety property was broken so far
  (a warning about a rule broken harmlessly, e.g. by migration: reference §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from lufmodel import ops as O
from lufmodel.builder import ModelBuilder, VarArray
from lufmodel.errors import ModelDefinitionError
from lufmodel.kernel import events as E
from lufmodel.kernel.properties import luf_stale
from lufmodel.kernel.state import FENCE_STEPS, Kernel, WriteView, pick, put
from lufmodel.model import Action, Args, Event, Property, Read, Var, Write
from lufmodel.ops import Expr, Ops

BASES: dict[str, str] = {
    "bp-debug": "Byungchul Park's LUF_DEBUG proposal (June 2024): per-CPU luf lists, task luf_pending_cpus, "
                "WARN on return to user",
    "v12-debug": "LUF v12's CONFIG_LUF_DEBUG: per-page page_ext batch, WARN at pte_mkwrite, kmap and take-off",
}

FIXES: dict[str, dict[str, str]] = {
    "bp-debug": {
        "takeoff-check": "WARN when a folio still on some CPU's luf_folios list leaves the free lists (take-off)",
        "copy-check": "WARN when the kernel writes into a page (write(2)'s copy, DMA) whose mapping is on some CPU's "
                      "luf_address_spaces list, not only after write_end",
        "mkwrite-check": "WARN at pte_mkwrite itself (not on return to user) if the folio or its mapping is on some "
                         "CPU's list",
        "mm-list": "per-CPU lists of mms too; WARN when munmap/mprotect/mmap returns while its mm is on some CPU's list",
    },
    "v12-debug": {
        "object-level": "a per-mapping record next to the per-page one; WARN at pte_mkwrite and at the kernel's "
                        "write into a page of a mapping whose record is not covered",
        "mm-level": "a per-mm record; WARN when munmap/mprotect/mmap returns while its mm's record is not covered",
    },
}
"""Proposed fixes of each base design, each closing a blind spot the checker found."""

RULES_CHECKED = ("R1", "R2", "R1_refined", "R2_refined")
SAFETY_CHECKED = ("P0", "P1", "P2_strict", "P2_causal", "P3", "P4", "P5", "P6")
CATEGORY = "monitor"
TRUTH = "ground-truth"
"""The pseudo-monitor that builds only the ground truth (``Config.monitors``)."""
CLEAN = "luf:clean"
MISSED = "missed"
FALSE_ALARM = "false_alarm"
ALARM_WITHOUT_HARM = "alarm_without_harm"


@dataclass(frozen=True)
class MonitorName:
    """A monitor: a base design and the fixes added to it."""

    base: str
    fixes: tuple[str, ...]

    @property
    def name(self) -> str:
        return "+".join((self.base,) + self.fixes)


def parse(name: str) -> MonitorName:
    """``BASE[+FIX...]`` (or ``ground-truth``); raise ``ValueError`` naming what is allowed."""
    if name == TRUTH:
        return MonitorName(TRUTH, ())
    base, *fixes = name.split("+")
    if base not in BASES:
        raise ValueError(f"unknown monitor {base!r}; allowed: {', '.join(BASES)}")
    for f in fixes:
        if f not in FIXES[base]:
            allowed = ", ".join(FIXES[base]) or "none"
            raise ValueError(f"monitor {name!r}: {base} has no fix {f!r}; allowed: {allowed}")
    if len(set(fixes)) != len(fixes):
        raise ValueError(f"monitor {name!r} names a fix twice")
    return MonitorName(base, tuple(fixes))


def property_name(monitor: str, cell: str, prop: str | None = None) -> str:
    return ":".join(x for x in (monitor, cell, prop) if x)


# ---- what every monitor shares ------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What a monitor sees of one transition."""

    k: Kernel
    ops: Ops
    s: Read
    action: Action
    args: Args
    w: Write
    events: Sequence[Event]

    @property
    def cpu(self) -> int | None:
        if self.action.cpu_param is None:
            return None
        return int(getattr(self.args, self.action.cpu_param))

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def get(self, var: Var) -> Expr:
        return self.w.get(var)

    def file_of(self, obj: Expr) -> Expr:
        return O.select(self.ops, obj, [self.ops.const(self.k.file_of(o)) for o in self.k.objs])

    def in_file(self, obj: Expr, per_file: Sequence[Expr]) -> Expr:
        """``per_file[file of obj]`` for a file page ``obj``; false for an anonymous one."""
        ops = self.ops
        return O.any_(ops, [ops.and_(ops.eq(obj, ops.const(o)), per_file[self.k.file_of(o)]) for o in self.k.objs])

    def kernel_writes(self) -> list[tuple[Expr, Expr]]:
        """``(when, obj)`` of every content change the kernel makes through its own mapping of
        the page (a step that both changes an object's content and kmaps a page: write(2)'s
        copy, a device write), not a user store."""
        if not self.of(E.KMAP):
            return []
        return [(e.when, e.fields["obj"]) for e in self.of("content_change")]

    def fence_returns(self) -> Expr:
        """The step returns to user mode from munmap/mprotect/mmap/mremap (``FENCE_STEPS``)."""
        c = self.cpu
        back = self.returns_to_user()
        if c is None or back is None:
            return self.ops.const(False)
        ops = self.ops
        was = O.any_(ops, [ops.eq(self.s[self.k.pc[c]], ops.const(self.k.pcs[x])) for x in FENCE_STEPS if x in self.k.pcs])
        return ops.and_(back, was)

    def mkwrite(self) -> list[tuple[Expr, Expr, Expr]]:
        """``(when, frame, obj)`` of every ``pte_mkwrite`` of this step: a ``set_pte`` event
        that makes the PTE writable; the frame is what the PTE maps after the step."""
        return [(when, frame, e.fields["obj"]) for (when, frame), e in zip(self.mkwrite_frames(), self._writable_sets())]

    def _writable_sets(self) -> list[Event]:
        return [e for e in self.of("set_pte") if "writable" in e.fields]

    def mkwrite_frames(self) -> list[tuple[Expr, Expr]]:
        """``(when, frame)`` of every ``pte_mkwrite`` of this step: a ``set_pte`` event
        that makes the PTE writable; the frame is what the PTE maps after the step."""
        ops, k = self.ops, self.k
        out = []
        for e in self.of("set_pte"):
            if "writable" not in e.fields:
                continue
            val = ops.const(0)
            for m in k.mms:
                for v in k.vas:
                    here = ops.and_(ops.eq(e.fields["mm"], ops.const(m)), ops.eq(e.fields["va"], ops.const(v)))
                    val = ops.ite(here, self.get(k.pte[m, v]), val)
            when = ops.and_(e.when, e.fields["writable"], ops.not_(ops.eq(val, ops.const(0))))
            out.append((when, ops.sub(val, ops.const(1))))
        return out

    def returns_to_user(self) -> Expr | None:
        """The step moves its CPU's pc to user mode (None: it cannot)."""
        c = self.cpu
        if c is None or self.k.pc[c] not in self.w.assigned:
            return None
        user = self.ops.const(self.k.pcs["user"])
        return self.ops.and_(self.ops.not_(self.ops.eq(self.s[self.k.pc[c]], user)), self.ops.eq(self.get(self.k.pc[c]), user))


def _or_into(ops: Ops, w: Write, var: Var, when: Expr) -> None:
    w[var] = ops.or_(w.get(var), when)


def _clear_where(ops: Ops, w: Write, var: Var, when: Expr) -> None:
    w[var] = ops.and_(ops.not_(when), w.get(var))


# ---- ground truth ------------------------------------------------------------------------


@dataclass(frozen=True)
class Truth:
    broken: VarArray  # (rule,): the rule was broken so far
    at: VarArray  # (rule, cpu): where the CPU broke the rule (a location code), until it is back in user mode
    escaped: VarArray  # (rule,): a CPU came back to user mode with the flush its break owed still owed
    harm: Var  # a safety property was broken so far
    rules: tuple[Property, ...]
    safety: tuple[Property, ...]


def _reads(pred: Callable[[Ops, Read], Expr]) -> frozenset[Var]:
    """The variables a state predicate reads (it reads the same ones in every state)."""
    from lufmodel.backends.codegen import CodegenOps

    seen: set[Var] = set()

    class Spy:
        def __getitem__(self, var: Var) -> Expr:
            seen.add(var)
            return f"s[{var.pos}]"

    pred(CodegenOps(), Spy())
    return frozenset(seen)


LOCATION_FIELDS = ("mm", "va", "obj")
"""What a rule's event says about where it was broken (a ``set_pte``: the PTE and its
object; a ``slot_insert``: the object)."""


def _location_sizes(k: Kernel) -> tuple[int, int, int]:
    return k.cfg.mms, k.cfg.vpages, max(1, k.cfg.all_objects)


def _encode(k: Kernel, ops: Ops, fields: Mapping[str, Expr]) -> Expr:
    """A location as one number ``1 + (mm * vpages + va) * objects + obj`` (0: none)."""
    _, nv, no = _location_sizes(k)
    mm, va, obj = (fields.get(f, ops.const(0)) for f in LOCATION_FIELDS)
    return ops.add(ops.const(1), ops.add(obj, _mul(ops, ops.add(_mul(ops, mm, nv), va), no)))


def _mul(ops: Ops, x: Expr, n: int) -> Expr:
    out = ops.const(0)
    for _ in range(n):
        out = ops.add(out, x)
    return out


def _decode(k: Kernel, ops: Ops, code: Expr) -> dict[str, Expr]:
    nm, nv, no = _location_sizes(k)
    fields = {f: ops.const(0) for f in LOCATION_FIELDS}
    for m in range(nm):
        for v in range(nv):
            for o in range(no):
                here = ops.eq(code, ops.const(1 + (m * nv + v) * no + o))
                for f, x in zip(LOCATION_FIELDS, (m, v, o)):
                    fields[f] = ops.ite(here, ops.const(x), fields[f])
    return fields


def involved_in_access(k: Kernel, ops: Ops, s: Read, e: Mapping[str, Expr]) -> Expr:
    """The access goes through a translation whose LUF-deferred flush is still owed
    (``properties.luf_stale`` of its CPU, mm and va): LUF is why it is stale."""
    hits = []
    for c in k.cpus:
        for m in k.mms:
            for v in k.vas:
                here = ops.and_(ops.eq(e["cpu"], ops.const(c)), ops.eq(e["mm"], ops.const(m)), ops.eq(e["va"], ops.const(v)))
                hits.append(ops.and_(here, luf_stale(k, ops, s, c, m, v)))
    return O.any_(ops, hits)


def involved_in_state(k: Kernel, ops: Ops, s: Read) -> Expr:
    """Some CPU holds a translation whose LUF-deferred flush is still owed."""
    return O.any_(ops, [luf_stale(k, ops, s, c, m, v) for c in k.cpus for m in k.mms for v in k.vas])


def involved_on(k: Kernel, p: Property) -> Callable[[Ops, Read, Mapping[str, Expr]], Expr]:
    """Whether an event's violation of ``p`` involves LUF: an access through a LUF-stale
    translation; P5's and P6's events are LUF's own."""
    if p.event == "access":
        return lambda ops, s, e: involved_in_access(k, ops, s, e)
    return lambda ops, s, e: ops.const(True)


def add_truth(k: Kernel, b: ModelBuilder) -> Truth:
    props = {p.name: p for p in b.properties()}
    rules = tuple(props[n] for n in RULES_CHECKED if n in props)
    safety = tuple(props[n] for n in SAFETY_CHECKED if n in props)
    nm, nv, no = _location_sizes(k)
    truth = Truth(
        broken=b.bools("gt_rule_broken", (len(rules),)),
        at=b.array("gt_rule_at", (len(rules), k.cfg.cpus), 0, nm * nv * no),
        escaped=b.bools("gt_rule_escaped", (len(rules),)),
        harm=b.bools("gt_harm", ())[()],
        rules=rules,
        safety=safety,
    )
    state_deps = {p.name: _reads(p.state_pred) | _reads(lambda ops, s: involved_in_state(k, ops, s))
                  for p in safety if p.state_pred is not None}

    def broken_by(ops: Ops, s: Read, p: Property, events: Sequence[Event]) -> list[tuple[Expr, Event]]:
        """P broken by each of this step's events (which events a step emits is static, so
        it decides what the observer assigns, never a state value)."""
        assert p.event_pred is not None
        return [(ops.and_(e.when, ops.not_(p.event_pred(ops, s, e.fields))), e) for e in events if e.kind == p.event]

    def update(ops: Ops, s: Read, act: Action, a: Args, w: Write, events: Sequence[Event]) -> None:
        step = Step(k, ops, s, act, a, w, events)
        c = step.cpu
        post = WriteView(w)
        back = step.returns_to_user()
        for i, p in enumerate(rules):
            assert p.event_pred is not None
            bad = broken_by(ops, s, p, events)
            if bad:
                _or_into(ops, w, truth.broken[i], O.any_(ops, [x for x, _ in bad]))
            if c is None:
                continue
            for x, e in bad:
                w[truth.at[i, c]] = ops.ite(x, _encode(k, ops, e.fields), w.get(truth.at[i, c]))
            if back is not None:
                # Back in user mode: is the flush the break owed still owed? (the rule's own
                # predicate, asked again at the place it was broken)
                code = w.get(truth.at[i, c])
                where = {**_decode(k, ops, code), "writable": ops.const(True)}
                still = ops.and_(ops.not_(ops.eq(code, ops.const(0))), ops.not_(p.event_pred(ops, post, where)))
                _or_into(ops, w, truth.escaped[i], ops.and_(back, still))
                w[truth.at[i, c]] = ops.ite(back, ops.const(0), code)
        harmful: list[Expr] = []
        for p in safety:
            if p.state_pred is not None:
                if state_deps[p.name] & set(w.assigned):
                    harmful.append(ops.and_(ops.not_(p.state_pred(ops, post)), involved_in_state(k, ops, post)))
            else:
                luf = involved_on(k, p)
                harmful += [ops.and_(x, luf(ops, s, e.fields)) for x, e in broken_by(ops, s, p, events)]
        if harmful:
            _or_into(ops, w, truth.harm, O.any_(ops, harmful))

    b.observe("ground-truth", ["gt_rule_broken", "gt_rule_at", "gt_rule_escaped", "gt_harm"], update)
    return truth


# ---- Byungchul's design ------------------------------------------------------------------


@dataclass(frozen=True)
class BpState:
    folios: VarArray  # (cpu, frame): the CPU's luf_folios list holds the folio
    mappings: VarArray  # (cpu, file): the CPU's luf_address_spaces list holds the mapping
    pending: VarArray  # (cpu, mm, cpu2): luf_pending_cpus of the task of mm on cpu
    mms: VarArray  # (cpu, mm): fix mm-list: the CPU's list of mms with a skipped flush
    warned: Var


def _add_bp(k: Kernel, b: ModelBuilder, mon: MonitorName) -> Var:
    n, fixes = mon.name, set(mon.fixes)
    st = BpState(
        folios=b.bools(f"{n}.folios", (k.cfg.cpus, k.cfg.frames)),
        mappings=b.bools(f"{n}.mappings", (k.cfg.cpus, k.cfg.files)),
        pending=b.bools(f"{n}.pending", (k.cfg.cpus, k.cfg.mms, k.cfg.cpus)),
        mms=b.bools(f"{n}.mms", (k.cfg.cpus if "mm-list" in fixes else 0, k.cfg.mms)),
        warned=b.bools(f"{n}.warned", ())[()],
    )
    mm_list = "mm-list" in fixes

    def update(ops: Ops, s: Read, act: Action, a: Args, w: Write, events: Sequence[Event]) -> None:
        step = Step(k, ops, s, act, a, w, events)
        c = step.cpu
        warn: list[Expr] = []

        def task_pending(c2: int) -> list[Var]:
            return [st.pending[c if c is not None else 0, m, c2] for m in k.mms]

        def add_pending(when: Sequence[Expr]) -> None:
            if c is None:
                return
            for c2 in k.cpus:
                put(ops, w, task_pending(c2), s[k.mm[c]], ops.const(True), when=when[c2])

        def listing_folio(frame: Expr) -> list[Expr]:
            return [pick(ops, frame, [w.get(st.folios[c2, p]) for p in k.frames]) for c2 in k.cpus]

        def listing_mapping(obj: Expr) -> list[Expr]:
            return [step.in_file(obj, [w.get(st.mappings[c2, f]) for f in range(k.cfg.files)]) for c2 in k.cpus]

        # try_to_unmap_flush(): for each flushed CPU, empty its lists and clear it from
        # current->luf_pending_cpus.
        for e in step.of(E.FLUSH):
            mask = E.event_mask(e.fields, k.cfg.cpus)
            for c2 in k.cpus:
                hit = ops.and_(e.when, mask[c2])
                for p in k.frames:
                    _clear_where(ops, w, st.folios[c2, p], hit)
                for f in range(k.cfg.files):
                    _clear_where(ops, w, st.mappings[c2, f], hit)
                for m in k.mms if mm_list else ():
                    _clear_where(ops, w, st.mms[c2, m], hit)
                if c is not None:
                    put(ops, w, task_pending(c2), s[k.mm[c]], ops.const(False), when=hit)
        for e in step.of(E.FLUSH_MM) if mm_list else ():  # flush_tlb_mm: that mm, on every CPU
            for c2 in k.cpus:
                for m in k.mms:
                    _clear_where(ops, w, st.mms[c2, m], ops.and_(e.when, ops.eq(e.fields["mm"], ops.const(m))))
        # A skipped flush: the folio and its mapping join the lists of every skipped CPU.
        for e in step.of(E.LUF_DEFERRAL):
            mask = E.event_mask(e.fields, k.cfg.cpus)
            for c2 in k.cpus:
                hit = ops.and_(e.when, mask[c2])
                put(ops, w, [st.folios[c2, p] for p in k.frames], e.fields["frame"], ops.const(True), when=hit)
                put(ops, w, [st.mappings[c2, f] for f in range(k.cfg.files)], step.file_of(e.fields["obj"]),
                    ops.const(True), when=hit)
                for m in k.mms if mm_list else ():
                    _or_into(ops, w, st.mms[c2, m], ops.and_(hit, e.fields[f"mm{m}"]))
        # pte_mkwrite(): every CPU whose list holds this folio.
        for when, frame, obj in step.mkwrite():
            add_pending([ops.and_(when, x) for x in listing_folio(frame)])
            if "mkwrite-check" in fixes:  # WARN at pte_mkwrite itself, for the folio or its mapping
                warn.append(ops.and_(when, O.any_(ops, listing_folio(frame) + listing_mapping(obj))))
        # after a_ops->write_end(): every CPU whose list holds this mapping.
        for e in step.of(E.WRITE_END):
            add_pending([ops.and_(e.when, x) for x in listing_mapping(e.fields["obj"])])
        if "copy-check" in fixes:  # WARN when the kernel writes into a page whose mapping is listed
            for when, obj in step.kernel_writes():
                warn.append(ops.and_(when, O.any_(ops, listing_mapping(obj))))
        if "takeoff-check" in fixes:  # WARN when a listed folio leaves the free lists
            for e in step.of(E.TAKEOFF):
                warn.append(ops.and_(e.when, O.any_(ops, listing_folio(e.fields["frame"]))))
        # WARN_ON(!cpumask_empty(current->luf_pending_cpus)) on return to user.
        back = step.returns_to_user()
        if back is not None and c is not None:
            mm_now = w.get(k.mm[c])
            pend = O.any_(ops, [pick(ops, mm_now, [w.get(v) for v in task_pending(c2)]) for c2 in k.cpus])
            warn.append(ops.and_(back, pend))
            if mm_list:  # munmap/mprotect/mmap returns while a CPU's list holds the mm
                listed = [pick(ops, mm_now, [w.get(st.mms[c2, m]) for m in k.mms]) for c2 in k.cpus]
                warn.append(ops.and_(step.fence_returns(), O.any_(ops, listed)))
        if warn:
            _or_into(ops, w, st.warned, O.any_(ops, warn))

    families = [f"{n}.folios", f"{n}.mappings", f"{n}.pending", f"{n}.warned"] + ([f"{n}.mms"] if mm_list else [])
    b.observe(n, families, update)
    return st.warned


# ---- LUF v12's CONFIG_LUF_DEBUG -------------------------------------------------------------


@dataclass(frozen=True)
class V12State:
    batch: VarArray  # (frame, cpu): the page's recorded batch holds the CPU, not yet covered
    mapping: VarArray  # (file, cpu): fix object-level: the mapping's recorded batch
    mm: VarArray  # (mm, cpu): fix mm-level: the mm's recorded batch
    warned: Var


def _add_v12(k: Kernel, b: ModelBuilder, mon: MonitorName) -> Var:
    n, fixes = mon.name, set(mon.fixes)
    objects, mms = "object-level" in fixes, "mm-level" in fixes
    st = V12State(
        batch=b.bools(f"{n}.batch", (k.cfg.frames, k.cfg.cpus)),
        mapping=b.bools(f"{n}.mapping", (k.cfg.files if objects else 0, k.cfg.cpus)),
        mm=b.bools(f"{n}.mm", (k.cfg.mms if mms else 0, k.cfg.cpus)),
        warned=b.bools(f"{n}.warned", ())[()],
    )

    def update(ops: Ops, s: Read, act: Action, a: Args, w: Write, events: Sequence[Event]) -> None:
        step = Step(k, ops, s, act, a, w, events)
        # A CPU is covered once it is flushed (ugen_done).
        for e in step.of(E.FLUSH):
            mask = E.event_mask(e.fields, k.cfg.cpus)
            for c2 in k.cpus:
                hit = ops.and_(e.when, mask[c2])
                for p in k.frames:
                    _clear_where(ops, w, st.batch[p, c2], hit)
                for f in range(k.cfg.files) if objects else ():
                    _clear_where(ops, w, st.mapping[f, c2], hit)
                for m in k.mms if mms else ():
                    _clear_where(ops, w, st.mm[m, c2], hit)
        for e in step.of(E.FLUSH_MM) if mms else ():  # arch_mm_mark_ugen() after flush_tlb_mm
            for m in k.mms:
                for c2 in k.cpus:
                    _clear_where(ops, w, st.mm[m, c2], ops.and_(e.when, ops.eq(e.fields["mm"], ops.const(m))))
        # lufd_mark_pages(): fold luf_batch[key] into the page's copy.
        for e in step.of(E.LUF_FREE):
            mask = E.event_mask(e.fields, k.cfg.cpus)
            for c2 in k.cpus:
                put(ops, w, [st.batch[p, c2] for p in k.frames], e.fields["frame"], ops.const(True),
                    when=ops.and_(e.when, mask[c2]))
        for e in step.of(E.LUF_DEFERRAL) if objects or mms else ():  # like mapping->luf_batch, mm->luf_batch
            mask = E.event_mask(e.fields, k.cfg.cpus)
            for c2 in k.cpus:
                hit = ops.and_(e.when, mask[c2])
                if objects:
                    put(ops, w, [st.mapping[f, c2] for f in range(k.cfg.files)], step.file_of(e.fields["obj"]),
                        ops.const(True), when=hit)
                for m in k.mms if mms else ():
                    _or_into(ops, w, st.mm[m, c2], ops.and_(hit, e.fields[f"mm{m}"]))

        def uncovered(frame: Expr) -> Expr:
            return O.any_(ops, [pick(ops, frame, [w.get(st.batch[p, c2]) for p in k.frames]) for c2 in k.cpus])

        def mapping_uncovered(obj: Expr) -> Expr:
            return O.any_(ops, [step.in_file(obj, [w.get(st.mapping[f, c2]) for f in range(k.cfg.files)]) for c2 in k.cpus])

        checks = []
        for when, frame, obj in step.mkwrite():
            checks.append(ops.and_(when, uncovered(frame)))
            if objects:
                checks.append(ops.and_(when, mapping_uncovered(obj)))
        checks += [ops.and_(e.when, uncovered(e.fields["frame"])) for kind in (E.KMAP, E.TAKEOFF) for e in step.of(kind)]
        if objects:
            checks += [ops.and_(when, mapping_uncovered(obj)) for when, obj in step.kernel_writes()]
        c = step.cpu
        if mms and c is not None and step.returns_to_user() is not None:
            mm_now = w.get(k.mm[c])
            checks.append(ops.and_(step.fence_returns(), O.any_(ops, [pick(ops, mm_now, [w.get(st.mm[m, c2]) for m in k.mms])
                                                                      for c2 in k.cpus])))
        if checks:
            _or_into(ops, w, st.warned, O.any_(ops, checks))

    families = [f"{n}.batch", f"{n}.warned"] + ([f"{n}.mapping"] if objects else []) + ([f"{n}.mm"] if mms else [])
    b.observe(n, families, update)
    return st.warned


# ---- derived properties -------------------------------------------------------------------


def _safety_variants(k: Kernel, b: ModelBuilder, truth: Truth, name: str, cell: str, warned: Var | None) -> None:
    """For each safety property P: P's own predicate, or P's violation does not involve
    LUF, or (with a monitor) the monitor has warned. ``luf:P`` (no monitor) is broken iff P
    is broken by LUF; ``M:missed:P`` iff P is broken by LUF before M warned."""
    for p in truth.safety:
        pname = property_name(name, cell, p.name)
        what = f"{p.name} broken through a LUF-stale translation" + (f" before {name} warned" if warned else "")
        if p.event_pred is not None and p.event is not None:
            ep, luf = p.event_pred, involved_on(k, p)

            def on_event(ops: Ops, s: Read, e: Mapping[str, Expr], ep: Callable[..., Expr] = ep,
                         luf: Callable[..., Expr] = luf) -> Expr:
                ok = ops.or_(ep(ops, s, e), ops.not_(luf(ops, s, e)))
                return ok if warned is None else ops.or_(ok, s[warned])

            b.always_on(pname, f"no {what} ({p.doc})", p.event, on_event, category=CATEGORY)
        elif p.state_pred is not None:
            sp = p.state_pred

            def in_state(ops: Ops, s: Read, sp: Callable[[Ops, Read], Expr] = sp) -> Expr:
                ok = ops.or_(sp(ops, s), ops.not_(involved_in_state(k, ops, s)))
                return ok if warned is None else ops.or_(ok, s[warned])

            b.always(pname, f"no {what} ({p.doc})", in_state, category=CATEGORY)


def _derive(k: Kernel, b: ModelBuilder, name: str, warned: Var, truth: Truth) -> None:
    _safety_variants(k, b, truth, name, MISSED, warned)
    for i, p in enumerate(truth.rules):

        def caught_rule(ops: Ops, s: Read, i: int = i) -> Expr:
            return ops.or_(ops.not_(s[truth.escaped[i]]), s[warned])

        b.always(property_name(name, MISSED, p.name),
                 f"{name} has warned by the time a CPU that broke {p.name} is back in user mode with the flush "
                 f"still owed ({p.doc})", caught_rule, category=CATEGORY)

    def broken_rule(ops: Ops, s: Read) -> Expr:
        return O.any_(ops, [s[v] for v in truth.broken.all()])

    def precise(ops: Ops, s: Read) -> Expr:
        return O.implies(ops, s[warned], ops.or_(broken_rule(ops, s), s[truth.harm]))

    def harmful(ops: Ops, s: Read) -> Expr:
        return O.implies(ops, s[warned], s[truth.harm])

    b.always(property_name(name, FALSE_ALARM), f"{name} warns only once a rule or a safety property is broken",
             precise, category=CATEGORY)
    b.always(property_name(name, ALARM_WITHOUT_HARM), f"{name} warns only once a safety property is broken",
             harmful, category=CATEGORY)


def _add_truth_properties(k: Kernel, b: ModelBuilder, truth: Truth) -> None:
    """``luf:P`` per safety property, ``luf:escaped:R`` per rule, and ``luf:clean``: nothing
    was broken so far (what a false alarm's run must keep, lufmodel/monitoring.py)."""
    _safety_variants(k, b, truth, "luf", "", None)
    for i, p in enumerate(truth.rules):

        def kept(ops: Ops, s: Read, i: int = i) -> Expr:
            return ops.not_(s[truth.escaped[i]])

        b.always(f"luf:escaped:{p.name}", f"no CPU breaks {p.name} and is back in user mode with the flush still owed",
                 kept, category=CATEGORY)

    def clean(ops: Ops, s: Read) -> Expr:
        return ops.not_(ops.or_(O.any_(ops, [s[v] for v in truth.broken.all()]), s[truth.harm]))

    b.always(CLEAN, "no rule and no safety property (through a LUF-stale translation) is broken", clean, category=CATEGORY)


def add(k: Kernel, b: ModelBuilder) -> None:
    """The ground truth, every monitor of ``k.cfg.monitors``, and their derived properties.
    ``ground-truth`` alone builds the ground truth and its properties without a monitor."""
    names = k.cfg.monitors
    if not names:
        return
    truth = add_truth(k, b)
    _add_truth_properties(k, b, truth)
    builders = {"bp-debug": _add_bp, "v12-debug": _add_v12}
    for name in names:
        if name == TRUTH:
            continue
        try:
            mon = parse(name)
        except ValueError as exc:
            raise ModelDefinitionError(str(exc)) from None
        warned = builders[mon.base](k, b, mon)
        _derive(k, b, mon.name, warned, truth)
