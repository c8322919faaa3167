"""What the commands share: loading specs with one-line errors, progress, printing results."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Sequence

from lufmodel.errors import LufModelError, SpecError
from lufmodel.explore import Progress
from lufmodel.model import Property
from lufmodel.results import RunResult
from lufmodel.spec import DEFAULT_SPEC, Spec, load_spec


class UsageError(Exception):
    """Bad input: the CLI prints the message and exits 2."""


def load_specs(paths: Sequence[str], overrides: dict[str, int] | None = None) -> list[Spec]:
    """Load every spec (the bundled default when none is given); raise UsageError on bad input."""
    if not paths:
        paths = [str(DEFAULT_SPEC)]
    specs = []
    for path in paths:
        try:
            specs.append(load_spec(path, overrides))
        except SpecError as exc:
            raise UsageError(str(exc)) from None
    return specs


def select_props(spec: Spec, names: Sequence[str] | None) -> tuple[Property, ...]:
    if not names:
        return spec.props
    known = [p.name for p in spec.model.properties]
    out = []
    for n in names:
        if n not in known:
            raise UsageError(f"{spec.path}: --property {n}: unknown property; allowed: {', '.join(known)}")
        out.append(spec.model.prop(n))
    return tuple(out)


def progress_printer(label: str, after: float = 2.0) -> Callable[[Progress], None] | None:
    """A progress line on stderr for runs longer than ``after`` seconds; none when not a terminal."""
    if not sys.stderr.isatty():
        return None
    start = time.monotonic()

    def show(p: Progress) -> None:
        if time.monotonic() - start < after:
            return
        rate = p.states / p.seconds if p.seconds > 0 else 0.0
        sys.stderr.write(f"\r{label}: {p.states:,} states, {p.transitions:,} transitions, depth {p.depth}, "
                         f"{rate:,.0f} states/s, {p.seconds:.0f} s   ")
        sys.stderr.flush()

    return show


def end_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def summary_lines(run: RunResult) -> list[str]:
    """The per-property verdict lines of a run, with the rule-versus-safety distinction."""
    s = run.stats
    if run.complete:
        how = "exhaustive"
    elif run.stopped_by == "decided":
        how = "stopped: every property decided"
    else:
        how = f"stopped by {run.stopped_by}"
    if run.engine == "explicit":
        size = f"{s.states:,} states, {s.transitions:,} transitions, depth {s.depth}"
    else:
        size = f"depth {s.depth}"
    if run.collision_probability is not None:
        how += f"; 64-bit fingerprints, collision probability {run.collision_probability:.1e}"
    if run.reduction is not None:
        how += f"; {run.reduction}: states are representatives"
    lines = [f"{run.spec} [{run.engine}]: {size}, {s.seconds:.2f} s ({how})"]
    width = max((len(r.prop.name) for r in run.results), default=4)
    for r in run.results:
        if r.verdict == "violated" and r.prop.is_always:
            text = f"VIOLATED at depth {r.depth}"
        elif r.verdict == "violated":
            text = f"VACUOUS ({r.note})"
        elif r.verdict == "holds" and not r.prop.is_always:
            text = f"reached at depth {r.depth}"
        elif r.verdict == "holds":
            text = f"holds ({r.note})"
        elif r.verdict == "bounded":
            text = f"holds up to depth {r.depth}"
        else:
            text = f"unknown ({r.note})"
        lines.append(f"  {r.prop.name:<{width}}  {text}  [{r.prop.category}]")
    rules = [r.prop.name for r in run.results if r.prop.category == "rule" and r.verdict == "violated"]
    unsafe = [r.prop.name for r in run.results if r.prop.category == "safety" and r.verdict == "violated"]
    if rules and not unsafe and any(r.prop.category == "safety" for r in run.results):
        lines.append(f"  note: rule {', '.join(rules)} is broken but no checked safety property is")
    return lines


def print_json(runs: Sequence[dict[str, Any]]) -> None:
    from lufmodel.report import document

    print(json.dumps(document(runs), indent=2))


def run_guarded(fn: Callable[[], int]) -> int:
    """Run a command body; bad input becomes one line on stderr and exit 2."""
    try:
        return fn()
    except UsageError as exc:
        print(f"lufmodel: {exc}", file=sys.stderr)
        return 2
    except SpecError as exc:
        print(f"lufmodel: {exc}", file=sys.stderr)
        return 2
    except LufModelError as exc:
        print(f"lufmodel: internal error: {exc}", file=sys.stderr)
        return 4



def load_specs_or_exit(paths: Sequence[str], overrides: dict[str, int] | None = None) -> list[Spec]:
    """``load_specs`` for commands that print and exit 2 on bad input themselves."""
    try:
        return load_specs(paths, overrides)
    except UsageError as exc:
        print(f"lufmodel: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def print_run(run: RunResult, json: bool = False) -> None:
    """Print one run: its verdict lines and each counterexample (or a JSON document)."""
    if json:
        from lufmodel.report import run_to_json

        print_json([run_to_json(run)])
        return
    from lufmodel.render.text import render_trace

    print("\n".join(summary_lines(run)))
    for r in run.results:
        if r.trace is not None and r.prop.is_always:
            print()
            print(f"{r.prop.name}: counterexample, {r.depth} steps (replayed)")
            print(render_trace(r.trace))


def add_engine_options(p: Any) -> None:
    """``--engine`` and ``--threads`` of the explicit explorer."""
    p.add_argument("--engine", choices=("auto", "native", "python"), default="auto",
                   help="explicit engine: native (compiled C, 64-bit fingerprints), python (generated Python, "
                        "full states, exact), auto (native if a C compiler is available; default)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="threads for the native engine's level expansion (default 1)")
    p.add_argument("--symmetry", action="store_true",
                   help="native engine: store one state per renaming of page frames and of CPUs with the same "
                        "role (same verdicts, depths and CPU switches; fewer states)")


def check_engine_options(args: Any) -> str | None:
    """A one-line error for a bad ``--threads``, else None."""
    if args.threads < 1 or args.threads > 64:
        return f"lufmodel: --threads: must be from 1 to 64, got {args.threads}"
    if args.symmetry and args.engine == "python":
        return "lufmodel: --symmetry: needs the native engine (--engine native or auto), not python"
    return None


def check_symmetry(spec: Spec, args: Any) -> None:
    """A spec whose model declares no symmetry cannot be reduced: a one-line error."""
    if getattr(args, "symmetry", False) and spec.model.symmetry is None:
        raise SpecError(f"{spec.path}: --symmetry: the model has no symmetry (a single frame and no two CPUs with the same role, or a variable family kernel/symmetry.py does not classify)")
