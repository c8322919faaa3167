"""``lufmodel fuzz SPEC``: hypothesis-driven random runs, for configurations too large to
explore exhaustively.

Prints the seed (rerun with ``--seed`` to get the same run), every violated property with
its shrunk, replayed trace, the verdict on every other property (a fuzz run never proves
an ``always`` property: "unknown"), and a coverage table. Exit codes: 1 a property is
violated; 0 none is, and every ``sometimes`` property was reached; 3 none is, but a
``sometimes`` property was never reached (the run may be vacuous) or the run was cut
short (``--timeout``, Ctrl-C); 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from typing import Any, Sequence

from lufmodel.errors import LufModelError
from lufmodel.fuzz import SCHEDULES, FuzzProgress, FuzzResult, fuzz
from lufmodel.model import Model, Property
from lufmodel.render.text import render_trace
from lufmodel.results import UNKNOWN, VIOLATED, PropertyResult

EXIT_VIOLATED = 1
EXIT_BAD_INPUT = 2
EXIT_INCONCLUSIVE = 3

OVERRIDES = ("cpus", "frames", "mms", "files", "offsets")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "fuzz",
        help="random runs driven by hypothesis (for configurations too large to explore)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("spec", metavar="SPEC", help="a spec file (TOML)")
    p.add_argument("--examples", type=int, default=200, metavar="N", help="runs to try (default: 200)")
    p.add_argument("--steps", type=int, default=50, metavar="M", help="steps per run, at most (default: 50)")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="the seed (default: a fresh one, printed)")
    p.add_argument("--no-swarm", action="store_true", help="allow every action kind in every run")
    p.add_argument(
        "--schedule", choices=SCHEDULES, default="mixed",
        help="random: rules pick; pct: CPU priorities with change points; sticky: few CPU switches; "
        "mixed: one of them per run (default)",
    )
    p.add_argument(
        "--property", action="append", default=None, metavar="NAME",
        help="check only this property (repeatable; default: the spec's selection)",
    )
    for name in OVERRIDES:
        p.add_argument(f"--{name}", type=int, default=None, metavar="N", help=f"override the spec's {name}")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="wall-clock limit, seconds")
    p.add_argument(
        "--backend", choices=("compiled", "interpreter"), default="compiled",
        help="successor computation (default: compiled; traces are always replayed by the interpreter)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for name in ("examples", "steps"):
        if getattr(args, name) < 1:
            print(f"error: --{name} must be at least 1, got {getattr(args, name)}", file=sys.stderr)
            return EXIT_BAD_INPUT
    overrides = {name: getattr(args, name) for name in OVERRIDES if getattr(args, name) is not None}
    try:
        from lufmodel.spec import load_spec

        spec = load_spec(args.spec, overrides or None)
    except (LufModelError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    model: Model = spec.model
    props = _selected(model, spec.props, args.property)
    if props is None:
        return EXIT_BAD_INPUT
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    swarm = not args.no_swarm
    show_progress = not args.json and sys.stderr.isatty()
    if not args.json:
        print(
            f"fuzz {args.spec}{_override_text(overrides)}: seed {seed}, {args.examples} examples × {args.steps} steps, "
            f"swarm {'on' if swarm else 'off'}, schedule {args.schedule}",
            flush=True,
        )
    result = fuzz(
        model,
        props,
        examples=args.examples,
        steps=args.steps,
        seed=seed,
        swarm=swarm,
        schedule=args.schedule,
        progress=_print_progress if show_progress else None,
        timeout=args.timeout,
        backend=args.backend,
        spec_name=spec.name,
    )
    if show_progress:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(to_json(result, args.spec), indent=1))
    else:
        print(render_result(result, args.spec, _override_text(overrides)), end="")
    return exit_code(result)


def _override_text(overrides: dict[str, int]) -> str:
    return "".join(f" --{k} {v}" for k, v in overrides.items())


def _print_progress(p: FuzzProgress) -> None:
    found = f", violated: {', '.join(p.violated)}" if p.violated else ""
    print(f"\r\033[K{p.examples} examples, {p.steps} steps, {p.seconds:.1f}s{found}", end="", file=sys.stderr, flush=True)


def _selected(model: Model, default: Sequence[Property], names: Sequence[str] | None) -> tuple[Property, ...] | None:
    if not names:
        return tuple(default)
    known = {p.name: p for p in model.properties}
    unknown = [n for n in names if n not in known]
    if unknown:
        print(
            f"error: {model.name} has no property {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            file=sys.stderr,
        )
        return None
    return tuple(known[n] for n in names)


def exit_code(result: FuzzResult) -> int:
    verdicts = [r.verdict for r in result.run.results]
    if VIOLATED in verdicts:
        return EXIT_VIOLATED
    unreached = any(r.verdict == UNKNOWN and not r.prop.is_always for r in result.run.results)
    if unreached or result.run.stopped_by is not None:
        return EXIT_INCONCLUSIVE
    return 0


# ---- text -------------------------------------------------------------------------------


def _trace_text(r: PropertyResult) -> str:
    if r.trace is None:
        return ""
    return render_trace(r.trace)


def render_result(result: FuzzResult, spec_path: str, overrides: str = "") -> str:
    run = result.run
    out: list[str] = []
    width = max((len(r.prop.name) for r in run.results), default=0)
    for r in run.results:
        depth = f"depth {r.depth}" if r.depth is not None else ""
        out.append(f"{r.verdict:<9} {r.prop.name:<{width}}  {depth:<9} {r.note}".rstrip())
    for r in run.results:
        if r.verdict == VIOLATED and r.trace is not None:
            out.append("")
            out.append(f"{r.prop.name}: {r.prop.doc}")
            out.append(_trace_text(r).rstrip("\n"))
    out.append("")
    out.extend(coverage_table(result))
    out.append("")
    stopped = f", stopped by {run.stopped_by}" if run.stopped_by else ""
    out.append(
        f"{result.examples} examples (+{result.shrink_examples} shrinking), {result.steps} steps, "
        f"{run.stats.states} distinct states, longest run {run.stats.depth}, "
        f"{run.stats.seconds:.2f}s, seed {result.seed}{stopped}"
    )
    flags = ("" if result.swarm else " --no-swarm") + ("" if result.schedule == "mixed" else f" --schedule {result.schedule}")
    out.append(f"rerun: lufmodel fuzz {spec_path}{overrides} --seed {result.seed} --examples {result.budget} "
               f"--steps {result.max_steps}{flags}")
    return "\n".join(out) + "\n"


def coverage_table(result: FuzzResult) -> list[str]:
    cov = result.coverage
    rows: list[tuple[str, str, int]] = []
    rows.extend(("kind", name, n) for name, n in cov.kinds)
    rows.extend(("action", name, n) for name, n in cov.actions)
    rows.extend(("sometimes", name, n) for name, n in cov.sometimes)
    width = max([len(name) for _, name, _ in rows] + [len("swarm-starved")])
    lines = [f"{'coverage':<10} {'':<{width}}  count"]
    for what, name, n in rows:
        unit = "examples" if what == "sometimes" else "fired"
        flag = "  <- never" if n == 0 else ""
        lines.append(f"{what:<10} {name:<{width}}  {n:>6} {unit}{flag}")
    lines.append(f"{'ended':<10} {'deadlock':<{width}}  {cov.deadlocks:>6} examples")
    lines.append(f"{'ended':<10} {'swarm-starved':<{width}}  {cov.starved:>6} examples")
    return lines


# ---- JSON -------------------------------------------------------------------------------


def to_json(result: FuzzResult, spec_path: str) -> dict[str, Any]:
    run = result.run
    return {
        "spec": spec_path,
        "name": run.spec,
        "engine": run.engine,
        "seed": result.seed,
        "budget": result.budget,
        "examples": result.examples,
        "shrink_examples": result.shrink_examples,
        "steps": result.steps,
        "max_steps": result.max_steps,
        "swarm": result.swarm,
        "schedule": result.schedule,
        "rounds": result.rounds,
        "stopped_by": run.stopped_by,
        "stats": {
            "distinct_states": run.stats.states,
            "transitions": run.stats.transitions,
            "longest_run": run.stats.depth,
            "seconds": round(run.stats.seconds, 3),
        },
        "results": [
            {
                "property": r.prop.name,
                "modality": r.prop.modality,
                "verdict": r.verdict,
                "depth": r.depth,
                "note": r.note,
                "trace": None
                if r.trace is None
                else [{"action": s.instance.action.name, "args": s.instance.args.as_dict(), "cpu": s.instance.cpu}
                      for s in r.trace.steps],
            }
            for r in run.results
        ],
        "coverage": {
            "kinds": dict(result.coverage.kinds),
            "actions": dict(result.coverage.actions),
            "sometimes": dict(result.coverage.sometimes),
            "deadlocks": result.coverage.deadlocks,
            "starved": result.coverage.starved,
        },
        "discoveries": [
            {"property": d.prop, "example": d.example, "seconds": round(d.seconds, 3), "first_depth": d.first_depth}
            for d in result.discoveries
        ],
    }
