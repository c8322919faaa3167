"""``lufmodel corpus [DIR] [--out counterexamples]``: regenerate the committed counterexamples.

For every spec in DIR (default ``specs/``) that has a violation, one folder
``OUT/<spec>/`` holds the spec's headline counterexample in every format (text, JSON, DOT,
GraphML, SVG, PNG, HTML): the shortest violated safety property, or, when only rules are
broken, the shortest violated rule. The tests replay every ``trace.json`` in the corpus.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from lufmodel.commands.common import UsageError, run_guarded
from lufmodel.explore import explore
from lufmodel.results import PropertyResult, RunResult
from lufmodel.spec import load_spec


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("corpus", help="regenerate counterexamples/ from the specs",
                              description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("dir", nargs="?", default="specs", help="directory of spec files (default: specs/)")
    p.add_argument("--out", default="counterexamples", help="corpus directory (default: counterexamples/)")
    p.set_defaults(run=run)


def headline(run: RunResult) -> PropertyResult | None:
    """The counterexample a spec is known for: the shortest safety violation, else the shortest rule."""
    broken = [r for r in run.results if r.prop.is_always and r.verdict == "violated" and r.trace is not None]
    for category in ("safety", "rule"):
        mine = [r for r in broken if r.prop.category == category]
        if mine:
            return min(mine, key=lambda r: (r.depth or 0, r.prop.name))
    return None


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from lufmodel.render.corpus import write_all_formats

    root, out = Path(args.dir), Path(args.out)
    paths = sorted(root.glob("*.toml")) if root.is_dir() else []
    if not paths:
        raise UsageError(f"{args.dir}: no spec files (*.toml)")
    if out.exists():  # keep monitors/: `lufmodel monitors` writes it (lufmodel/monitoring.py)
        for child in out.iterdir():
            if child.name != "monitors":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    for path in paths:
        spec = load_spec(path)
        result = explore(spec.model, spec.props, spec.limits, spec_name=spec.name)
        best = headline(result)
        if best is None or best.trace is None:
            continue
        files = write_all_formats(best.trace, str(path), spec.text, out / spec.name, state_graph_cap=0)
        print(f"{spec.name}: {best.prop.name} in {best.depth} steps -> {len(files)} files")
    return 0
