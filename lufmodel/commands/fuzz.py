"""``lufmodel fuzz SPEC``: random runs of the model (seeded random walks that continue from
archived states, or hypothesis stateful testing), for configurations too large to explore
exhaustively.

Prints the seed (rerun with ``--seed`` to get the same run), every violated property with
its shrunk, replayed trace, the verdict on every other property (a fuzz run never proves
an ``always`` property: "unknown"), and a coverage table. ``--json`` prints verify's
document (format 1) with ``"engine": "fuzz"`` and a ``"fuzz"`` object per spec: seed,
budget, runs and steps made, coverage of action kinds, actions and ``sometimes``
properties, and when each property was first shown. Exit codes: 1 a property is violated;
0 none is, and every ``sometimes`` property was reached; 3 none is, but a ``sometimes``
property was never reached (the run may be vacuous) or the run was cut short
(``--timeout``, Ctrl-C); 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from typing import Any, Sequence

from lufmodel.errors import LufModelError
from lufmodel.fuzz import DEFAULTS, ENGINES, SCHEDULES, FuzzProgress, FuzzResult, fuzz
from lufmodel.model import Model, Property
from lufmodel.render.text import render_trace
from lufmodel.report import document, run_to_json
from lufmodel.results import UNKNOWN, VIOLATED, PropertyResult

EXIT_VIOLATED = 1
EXIT_BAD_INPUT = 2
EXIT_INCONCLUSIVE = 3

OVERRIDES = ("cpus", "frames", "mms", "files", "offsets")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "fuzz",
        help="random runs (for configurations too large to explore)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("spec", metavar="SPEC", help="a spec file (TOML)")
    walk, hyp = DEFAULTS["walk"], DEFAULTS["hypothesis"]
    p.add_argument("--examples", type=int, default=None, metavar="N",
                   help=f"runs to make (default: {walk[0]} walk, {hyp[0]} hypothesis)")
    p.add_argument("--steps", type=int, default=None, metavar="M",
                   help=f"steps per run, at most (default: {walk[1]} walk, {hyp[1]} hypothesis)")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="the seed (default: a fresh one, printed)")
    p.add_argument("--engine", choices=ENGINES, default="walk",
                   help="walk: seeded random walks that continue from archived states (default); "
                        "hypothesis: hypothesis stateful testing (slower; shrinks its draws)")
    p.add_argument("--no-archive", action="store_true",
                   help="walk: start every run at the initial state (a plain random walk with restarts)")
    p.add_argument("--no-swarm", action="store_true", help="allow every action kind and CPU in every run")
    p.add_argument(
        "--schedule", choices=SCHEDULES, default="mixed",
        help="random: uniform over kinds; sticky: few CPU switches; path: few switches inside a kernel path, "
        "more at its end; pct: CPU priorities with change points; mixed: one of random/sticky/path per run "
        "(default)",
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
    args.examples = DEFAULTS[args.engine][0] if args.examples is None else args.examples
    args.steps = DEFAULTS[args.engine][1] if args.steps is None else args.steps
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
            f"fuzz {args.spec}{_override_text(overrides)}: {args.engine}, seed {seed}, {args.examples} runs × "
            f"{args.steps} steps, swarm {'on' if swarm else 'off'}, schedule {args.schedule}"
            f"{', no archive' if args.no_archive else ''}",
            flush=True,
        )
    result = fuzz(
        model,
        props,
        examples=args.examples,
        steps=args.steps,
        seed=seed,
        engine=args.engine,
        swarm=swarm,
        schedule=args.schedule,
        archive=not args.no_archive,
        progress=_print_progress if show_progress else None,
        timeout=args.timeout,
        backend=args.backend,
        spec_name=spec.name,
    )
    if show_progress:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(document([to_json(result, args.spec)]), indent=2))
    else:
        print(render_result(result, args.spec, _override_text(overrides)), end="")
    return exit_code(result)


def _override_text(overrides: dict[str, int]) -> str:
    return "".join(f" --{k} {v}" for k, v in overrides.items())


def _print_progress(p: FuzzProgress) -> None:
    found = f", violated: {', '.join(p.violated)}" if p.violated else ""
    print(f"\r\033[K{p.examples} runs, {p.steps} steps, {p.seconds:.1f}s{found}", end="", file=sys.stderr, flush=True)


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
    shrinking = f" (+{result.shrink_examples} shrinking)" if result.shrink_examples else ""
    states = f"{'at least ' if result.coverage.states_capped else ''}{run.stats.states} distinct states"
    cells = f", {result.coverage.cells} cells" if result.engine == "walk" else ""
    out.append(
        f"{result.examples} runs{shrinking}, {result.steps} steps, {states}{cells}, longest run {run.stats.depth}, "
        f"{run.stats.seconds:.2f}s, seed {result.seed}{stopped}"
    )
    flags = (("" if result.engine == "walk" else f" --engine {result.engine}")
             + ("" if result.archive else " --no-archive")
             + ("" if result.swarm else " --no-swarm")
             + ("" if result.schedule == "mixed" else f" --schedule {result.schedule}"))
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
        unit = "runs" if what == "sometimes" else "fired"
        flag = "  <- never" if n == 0 else ""
        lines.append(f"{what:<10} {name:<{width}}  {n:>6} {unit}{flag}")
    lines.append(f"{'ended':<10} {'deadlock':<{width}}  {cov.deadlocks:>6} runs")
    lines.append(f"{'ended':<10} {'swarm-starved':<{width}}  {cov.starved:>6} runs")
    return lines


# ---- JSON -------------------------------------------------------------------------------


def to_json(result: FuzzResult, spec_path: str) -> dict[str, Any]:
    """verify's per-spec JSON (``report.run_to_json``: ``"engine": "fuzz"``, verdicts and
    replayed traces) with a ``"fuzz"`` object: what this run did."""
    doc = run_to_json(result.run)
    doc["fuzz"] = {
        "spec_file": spec_path,
        "driver": result.engine,
        "seed": result.seed,
        "budget": result.budget,
        "runs": result.examples,
        "shrink_runs": result.shrink_examples,
        "steps": result.steps,
        "max_steps": result.max_steps,
        "swarm": result.swarm,
        "schedule": result.schedule,
        "archive": result.archive,
        "coverage": {
            "kinds": dict(result.coverage.kinds),
            "actions": dict(result.coverage.actions),
            "sometimes": dict(result.coverage.sometimes),
            "deadlocks": result.coverage.deadlocks,
            "starved": result.coverage.starved,
            "distinct_states": result.coverage.distinct_states,
            "states_capped": result.coverage.states_capped,
            "cells": result.coverage.cells,
        },
        "discoveries": [
            {"property": d.prop, "run": d.example, "steps": d.steps, "seconds": round(d.seconds, 3),
             "first_depth": d.first_depth}
            for d in result.discoveries
        ],
    }
    return doc
