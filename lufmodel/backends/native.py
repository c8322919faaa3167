"""Compile a model to a native shared library (C, through the system's C compiler) and load
it with ctypes.

The C comes from ``cgen`` (the model's one definition run on C names) followed by the
runtime in ``native_runtime.c``. Libraries are cached by the hash of their source in a
per-user directory under the system's temporary directory, so a spec compiles once per
machine. Without a C compiler ``NativeUnavailable`` is raised and callers fall back to the
generated-Python explorer.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from lufmodel.backends.cgen import generate
from lufmodel.model import Model, Property

RUNTIME = Path(__file__).with_name("native_runtime.c")
_CELL_TYPES = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_int32}


class NativeUnavailable(RuntimeError):
    """No C compiler, or the compilation failed: use the Python explorer instead."""


def _compiler() -> str:
    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    raise NativeUnavailable("no C compiler found (set CC, or install gcc)")


def _cache_dir() -> Path:
    base = Path(os.environ.get("LUFMODEL_CACHE", Path(tempfile.gettempdir()) / f"lufmodel-native-{os.getuid()}"))
    base.mkdir(parents=True, exist_ok=True)
    return base


def build_library(source: str) -> Path:
    """Compile ``source`` (cached by its hash) and return the shared library's path."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    target = _cache_dir() / f"model-{digest}.so"
    if target.exists():
        return target
    cc = _compiler()
    with tempfile.TemporaryDirectory(dir=_cache_dir()) as tmp:
        src = Path(tmp) / "model.c"
        src.write_text(source)
        out = Path(tmp) / "model.so"
        cmd = [cc, "-O2", "-shared", "-fPIC", "-pthread", "-std=c11", "-w", "-o", str(out), str(src)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NativeUnavailable(f"{cc} failed: {exc}") from None
        if done.returncode != 0:
            raise NativeUnavailable(f"{cc} failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
        os.replace(out, target)
    return target


@dataclass(frozen=True)
class NativeModel:
    """A loaded native library for one model and property list."""

    lib: ctypes.CDLL
    cell: type[ctypes._SimpleCData]  # type: ignore[type-arg]
    padded: int
    variables: int

    def state(self, values: Sequence[int]) -> ctypes.Array[ctypes._SimpleCData]:  # type: ignore[type-arg]
        buf = (self.cell * self.padded)()
        for i, v in enumerate(values):
            buf[i] = v
        return buf

    def step(self, number: int, values: Sequence[int]) -> tuple[tuple[int, ...], int, int] | None:
        """The successor by instance ``number`` and its property bits, or None if disabled."""
        out = (self.cell * self.padded)()
        bad, hit = ctypes.c_uint64(), ctypes.c_uint64()
        if not self.lib.native_step(number, self.state(values), out, ctypes.byref(bad), ctypes.byref(hit)):
            return None
        return tuple(int(out[i]) for i in range(self.variables)), bad.value, hit.value

    def canon(self, values: Sequence[int]) -> tuple[int, ...]:
        """The representative of ``values`` under the compiled symmetry (itself without)."""
        return self.canon_perm(values)[0]

    def canon_perm(self, values: Sequence[int]) -> tuple[tuple[int, ...], int]:
        """The representative of ``values`` and the number of the renaming that gives it
        (``Symmetry.permutations`` order; 0, the identity, without symmetry)."""
        buf = self.state(values)
        perm = int(self.lib.native_canon(buf))
        return tuple(int(buf[i]) for i in range(self.variables)), max(perm, 0)

    def state_check(self, values: Sequence[int]) -> tuple[int, int]:
        bad, hit = ctypes.c_uint64(), ctypes.c_uint64()
        self.lib.native_state_check(self.state(values), ctypes.byref(bad), ctypes.byref(hit))
        return bad.value, hit.value


def load(model: Model, props: Sequence[Property], symmetry: bool = False) -> NativeModel:
    """Generate, compile (or reuse) and load the native library of ``model``; with
    ``symmetry``, successors are renamed to representatives (``Model.symmetry``)."""
    if symmetry and model.symmetry is None:
        raise ValueError(f"{model.name}: the model declares no symmetry to reduce by")
    gen = generate(model, props, symmetry)
    source = gen.text + RUNTIME.read_text()
    path = build_library(source)
    lib = ctypes.CDLL(str(path))
    u64, u32, i32, vp = ctypes.c_uint64, ctypes.c_uint32, ctypes.c_int32, ctypes.c_void_p
    cptr = ctypes.POINTER(_CELL_TYPES[gen.cell_bytes])
    signatures: dict[str, tuple[object, list[object]]] = {
        "ctx_new": (vp, [cptr]),
        "ctx_free": (None, [vp]),
        "ctx_expand": (ctypes.c_int, [vp, u64, u64, u64, ctypes.c_int]),
        "ctx_advance": (u64, [vp]),
        "ctx_states": (u64, [vp]),
        "ctx_transitions": (u64, [vp]),
        "ctx_events": (u64, [vp]),
        "ctx_event": (None, [vp, u64, ctypes.POINTER(u32), ctypes.POINTER(i32), ctypes.POINTER(u64)]),
        "ctx_clear_events": (None, [vp]),
        "ctx_stored_bytes": (u64, [vp]),
        "ctx_link": (ctypes.c_int, [vp, u64, ctypes.POINTER(u32)]),
        "ctx_fewest_switches": (ctypes.c_int, [vp, cptr, ctypes.POINTER(u64), ctypes.c_int]),
        "ctx_dp_entry": (ctypes.c_int, [vp, u32, ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(u32),
                                        ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]),
        "native_step": (ctypes.c_int, [ctypes.c_int, cptr, cptr, ctypes.POINTER(u64), ctypes.POINTER(u64)]),
        "native_state_check": (None, [cptr, ctypes.POINTER(u64), ctypes.POINTER(u64)]),
        "native_canon": (ctypes.c_int, [cptr]),
        "native_permutations": (ctypes.c_int, []),
    }
    for name, (res, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = argtypes
    return NativeModel(lib, _CELL_TYPES[gen.cell_bytes], gen.padded_vars, len(model.variables))
