"""``lufmodel bmc`` and ``lufmodel prove``: the symbolic engine (Z3) from the command line.

``bmc SPEC... --depth K`` checks the selected properties on all runs of at most K steps
(shortest, fewest-switch counterexamples); ``prove SPEC... [--max-k K]`` tries 1-induction
strengthened by the model's lemmas, then k-induction, then Spacer, and says for each property
PROVED (and how), NOT PROVED (with its counterexample to induction, marked possibly
unreachable) or VIOLATED (with a real, replayed trace). Exit codes: 0 every property holds
(or holds within the bound), 1 a property is violated, 2 bad input, 3 unknown / not proved.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import TYPE_CHECKING, Any, Callable

from lufmodel.commands.common import load_specs, print_json, run_guarded, select_props, summary_lines
from lufmodel.explore import Progress
from lufmodel.results import HOLDS, VIOLATED, PropertyResult, RunResult
from lufmodel.spec import Spec
from lufmodel.trace import Trace

if TYPE_CHECKING:
    from lufmodel.symbolic.induction import Proof


def register(subparsers: Any) -> None:
    """Add the ``bmc`` and ``prove`` subcommands."""
    p = subparsers.add_parser(
        "bmc",
        help="bounded model checking with Z3 (shortest, fewest-switch counterexamples)",
        description="Check the properties of each spec on all runs of at most --depth steps with Z3.",
    )
    p.add_argument("specs", nargs="*", metavar="SPEC", help="spec files (default: the bundled LUF v12 spec)")
    p.add_argument("--depth", type=int, required=True, metavar="K", help="the bound: runs of at most K steps")
    _common_options(p)
    p.set_defaults(run=run_bmc)

    q = subparsers.add_parser(
        "prove",
        help="unbounded proofs with Z3: an inductive invariant from lemmas, k-induction, Spacer (CHC)",
        description="Prove the properties of each spec for every reachable state: 1-induction with the "
                    "model's lemmas (each checked), then k-induction, then Spacer. Verdicts: PROVED, "
                    "NOT PROVED (with a counterexample to induction, possibly unreachable), VIOLATED (a "
                    "real, replayed trace).",
    )
    q.add_argument("specs", nargs="*", metavar="SPEC", help="spec files (default: the bundled LUF v12 spec)")
    q.add_argument("--max-k", type=int, default=8, metavar="K", help="the largest k for k-induction (default 8)")
    q.add_argument("--search-depth", type=int, default=20, metavar="D",
                   help="look for real traces of what is not proved up to D steps (default 20, at least K)")
    q.add_argument("--no-spacer", action="store_true", help="do not try Spacer after k-induction")
    q.add_argument("--spacer-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="limit of each Spacer query (default 60)")
    q.add_argument("--no-lemmas", action="store_true",
                   help="do not strengthen with the kernel lemmas and the value sets (lufmodel/kernel/lemmas.py)")
    q.add_argument("--lemmas", action="store_true", help="also list every lemma, kept or dropped (with its CTI)")
    _common_options(q)
    q.set_defaults(run=run_prove)


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--property", action="append", metavar="NAME", help="check only this property (repeatable)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="wall-clock limit per spec")
    p.add_argument("--json", action="store_true", help="print one JSON document (format 1)")


def _bad(message: str) -> int:
    print(f"lufmodel: {message}", file=sys.stderr)
    return 2


def run_bmc(args: argparse.Namespace) -> int:
    if args.depth < 0:
        return _bad(f"--depth: must be at least 0, got {args.depth}")
    if args.timeout is not None and args.timeout <= 0:
        return _bad(f"--timeout: must be positive, got {args.timeout}")
    from lufmodel.symbolic import bmc

    def engine(spec: Spec) -> RunResult:
        progress = None if args.json else _depth_printer(spec.name)
        try:
            return bmc(spec.model, select_props(spec, args.property), depth=args.depth, timeout=args.timeout,
                       progress=progress, spec_name=spec.name)
        finally:
            _end_progress(progress is not None)

    return run_guarded(lambda: _run_each(args, engine))


def run_prove(args: argparse.Namespace) -> int:
    if args.max_k < 1:
        return _bad(f"--max-k: must be at least 1, got {args.max_k}")
    if args.timeout is not None and args.timeout <= 0:
        return _bad(f"--timeout: must be positive, got {args.timeout}")
    if args.search_depth < 0:
        return _bad(f"--search-depth: must be at least 0, got {args.search_depth}")
    if args.spacer_timeout <= 0:
        return _bad(f"--spacer-timeout: must be positive, got {args.spacer_timeout}")
    from lufmodel.kernel.lemmas import lemmas_for
    from lufmodel.report import run_to_json
    from lufmodel.symbolic.induction import prove_all
    from lufmodel.symbolic.valuesets import value_lemmas

    def body() -> int:
        codes: list[int] = []
        docs: list[dict[str, Any]] = []
        for spec in load_specs(args.specs):
            lemmas = () if args.no_lemmas else value_lemmas(spec.model) + lemmas_for(spec.config, spec.model)
            proof = prove_all(spec.model, select_props(spec, args.property), max_k=args.max_k, timeout=args.timeout,
                              lemmas=lemmas, spacer=not args.no_spacer, spacer_timeout=args.spacer_timeout,
                              search_depth=args.search_depth, spec_name=spec.name)
            codes.append(proof.run.exit_code)
            if args.json:
                docs.append(_proof_json(run_to_json(proof.run), proof))
            else:
                print(_proof_text(proof, list_lemmas=args.lemmas))
        if args.json:
            print_json(docs)
        return 1 if 1 in codes else max(codes, default=0)

    return run_guarded(body)


def _run_each(args: argparse.Namespace, engine: Callable[[Spec], RunResult]) -> int:
    from lufmodel.render.text import render_trace
    from lufmodel.report import run_to_json

    codes: list[int] = []
    docs: list[dict[str, Any]] = []
    for spec in load_specs(args.specs):
        run = engine(spec)
        codes.append(run.exit_code)
        if args.json:
            docs.append(run_to_json(run))
            continue
        print("\n".join(summary_lines(run)))
        for r in run.results:
            if r.trace is not None and r.prop.is_always:
                print()
                print(f"{r.prop.name}: shortest counterexample, {r.depth} steps, {r.trace.cpu_switches()} CPU switches "
                      "(replayed)")
                print(render_trace(r.trace))
        print()
    if args.json:
        print_json(docs)
    return 1 if 1 in codes else max(codes, default=0)


def _depth_printer(label: str, after: float = 2.0) -> Callable[[Progress], None] | None:
    """A progress line on stderr (depth reached) for runs longer than ``after`` seconds."""
    if not sys.stderr.isatty():
        return None
    start = time.monotonic()

    def show(p: Progress) -> None:
        if time.monotonic() - start >= after:
            sys.stderr.write(f"\r{label}: no violation within depth {p.depth}, {p.seconds:.0f} s   ")
            sys.stderr.flush()

    return show


def _end_progress(active: bool) -> None:
    if active:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


# ---- prove: text and JSON ------------------------------------------------------------------


def _verdict_text(r: PropertyResult) -> str:
    if r.prop.is_always:
        if r.verdict == VIOLATED:
            return f"VIOLATED at depth {r.depth} (a real trace, replayed)"
        if r.verdict == HOLDS:
            return f"PROVED for every depth ({r.note.removeprefix('proved by ')})"
        return "NOT PROVED" + (f" ({_reason(r)})" if _reason(r) else "")
    if r.verdict == HOLDS:
        return f"reached at depth {r.depth} (a real trace, replayed)"
    if r.verdict == VIOLATED:
        return f"VACUOUS ({r.note})"
    return "NOT DECIDED" + (f" ({_reason(r)})" if _reason(r) else "")


def _reason(r: PropertyResult) -> str:
    """The note of a result that was not proved, without its one-line CTI (printed below)."""
    note = r.note.removeprefix("not proved")
    note = note.split("; CTI (k=")[0].strip()
    return note.removeprefix("(").removesuffix(")")


def _proof_text(proof: Proof, *, list_lemmas: bool) -> str:
    from lufmodel.render.text import render_trace
    from lufmodel.symbolic.induction import CTI_OUTCOME

    run = proof.run
    kept = [lm for lm in proof.lemmas if lm.kept]
    lines = [f"{run.spec} [{run.engine}]: {run.stats.seconds:.2f} s"
             + ("" if run.complete else f" (stopped by {run.stopped_by})")]
    if proof.lemmas:
        lines.append(f"  inductive invariant: {len(kept)} of {len(proof.lemmas)} lemmas kept"
                     f"{', the domains' if proof.domains_inductive else '; the domains are not inductive'}"
                     " (every kept lemma holds in every reachable state)")
    width = max((len(r.prop.name) for r in run.results), default=4)
    for r in run.results:
        lines.append(f"  {r.prop.name:<{width}}  {_verdict_text(r)}  [{r.prop.category}]")
    for r in run.results:
        if r.trace is None:
            continue
        lines.append("")
        if r.trace.outcome == CTI_OUTCOME:
            lines.append(_cti_text(r.prop.name, r.trace))
        elif r.prop.is_always:
            lines.append(f"{r.prop.name}: shortest counterexample, {r.depth} steps, {r.trace.cpu_switches()} CPU "
                         "switches (replayed)")
            lines.append(render_trace(r.trace).rstrip("\n"))
    if list_lemmas and proof.lemmas:
        lines.append("")
        lines.append("lemmas:")
        for lm in proof.lemmas:
            lines.append(f"  {lm.prop.name}: {'kept' if lm.kept else 'DROPPED'} ({lm.note}) - {lm.prop.doc}")
        for lm in proof.lemmas:
            if lm.cti is not None:
                lines.append("")
                lines.append(_cti_text(lm.prop.name, lm.cti))
    if proof.domains_cti is not None and list_lemmas:
        lines.append("")
        lines.append(_cti_text("the domains", proof.domains_cti))
    return "\n".join(lines) + "\n"


def _cti_text(name: str, cti: Trace) -> str:
    """A counterexample to induction: its start state, then its steps like a trace."""
    from lufmodel.render.text import render_view
    from lufmodel.render.view import trace_view
    from lufmodel.symbolic.induction import describe_state

    head = [
        f"{name}: NOT PROVED - counterexample to induction (CTI), k={cti.depth}. POSSIBLY UNREACHABLE: it starts",
        "from a state that satisfies what was assumed but need not be reachable from the initial state;",
        "a lemma that excludes it would let the proof go through.",
        f"  start state (differences from the initial state): {describe_state(cti.model, cti.init)}",
    ]
    try:
        view = trace_view(cti)
    except KeyError:  # a lemma or the domains: not one of the model's properties
        return "\n".join(head + ["  steps: " + " ; ".join(s.instance.label for s in cti.steps)])
    model = cti.model
    prop = model.prop(cti.property)
    final = cti.final
    outside = [f"{v.name}={final[v.pos]}" for v in model.variables if not v.lo <= final[v.pos] <= v.hi]
    if outside:
        head[0] = head[0].replace("counterexample to induction", "counterexample to induction of the domains")
        head.append(f"  after its last step the state leaves the declared domains: {', '.join(outside)}")
        return "\n".join(head + ["  steps: " + " ; ".join(s.instance.label for s in cti.steps)])
    view = dataclasses.replace(view, outcome="violation" if prop.is_always else "witness")
    body = render_view(view).splitlines()[1:]  # without the headline ("... violated in N steps")
    last = f"step {len(cti.steps)}"
    if prop.event is None:
        then = f">> from the CTI's start state, {last} would"
    else:
        then = f">> from the CTI's start state, after {last} an enabled {prop.event} step would"
    body = [ln.replace(f">> {last} breaks", f"{then} break").replace(f">> {last} reaches", f"{then} reach")
            for ln in body]
    return "\n".join(head + body).rstrip("\n")


def _proof_json(doc: dict[str, Any], proof: Proof) -> dict[str, Any]:
    """``run_to_json`` of the proof run, with each CTI moved from "trace" to "cti" (start
    state and steps), and the lemmas."""
    from lufmodel.symbolic.induction import CTI_OUTCOME

    for entry, r in zip(doc["results"], proof.run.results):
        entry["cti"] = None
        if r.trace is not None and r.trace.outcome == CTI_OUTCOME:
            entry["trace"] = None
            entry["cpu_switches"] = None
            entry["cti"] = _cti_json(r.trace)
    doc["lemmas"] = [
        {"name": lm.prop.name, "kept": lm.kept, "note": lm.note, "doc": lm.prop.doc,
         "cti": _cti_json(lm.cti) if lm.cti is not None else None}
        for lm in proof.lemmas
    ]
    doc["domains_inductive"] = proof.domains_inductive
    return doc


def _cti_json(cti: Trace) -> dict[str, Any]:
    from lufmodel.report import trace_to_json

    model = cti.model
    return {
        "possibly_unreachable": True,
        "k": cti.depth,
        "start": {v.name: cti.init[v.pos] for v in model.variables if cti.init[v.pos] != model.init[v.pos]},
        "steps": trace_to_json(cti),
    }
