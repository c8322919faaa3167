"""The command line: bad input is one line and exit 2; verdicts and exit codes; golden output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lufmodel.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lufmodel", *args], capture_output=True, text=True, cwd=ROOT, timeout=600)


BAD_SPECS = {
    "unknown top-level key": ("colour = 1\n", "colour: unknown key"),
    "unknown size key": ("[sizes]\ncpu = 2\n", "sizes.cpu: unknown key; allowed: cpus"),
    "wrong type": ('[sizes]\ncpus = "two"\n', "sizes.cpus: must be an integer from 1 to 4"),
    "impossible size": ("[sizes]\ncpus = 9\n", "sizes.cpus: must be from 1 to 4, got 9"),
    "unknown mode": ('[luf]\nmode = "v13"\n', "luf.mode: must be one of none, batched, luf-v11, luf-v12"),
    "unknown flush point": ("[flush_points]\nteleport = false\n", "flush_points.teleport: unknown key"),
    "unknown event": ('[events]\nenabled = ["dance"]\n', "events.enabled: must be one of tlb"),
    "unknown property": ('[check]\nproperties = ["P9"]\n', "check.properties: must be one of R1"),
    "bad expectation": ('[expect]\nP1 = "fine"\n', "expect.P1: must be one of holds, bounded, violated, unknown"),
    "vma outside the sizes": ("[[vma]]\nmm = 3\n", "vma[0].mm: must be from 0 to 0, got 3"),
    "cpu outside the sizes": ("[cpu.7]\nmm = 0\n", "cpu.7: CPU numbers are 0 to 1"),
    "not TOML": ("[sizes\n", "not valid TOML"),
    "remote revalidate not a bool": ('[remote]\nrevalidate = "nfs"\n', "remote.revalidate: must be true (NFS"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_one_line_naming_file_and_key(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, expected = BAD_SPECS[case]
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    code = main(["verify", str(spec)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert str(spec) in err and expected in err
    assert "Traceback" not in err


def test_missing_spec_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "no/such/spec.toml"]) == 2
    assert "no/such/spec.toml: no such file" in capsys.readouterr().err


def test_unknown_property_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--property", "P42"]) == 2
    assert "--property P42: unknown property" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    assert run_cli("verify", "--max-depth", "many").returncode == 2
    assert run_cli("frobnicate").returncode == 2
    assert run_cli("verify", "--max-depth", "0").returncode == 2


def test_default_verify_reports_each_property_and_exits_1_on_violation() -> None:
    proc = run_cli("verify")
    assert proc.returncode == 1
    assert "luf-v12-default [explicit]: 39,342 states" in proc.stdout
    assert re.search(r"P0\s+VIOLATED at depth 16", proc.stdout)
    assert re.search(r"P2_strict\s+holds \(all 39342 reachable states\)", proc.stdout)
    assert "(replayed)" in proc.stdout


def test_bounded_search_says_holds_up_to_depth() -> None:
    proc = run_cli("verify", "specs/baseline-none.toml", "--max-depth", "6", "--property", "P2_strict")
    assert proc.returncode == 0
    assert "holds up to depth 6" in proc.stdout and "stopped by max-depth" in proc.stdout


def _stable(doc: dict[str, object]) -> dict[str, object]:
    for spec in doc["specs"]:  # type: ignore[attr-defined]
        spec["stats"].pop("seconds")
    return doc


def test_json_output_is_golden() -> None:
    proc = run_cli("verify", "specs/L5-slab-reuse-v12-no-takeoff.toml", "--json")
    assert proc.returncode == 1
    doc = _stable(json.loads(proc.stdout))
    golden = GOLDEN / "verify_L5_no_takeoff.json"
    if not golden.exists():  # first run writes it; review it and commit it
        golden.write_text(json.dumps(doc, indent=2) + "\n")
    assert doc == json.loads(golden.read_text())
    assert doc["format"] == 1
    p1 = next(r for r in doc["specs"][0]["results"] if r["property"] == "P1")
    assert p1["verdict"] == "violated" and p1["depth"] == 16
    assert {"cpu", "path", "step", "changes"} <= set(p1["trace"][0])


def test_regress_passes_on_a_directory_and_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    src = (ROOT / "specs" / "L5-slab-reuse-v12.toml").read_text()
    (tmp_path / "ok.toml").write_text(src)
    proc = run_cli("regress", str(tmp_path))
    assert proc.returncode == 0 and "1 passed, 0 failed" in proc.stdout
    (tmp_path / "wrong.toml").write_text(src.replace('P1 = "holds"', 'P1 = "violated"'))
    proc = run_cli("regress", str(tmp_path))
    assert proc.returncode == 1
    assert "P1: expected violated, got holds" in proc.stdout


def test_symmetry_needs_the_native_engine_and_something_to_rename() -> None:
    proc = run_cli("verify", "--symmetry", "--engine", "python")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--symmetry" in proc.stderr
    proc = run_cli("verify", "specs/luf-v12-bookkeeping-wrap.toml", "--symmetry")  # one frame, CPUs of two roles
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no symmetry" in proc.stderr
