"""The C backend: runs the model's functions once on C source names and emits a C step
function per action instance, for the native explorer (``lufmodel.native``).

Like the Python code generator (``codegen``), every operation appends a temporary
``int tN = <expr>;`` and returns ``tN``, so nothing is duplicated. Booleans are the ints 0
and 1, as C's comparisons and logical operators produce them. The generated function of an
instance reads the state vector ``s`` and, when the guard holds, writes the successor into
``o`` and the two property bit masks (event invariants broken, ``sometimes`` events reached)
and returns 1. This is an implementation detail of the native explorer; the concrete
interpreter stays the reference, and the tests compare the two state by state.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

from lufmodel.backends.source import FoldingOps, Syntax, event_terms, state_terms
from lufmodel.model import Instance, Model, Property, Var, Write
from lufmodel.ops import Expr

C = Syntax(
    true="1",
    false="0",
    and_=" && ",
    or_=" || ",
    not_="(!{x})",
    ite="({c} ? {a} : {b})",
    temp="int {name} = {expr};",
    bit="({cond} ? {bit}ULL : 0ULL)",
)
_TRUE = C.true
_FALSE = C.false
MAX_PROPERTIES = 64


class COps(FoldingOps):
    """Operations that build C expressions (booleans are the ints 0 and 1)."""

    def __init__(self) -> None:
        super().__init__(C)


class CRead:
    """Reads a variable as the C text ``s[pos]``."""

    def __getitem__(self, var: Var) -> Expr:
        return f"s[{var.pos}]"


def _instance_source(model: Model, inst: Instance, props: Sequence[Property]) -> list[str]:
    ops = COps()
    read = CRead()
    action, args = inst.action, inst.args
    head = f"static int step_{inst.number}(const cell *s, cell *o, uint64_t *bad, uint64_t *hit) {{"
    guard = action.guard(ops, read, args)
    if guard == _FALSE:
        return [head, "    (void)s; (void)o; (void)bad; (void)hit;", "    return 0;", "}"]
    body = list(ops.lines)
    ops.lines = []
    if guard != _TRUE:
        body.append(f"if (!{guard}) return 0;")
    w = Write(read)
    action.effect(ops, read, args, w)
    bad_terms, hit_terms = event_terms(ops, read, action, args, props)
    body.extend(ops.lines)
    body.append("memcpy(o, s, sizeof(cell) * NVP);")
    for var in model.variables:
        if var in w.assigned:
            value = str(w.assigned[var])
            if value != f"s[{var.pos}]":
                body.append(f"o[{var.pos}] = (cell)({value});")
    body.append(f"*bad = {' | '.join(bad_terms) if bad_terms else '0'};")
    body.append(f"*hit = {' | '.join(hit_terms) if hit_terms else '0'};")
    body.append("return 1;")
    return [head] + ["    " + line for line in body] + ["}"]


def _state_check_source(props: Sequence[Property]) -> list[str]:
    ops = COps()
    bad_terms, hit_terms = state_terms(ops, CRead(), props)
    body = list(ops.lines)
    body.append(f"*bad = {' | '.join(bad_terms) if bad_terms else '0'};")
    body.append(f"*hit = {' | '.join(hit_terms) if hit_terms else '0'};")
    return ["static void state_check(const cell *s, uint64_t *bad, uint64_t *hit) {", "    (void)s;"] + [
        "    " + line for line in body
    ] + ["}"]


def _packing_source(model: Model, nvp: int) -> list[str]:
    """``pack``/``unpack`` between the cell vector and NW 64-bit words of bit fields (a field
    never straddles two words): how the frontier is stored and fingerprinted."""
    fields: list[tuple[int, int, int, int]] = []  # (pos, word, shift, bits)
    word, shift = 0, 0
    for var in model.variables:
        bits = max(1, (var.hi - var.lo).bit_length())
        if shift + bits > 64:
            word, shift = word + 1, 0
        fields.append((var.pos, word, shift, bits))
        shift += bits
    nw = word + 1
    lines = [f"#define NW {nw}", "static void pack(const cell *s, uint64_t *w) {", f"    memset(w, 0, sizeof(uint64_t) * NW);"]
    lows = {var.pos: var.lo for var in model.variables}
    for pos, wd, sh, _ in fields:
        lines.append(f"    w[{wd}] |= (uint64_t)(s[{pos}] - ({lows[pos]})) << {sh};")
    lines.append("}")
    lines.append("static void unpack(const uint64_t *w, cell *s) {")
    for pos, wd, sh, bits in fields:
        lines.append(f"    s[{pos}] = (cell)((int64_t)((w[{wd}] >> {sh}) & {(1 << bits) - 1}ULL) + ({lows[pos]}));")
    for pos in range(len(model.variables), nvp):
        lines.append(f"    s[{pos}] = 0;")
    lines.append("}")
    return lines


@dataclass(frozen=True)
class CSource:
    """Generated C for one model and property list: the step functions and their table."""

    text: str
    cell_bytes: int
    padded_vars: int


def _canon_source(model: Model, enabled: bool) -> list[str]:
    """``canon(s)``: rename the model's interchangeable items (``Model.symmetry``) so that the
    packed state is the smallest of its candidate renamings, and return the renaming's
    number (``Symmetry.permutations`` order); a no-op without symmetry.

    The candidates are the renamings that sort the items of each class by their signature:
    the cells of the families indexed by exactly one item of that sort and by no other
    item, whose value names no item. Renaming a state renames the signatures with it, so
    every state of an orbit has the same candidate set, and the smallest candidate is a
    canonical representative. Items with distinct signatures leave a single candidate;
    ties (free frames, idle CPUs) are settled by comparing the packed states."""
    sym = model.symmetry if enabled else None
    if sym is None:
        identity = ", ".join(str(c) for c in range(max(model.cpus, 1)))
        return ["#define NPERM 1", f"static const int8_t PERM_CPU[1][NCPU > 0 ? NCPU : 1] = {{{{{identity}}}}};",
                "static int canon(cell *s) { (void)s; return 0; }",
                "static int canon_packed(const cell *s, uint64_t *w) { pack(s, w); return 0; }"]
    perms = sym.permutations()
    base = list(itertools.accumulate((s.items for s in sym.sorts), initial=0))
    total = base[-1]
    valued = {f for s in sym.sorts for f, _ in s.value_offset}
    position = {(v.family, v.index): v.pos for v in model.variables}
    pos_rows, val_rows, cpu_rows, check_rows = [], [], [], []
    for perm in perms:
        row = []
        for var in model.variables:
            index = list(var.index)
            for sort, p in zip(sym.sorts, perm):
                for d in dict(sort.index_dims).get(var.family, ()):
                    index[d] = p[index[d]]
            row.append(str(position[var.family, tuple(index)]))
        pos_rows.append("{" + ", ".join(row) + "}")
        val_rows.append("{" + ", ".join(str(x) for p in perm for x in p) + "}")
        cpu_rows.append("{" + ", ".join(str(x) for x in sym.cpu_perm(perm, model.cpus)) + "}")
        checks = []  # the renaming sorts a class if, for consecutive new names a, b, sig(old a) <= sig(old b)
        for k, (sort, p) in enumerate(zip(sym.sorts, perm)):
            inv = {new: old for old, new in enumerate(p)}
            for cls in sort.classes:
                for a, b in zip(cls, cls[1:]):
                    checks.append(f"{{{base[k] + inv[a]}, {base[k] + inv[b]}}}")
        check_rows.append("{" + ", ".join(checks or ["{0, 0}"]) + "}")
    signature: list[list[tuple[str, tuple[int, ...], int]]] = [[] for _ in range(total)]
    for k, sort in enumerate(sym.sorts):
        own = dict(sort.index_dims)
        others = {f for j, s in enumerate(sym.sorts) if j != k for f, _ in s.index_dims}
        for var in model.variables:
            fdims = own.get(var.family, ())
            if len(fdims) != 1 or var.family in others or var.family in valued:
                continue
            rest = var.index[:fdims[0]] + var.index[fdims[0] + 1:]
            signature[base[k] + var.index[fdims[0]]].append((var.family, rest, var.pos))
    nsig = max(1, max(len(cells) for cells in signature))
    sig_rows = ["{" + ", ".join([str(pos) for _, _, pos in sorted(cells)] + ["0"] * (nsig - len(cells))) + "}"
                for cells in signature]
    pairs = sorted({(at + a, at + b) for at, sort in zip(base, sym.sorts) for cls in sort.classes
                    for i, a in enumerate(cls) for b in cls[i + 1:]})
    lows, widths, bases = [], [], []
    for var in model.variables:
        lo, n, at = 255, 0, 0
        for k, sort in enumerate(sym.sorts):
            off = dict(sort.value_offset).get(var.family)
            if off is not None:
                lo, n, at = off, sort.items, base[k]
        lows.append(str(lo))
        widths.append(str(n))
        bases.append(str(at))
    nchk = max(1, sum(len(cls) - 1 for sort in sym.sorts for cls in sort.classes))
    return [
        f"#define NPERM {len(perms)}",
        f"#define NITEM {total}",
        f"#define NSIG {nsig}",
        f"#define NCHK {nchk}",
        f"#define NPAIR {max(1, len(pairs))}",
        f"static const uint16_t PERM_POS[NPERM][NV] = {{{', '.join(pos_rows)}}};",
        f"static const uint8_t PERM_VAL[NPERM][NITEM] = {{{', '.join(val_rows)}}};",
        f"static const int8_t PERM_CPU[NPERM][NCPU > 0 ? NCPU : 1] = {{{', '.join(cpu_rows)}}};",
        f"static const uint8_t PERM_CHECK[NPERM][NCHK][2] = {{{', '.join(check_rows)}}};",
        f"static const uint8_t VAL_LO[NV] = {{{', '.join(lows)}}};",
        f"static const uint8_t VAL_N[NV] = {{{', '.join(widths)}}};",
        f"static const uint8_t VAL_BASE[NV] = {{{', '.join(bases)}}};",
        f"static const uint16_t SIG_POS[NITEM][NSIG] = {{{', '.join(sig_rows)}}};",
        f"static const uint8_t PAIRS[NPAIR][2] = {{{', '.join(f'{{{a}, {b}}}' for a, b in pairs) or '{0, 0}'}}};",
        f"static const int NPAIRS = {len(pairs)};",
        "static void permute(const cell *s, cell *t, int p) {",
        "    for (int i = NV; i < NVP; i++) t[i] = 0;",
        "    for (int i = 0; i < NV; i++) {",
        "        int v = s[i];",
        "        int lo = VAL_LO[i];",
        "        if (lo != 255 && v >= lo && v < lo + VAL_N[i]) v = PERM_VAL[p][VAL_BASE[i] + v - lo] + lo;",
        "        t[PERM_POS[p][i]] = (cell)v;",
        "    }",
        "}",
        "static int sig_cmp(const cell *s, int a, int b) {",
        "    for (int k = 0; k < NSIG; k++) {",
        "        int x = s[SIG_POS[a][k]], y = s[SIG_POS[b][k]];",
        "        if (x != y) return x < y ? -1 : 1;",
        "    }",
        "    return 0;",
        "}",
        "/* The representative of s, packed into w; returns its renaming's number. */",
        "static int canon_packed(const cell *s, uint64_t *w) {",
        "    int8_t cmp[NITEM][NITEM];",
        "    for (int i = 0; i < NPAIRS; i++) {",
        "        int a = PAIRS[i][0], b = PAIRS[i][1], c = sig_cmp(s, a, b);",
        "        cmp[a][b] = (int8_t)c; cmp[b][a] = (int8_t)-c;",
        "    }",
        "    uint64_t cand[NW];",
        "    cell t[NVP];",
        "    int bp = -1;",
        "    for (int p = 0; p < NPERM; p++) {",
        "        int sorted = 1;",
        "        for (int j = 0; j < NCHK && sorted; j++) {",
        "            int a = PERM_CHECK[p][j][0], b = PERM_CHECK[p][j][1];",
        "            sorted = a == b || cmp[a][b] <= 0;",
        "        }",
        "        if (!sorted) continue;",
        "        if (p == 0) pack(s, cand);",
        "        else { permute(s, t, p); pack(t, cand); }",
        "        int less = bp < 0;",
        "        for (int i = 0; i < NW && !less; i++) {",
        "            if (cand[i] == w[i]) continue;",
        "            less = cand[i] < w[i];",
        "            break;",
        "        }",
        "        if (less) { memcpy(w, cand, sizeof(cand)); bp = p; }",
        "    }",
        "    return bp;",
        "}",
        "/* s renamed to its representative in place; returns the renaming's number. */",
        "static int canon(cell *s) {",
        "    uint64_t w[NW];",
        "    cell t[NVP];",
        "    int bp = canon_packed(s, w);",
        "    if (bp > 0) { permute(s, t, bp); memcpy(s, t, sizeof(cell) * NVP); }",
        "    return bp;",
        "}",
    ]


def generate(model: Model, props: Sequence[Property], symmetry: bool = False) -> CSource:
    """C source (without the runtime) for every instance of ``model``; with ``symmetry``,
    ``canon`` renames the model's interchangeable items to a representative."""
    if len(props) > MAX_PROPERTIES:
        raise ValueError(f"the native explorer checks at most {MAX_PROPERTIES} properties at once")
    top = max((v.hi for v in model.variables), default=1)
    low = min((v.lo for v in model.variables), default=0)
    cell_bytes = 1 if (low >= 0 and top <= 255) else 2 if (low >= 0 and top <= 65535) else 4
    ctype = {1: "uint8_t", 2: "uint16_t", 4: "int32_t"}[cell_bytes]
    per_word = 8 // cell_bytes if cell_bytes < 8 else 1
    nvp = max(per_word, -(-len(model.variables) // per_word) * per_word)
    lines = [
        "#include <stdint.h>",
        "#include <string.h>",
        f"typedef {ctype} cell;",
        f"#define NV {len(model.variables)}",
        f"#define NVP {nvp}",
        f"#define NI {len(model.instances)}",
        f"#define NCPU {max(1, model.cpus)}",
        "typedef int (*step_fn)(const cell *, cell *, uint64_t *, uint64_t *);",
    ]
    for inst in model.instances:
        lines.extend(_instance_source(model, inst, props))
    lines.extend(_state_check_source(props))
    lines.extend(_packing_source(model, nvp))
    lines.extend(_canon_source(model, symmetry))
    table = ", ".join(f"step_{inst.number}" for inst in model.instances) or "0"
    lines.append(f"static const step_fn STEPS[NI > 0 ? NI : 1] = {{{table}}};")
    cpus = ", ".join(str(-1 if inst.cpu is None else inst.cpu) for inst in model.instances) or "-1"
    lines.append(f"static const int INST_CPU[NI > 0 ? NI : 1] = {{{cpus}}};")
    return CSource("\n".join(lines) + "\n", cell_bytes, nvp)
