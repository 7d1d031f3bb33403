"""C rendering (bpftool's ``format c``) and the pahole-like layout view."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cnames import BLOB as DECLARATORS

from bpfls.btf import Btf, BtfError, Kind, load, load_bytes
from bpfls.btf.cnames import type_name
from bpfls.btf.dump_c import (
    FOOTER,
    HEADER,
    dump_c,
    render_c,
    renderer,
)
from bpfls.btf.layout import render_layout

from btfbuild import BtfBuilder, sample_blob
from conftest import run_bpftool, sample_kernels

KERNELS = sample_kernels()
KERNEL_IDS = [p.name.removesuffix(".btf.xz") for p in KERNELS]
SEED = 20240901
N_RANDOM = 300


# -- fixtures: each kernel loaded once, bpftool run once per kernel ------------------------------

@pytest.fixture(scope="session")
def kernel_btf() -> Callable[[Path], Btf]:
    cache: dict[Path, Btf] = {}

    def get(path: Path) -> Btf:
        if path not in cache:
            cache[path] = load(path)
        return cache[path]

    return get


@pytest.fixture(scope="session")
def bpftool_header(bpftool: str, raw_sample) -> Callable[[Path], str]:
    cache: dict[Path, str] = {}

    def get(path: Path) -> str:
        if path not in cache:
            cache[path] = run_bpftool(bpftool, "btf", "dump", "file", str(raw_sample(path)),
                                      "format", "c")
        return cache[path]

    return get


def definitions(header: str) -> dict[str, str]:
    """bpftool's struct and union definitions by their first words (``struct foo___2``)."""
    assert header.startswith(HEADER) and header.endswith(FOOTER)
    body = header[len(HEADER):-len(FOOTER)]
    out = {}
    for item in body.split(";\n\n"):
        if item.startswith(("struct ", "union ")) and " {" in item:
            out[item.split(" {", 1)[0]] = item + ";"
    return out


def first_difference(got: str, want: str) -> str:
    g, w = got.splitlines(), want.splitlines()
    for i, (a, b) in enumerate(zip(g, w, strict=False)):
        if a != b:
            return f"line {i + 1}: got {a!r}, bpftool {b!r}"
    return f"got {len(g)} lines, bpftool {len(w)}"


# -- the full header ------------------------------------------------------------------------------

@pytest.mark.oracle
@pytest.mark.parametrize("path", KERNELS, ids=KERNEL_IDS)
def test_dump_c_equals_bpftool(path: Path, kernel_btf, bpftool_header) -> None:
    btf = kernel_btf(path)
    want = bpftool_header(path)
    start = time.perf_counter()
    got = dump_c(btf)
    elapsed = time.perf_counter() - start
    assert got == want, first_difference(got, want)
    assert elapsed < 20, f"dump_c took {elapsed:.1f} s"


@pytest.mark.oracle
@pytest.mark.parametrize("path", KERNELS, ids=KERNEL_IDS)
def test_render_c_equals_bpftool_definition(path: Path, kernel_btf, bpftool_header) -> None:
    """300 random named structs and unions, each exactly as bpftool defines it."""
    btf = kernel_btf(path)
    defs = definitions(bpftool_header(path))
    named = [t for t in btf if t.kind in (Kind.STRUCT, Kind.UNION) and t.name]
    chosen = random.Random(SEED).sample(named, min(N_RANDOM, len(named)))
    bad = []
    for t in chosen:
        got = render_c(btf, t)
        key = got.split(" {", 1)[0]
        kw, _, name = key.partition(" ")
        assert kw == ("struct" if t.kind == Kind.STRUCT else "union")
        assert re.fullmatch(re.escape(t.name) + r"(___\d+)?", name), key
        if defs.get(key) != got:
            bad.append(f"{key} [{t.id}]: " + first_difference(got, defs.get(key, "")))
    assert not bad, "\n".join(bad[:10])


@pytest.mark.oracle
def test_split_btf_matches_bpftool(bpftool: str, tmp_path: Path) -> None:
    base = BtfBuilder()
    i32 = base.int_("int", 4, signed=True)
    s = base.struct("base_s", 4, [("x", i32, 0, 0)])
    mod = BtfBuilder(str_start=len(base.strs), id_start=base.next_id)
    p = mod.ptr(s)
    ms = mod.struct("mod_s", 16, [("b", s, 0, 0), ("p", p, 64, 0)])
    mod.typedef("mod_t", ms)
    (tmp_path / "base").write_bytes(base.build())
    (tmp_path / "mod").write_bytes(mod.build())
    want = run_bpftool(bpftool, "-B", str(tmp_path / "base"), "btf", "dump", "file",
                       str(tmp_path / "mod"), "format", "c")
    btf = load(tmp_path / "mod", base=tmp_path / "base")
    assert dump_c(btf) == want
    assert "struct base_s {" in want  # bpftool 7.1 writes the base types too


# -- single definitions ---------------------------------------------------------------------------

def _small_blob() -> bytes:
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)
    ch = b.int_("char", 1, signed=True, char=True)
    u64 = b.int_("long long unsigned int", 8)
    b.int_("long int", 8, signed=True)
    s1 = b.struct("node", 16, [("val", i32, 0, 0), ("next", b.ptr(b.next_id + 1), 64, 0)])
    b.struct("node", 4, [("other", i32, 0, 0)])  # a clash: bpftool calls it node___2
    b.typedef("node_t", s1)
    b.enum("state", 4, [("IDLE", 0), ("BUSY", 1)])
    b.enum("", 4, [("ANON_A", 5)])  # an unreferenced anonymous enum is written on its own
    b.enum64("wide", 8, [("BIG", 1 << 40)])
    b.enum64("swide", 8, [("NEG", -2)], signed=True)
    packed = b.struct("pk", 5, [("c", ch, 0, 0), ("i", i32, 8, 0)])
    b.struct("bits", 8, [("a", u64, 0, 3), ("b", u64, 40, 7)])
    b.struct("empty", 0, [])
    b.struct("outer", 12, [("p", packed, 0, 0),
                           ("", b.union("", 4, [("x", i32, 0, 0), ("y", ch, 0, 0)]), 64, 0)])
    proto = b.func_proto(i32, [("n", b.ptr(s1)), ("flags", i32)])
    b.func("visit", proto)
    b.var("counter", i32, linkage=2)
    b.fwd("opaque")
    return b.build()


SMALL = load_bytes(_small_blob(), name="small")


def _id(btf: Btf, name: str, kind: Kind | str | None = None, n: int = 0) -> int:
    return btf.find_all(name, kind)[n].id


@pytest.mark.parametrize(("name", "kind", "n", "expected"), [
    ("node", "struct", 0, "struct node {\n\tint val;\n\tstruct node *next;\n};"),
    ("node", "struct", 1, "struct node___2 {\n\tint other;\n};"),
    ("node_t", "typedef", 0, "typedef struct node node_t;"),
    ("state", "enum", 0, "enum state {\n\tIDLE = 0,\n\tBUSY = 1,\n};"),
    ("wide", "enum64", 0, "enum wide {\n\tBIG = 1099511627776ULL,\n};"),
    ("swide", "enum64", 0, "enum swide {\n\tNEG = -2LL,\n};"),
    ("pk", "struct", 0, "struct pk {\n\tchar c;\n\tint i;\n} __attribute__((packed));"),
    ("bits", "struct", 0,
     "struct bits {\n\tlong long unsigned int a: 3;\n\tint: 29;\n\tchar: 8;\n"
     "\tlong long unsigned int b: 7;\n};"),
    ("empty", "struct", 0, "struct empty {};"),
    ("outer", "struct", 0,
     "struct outer {\n\tstruct pk p;\n\tunion {\n\t\tint x;\n\t\tchar y;\n\t};\n};"),
    ("opaque", "fwd", 0, "struct opaque;"),
    ("visit", "func", 0, "int visit(struct node *n, int flags);"),
    ("counter", "var", 0, "extern int counter;"),
])
def test_render_c_small(name: str, kind: str, n: int, expected: str) -> None:
    assert render_c(SMALL, _id(SMALL, name, kind, n)) == expected


def test_render_c_real_names() -> None:
    tid = _id(SMALL, "node", "struct", 1)
    assert render_c(SMALL, tid).startswith("struct node___2 {")
    assert render_c(SMALL, tid, real_names=True) == "struct node {\n\tint other;\n};"
    # other kinds give their type name
    assert render_c(SMALL, _id(SMALL, "int")) == "int"
    assert render_c(SMALL, 0) == "void"


def test_render_c_anonymous_types() -> None:
    anon_enum = next(t for t in SMALL if t.kind == Kind.ENUM and not t.name)
    assert render_c(SMALL, anon_enum) == "enum {\n\tANON_A = 5,\n};"
    anon_union = next(t for t in SMALL if t.kind == Kind.UNION and not t.name)
    assert render_c(SMALL, anon_union) == "union {\n\tint x;\n\tchar y;\n};"
    assert "\nenum {\n\tANON_A = 5,\n};\n" in dump_c(SMALL)


def test_renderer_is_cached_per_btf() -> None:
    assert renderer(SMALL) is renderer(SMALL)
    assert renderer(SMALL, real_names=True) is not renderer(SMALL)
    assert dump_c(SMALL) is dump_c(SMALL)


@pytest.mark.oracle
def test_small_matches_bpftool(bpftool: str, tmp_path: Path) -> None:
    path = tmp_path / "small.btf"
    path.write_bytes(_small_blob())
    assert dump_c(load_bytes(path.read_bytes())) == run_bpftool(
        bpftool, "btf", "dump", "file", str(path), "format", "c")


# -- corrupt BTF: errors, never recursion ------------------------------------------------

def _corrupt(case: str) -> bytes:
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)                      # 1
    if case == "typedef-self":                                # 2: typedef loop -> loop
        b.typedef("loop", 2)
    elif case == "typedef-pair":                              # 2 -> 3 -> 2
        b.typedef("a_t", 3)
        b.typedef("b_t", 2)
    elif case == "struct-self":                               # struct s { struct s inner; }
        b.struct("s", 4, [("inner", 2, 0, 0)])
    elif case == "anon-self":                                 # struct { <itself> } via typedef
        b.struct("", 4, [("x", 3, 0, 0)])
        b.typedef("anon_t", 2)
        b.struct("user", 4, [("a", 3, 0, 0)])
    elif case == "const-loop":                                # a member of type const -> const
        b.const(3)
        b.const(2)
        b.struct("holder", 4, [("c", 2, 0, 0)])
    elif case == "array-self":
        b.array(2, i32, 2)
        b.struct("holder", 4, [("a", 2, 0, 0)])
    elif case == "deep-typedefs":                             # 5000 typedefs in a row
        t = i32
        for n in range(5000):
            t = b.typedef(f"t{n}", t)
        b.struct("holder", 4, [("a", t, 0, 0)])
    return b.build()


CORRUPT = ["typedef-self", "typedef-pair", "struct-self", "anon-self", "const-loop",
           "array-self", "deep-typedefs"]


@pytest.mark.parametrize("case", CORRUPT)
def test_corrupt_btf_gives_btf_error(case: str) -> None:
    btf = load_bytes(_corrupt(case), name=case)
    last = btf.end_id - 1
    with pytest.raises(BtfError):
        dump_c(btf)
    with pytest.raises(BtfError):
        render_c(btf, last)
    for tid in range(1, btf.end_id):
        for call in (lambda i: render_layout(btf, i), lambda i: render_c(btf, i, real_names=True)):
            try:
                call(tid)
            except BtfError:
                pass


def test_corrupt_btf_with_a_deep_stack() -> None:
    """Even called from deep inside a program, a cycle is a BtfError, not RecursionError."""
    btf = load_bytes(_corrupt("typedef-pair"), name="deep")

    def nest(n: int) -> None:
        if n:
            nest(n - 1)
        else:
            with pytest.raises(BtfError):
                dump_c(btf)

    nest(sys.getrecursionlimit() - 250)


def test_pointer_cycles_are_fine() -> None:
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)
    a = b.struct("a", 16, [("b", b.ptr(b.next_id + 3), 0, 0), ("v", i32, 64, 0)])  # [2], [3]
    b.struct("b", 8, [("a", b.ptr(a), 0, 0)])                                      # [4], [5]
    btf = load_bytes(b.build())
    text = dump_c(btf)
    assert "struct b;\n\nstruct a {\n\tstruct b *b;\n\tint v;\n};\n\nstruct b {" in text
    assert render_layout(btf, a).startswith("struct a {")


# -- layout ----------------------------------------------------------------------------

def _layout_blob() -> bytes:
    b = BtfBuilder()
    ch = b.int_("char", 1, signed=True, char=True)
    i32 = b.int_("int", 4, signed=True)
    u32 = b.int_("unsigned int", 4)
    lng = b.int_("long int", 8, signed=True)
    sh = b.int_("short int", 2, signed=True)
    un = b.union("", 4, [("x", i32, 0, 0), ("y", ch, 0, 0)])
    inner = b.struct("", 4, [("s1", sh, 0, 0), ("s2", ch, 16, 0)])
    padded = b.struct("padded", 8, [("p", i32, 0, 0), ("q", ch, 32, 0)])
    b.struct("lay", 80, [("a", ch, 0, 0), ("b", i32, 32, 0), ("f1", u32, 64, 3),
                         ("f2", u32, 67, 5), ("l", lng, 128, 0), ("", un, 192, 0),
                         ("named", inner, 224, 0), ("pd", padded, 256, 0), ("tail", ch, 320, 0),
                         ("arr", b.array(lng, i32, 2), 384, 0), ("last", ch, 512, 0)])
    pk = b.struct("pk", 5, [("c", ch, 0, 0), ("i", i32, 8, 0)])
    anon2 = b.struct("", 2, [("lo", ch, 0, 0), ("hi", ch, 8, 0)])
    b.struct("wrap", 48, [("n", i32, 0, 0), ("pk", pk, 32, 0), ("e", ch, 72, 0),
                          ("bf", u32, 80, 4),
                          ("fp", b.ptr(b.func_proto(i32, [("", b.ptr(ch))])), 128, 0),
                          ("pairs", b.array(anon2, i32, 4), 192, 0),
                          ("ref", b.ptr(anon2), 256, 0), ("z", i32, 320, 0)])
    b.typedef("wrap_t", b.next_id - 1)
    return b.build()


LAYOUT_BTF = load_bytes(_layout_blob(), name="layout")

LAY = """\
struct lay {
	char                       a;                    /*     0     1 */

	/* XXX 3 bytes hole, try to pack */

	int                        b;                    /*     4     4 */
	unsigned int               f1:3;                 /*     8: 0  4 */
	unsigned int               f2:5;                 /*     8: 3  4 */

	/* XXX 24 bits hole, try to pack */
	/* XXX 4 bytes hole, try to pack */

	long int                   l;                    /*    16     8 */
	union {
		int                x;                    /*    24     4 */
		char               y;                    /*    24     1 */
	};                                               /*    24     4 */
	struct {
		short int          s1;                   /*    28     2 */
		char               s2;                   /*    30     1 */
	} named;                                         /*    28     4 */

	/* XXX last struct has 1 byte of padding */

	struct padded              pd;                   /*    32     8 */

	/* XXX last struct has 3 bytes of padding */

	char                       tail;                 /*    40     1 */

	/* XXX 7 bytes hole, try to pack */

	long int                   arr[2];               /*    48    16 */
	/* --- cacheline 1 boundary (64 bytes) --- */
	char                       last;                 /*    64     1 */

	/* size: 80, cachelines: 2, members: 11 */
	/* sum members: 47, holes: 3, sum holes: 14 */
	/* sum bitfield members: 8 bits, bit holes: 1, sum bit holes: 24 bits */
	/* padding: 15 */
	/* paddings: 2, sum paddings: 4 */
	/* last cacheline: 16 bytes */
};"""

WRAP = """\
struct wrap {
	int                        n;                    /*     0     4 */
	struct pk                  pk;                   /*     4     5 */
	char                       e;                    /*     9     1 */

	/* Bitfield combined with previous fields */

	unsigned int               bf:4;                 /*     8:16  4 */

	/* XXX 12 bits hole, try to pack */
	/* XXX 4 bytes hole, try to pack */

	int                        (*fp)(char *);        /*    16     8 */
	struct {
		char               lo;                   /*    24     1 */
		char               hi;                   /*    25     1 */
	} pairs[4]; /*    24     8 */
	struct {
		char       lo;                   /*     0     1 */
		char       hi;                   /*     1     1 */
	} * ref; /*    32     8 */
	int                        z;                    /*    40     4 */

	/* size: 48, cachelines: 1, members: 8 */
	/* sum members: 38, holes: 1, sum holes: 4 */
	/* sum bitfield members: 4 bits, bit holes: 1, sum bit holes: 12 bits */
	/* padding: 4 */
	/* last cacheline: 48 bytes */
};"""

PK = """\
struct pk {
	char                       c;                    /*     0     1 */
	int                        i;                    /*     1     4 */

	/* size: 5, cachelines: 1, members: 2 */
	/* last cacheline: 5 bytes */
} __attribute__((__packed__));"""


@pytest.mark.parametrize(("name", "expected"), [("lay", LAY), ("wrap", WRAP), ("pk", PK)])
def test_layout_synthetic(name: str, expected: str) -> None:
    assert render_layout(LAYOUT_BTF, _id(LAYOUT_BTF, name, "struct")) == expected


def test_layout_typedef_union_and_others() -> None:
    text = render_layout(LAYOUT_BTF, _id(LAYOUT_BTF, "wrap_t"))
    assert text == "/* typedef struct wrap wrap_t */\n" + WRAP
    union = next(t for t in LAYOUT_BTF if t.kind == Kind.UNION)
    assert render_layout(LAYOUT_BTF, union) == (
        "union {\n"
        "\tint                        x;                  /*     0     4 */\n"
        "\tchar                       y;                  /*     0     1 */\n"
        "\n\t/* size: 4, cachelines: 1, members: 2 */\n};")
    assert render_layout(LAYOUT_BTF, _id(LAYOUT_BTF, "int")) == "int"


def _pahole() -> str:
    path = shutil.which("pahole")
    if path is None:
        pytest.skip("pahole not installed (apt-get install dwarves)")
    return path


@pytest.mark.oracle
def test_layout_synthetic_matches_pahole(tmp_path: Path) -> None:
    pahole = _pahole()
    path = tmp_path / "layout.btf"
    path.write_bytes(_layout_blob())
    for name, ours in (("lay", LAY), ("wrap", WRAP), ("pk", PK)):
        out = subprocess.run([pahole, "-F", "btf", "-C", name, str(path)], check=True,
                             capture_output=True, text=True).stdout.rstrip("\n")
        # pahole guesses an __aligned__(16) for lay from its tail padding; BTF has no such fact
        assert out.replace("} __attribute__((__aligned__(16)));", "};") == ours


# known numbers from pahole on the sample kernels
KNOWN = {
    "6.1-amd64": {
        "kobject": ["\tconst struct kobj_type *   ktype;                /*    40     8 */",
                    "\tunsigned int               uevent_suppress:1;    /*    60: 4  4 */",
                    "\t/* size: 64, cachelines: 1, members: 12 */",
                    "\t/* bit_padding: 27 bits */"],
        "sk_buff": ["\t\t\t/* XXX 2 bits hole, try to pack */",
                    "\t\t\t/* XXX 1 byte hole, try to pack */",
                    "\t\t\t\t\t__u16  csum_offset; /*   138     2 */",
                    "\t/* size: 232, cachelines: 4, members: 28 */"],
    },
}


@pytest.mark.parametrize("path", [p for p in KERNELS if p.name.startswith("6.1-")],
                         ids=lambda p: p.name)
def test_layout_known_numbers(path: Path, kernel_btf) -> None:
    btf = kernel_btf(path)
    for struct, lines in KNOWN[path.name.removesuffix(".btf.xz")].items():
        text = render_layout(btf, btf.find(struct, "struct")).split("\n")
        for line in lines:
            assert line in text, (struct, line)


def _pahole_blocks(text: str) -> dict[str, list[str]]:
    blocks: dict[str, list[str]] = {}
    cur: list[str] | None = None
    for line in text.splitlines():
        if cur is None:
            m = re.match(r"^(struct|union) (\S+) \{$", line)
            if m:
                cur = [line]
                key = f"{m.group(1)} {m.group(2)}"
        else:
            cur.append(line)
            if line.startswith("}"):
                blocks.setdefault(key, []).append(cur)
                cur = None
    return blocks


def _normal(line: str) -> str:
    # pahole's own spellings: `const char  *`, `const const` for const arrays, `clockid_t ,`,
    # `struct page * *`
    line = line.replace("  *", " *").replace("const const ", "const ").replace(" ,", ",")
    while "* *" in line:
        line = line.replace("* *", "**")
    return re.sub(r"\s+", " ", line)


@pytest.mark.oracle
@pytest.mark.parametrize("path", KERNELS[:2], ids=KERNEL_IDS[:2])
def test_layout_matches_pahole(path: Path, kernel_btf, raw_sample) -> None:
    """Random structs laid out as pahole does, but for what BTF cannot say (forced alignment
    pahole infers from holes)."""
    pahole = _pahole()
    out = subprocess.run([pahole, "-F", "btf", str(raw_sample(path))], capture_output=True,
                         text=True).stdout
    blocks = _pahole_blocks(out)
    btf = kernel_btf(path)
    structs = [t for t in btf if t.kind == Kind.STRUCT and t.name]
    count = Counter(t.name for t in structs)
    structs = [t for t in structs
               if count[t.name] == 1 and len(blocks.get(f"struct {t.name}", [])) == 1]
    chosen = random.Random(SEED).sample(structs, min(N_RANDOM, len(structs)))
    compared, bad = 0, []
    for t in chosen:
        theirs = blocks[f"struct {t.name}"][0]
        text = "\n".join(theirs)
        if "__aligned__" in text or "Force alignment" in text or ")[" in text:
            continue  # pahole's guesses, or its spelling of pointers to arrays
        ours = render_layout(btf, t).split("\n")
        if any(")[" in line for line in ours):
            continue
        compared += 1
        if [_normal(x) for x in ours] != [_normal(x) for x in theirs]:
            bad.append(t.name)
    assert compared > N_RANDOM * 0.8
    assert not bad, bad[:10]


# -- mutated BTF: only BtfError ----------------------------------------------------------------

def _mutants(n: int, seed: int) -> list[bytes]:
    seeds = [sample_blob(), _small_blob(), _layout_blob(), DECLARATORS]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        blob = bytearray(rng.choice(seeds))
        words = int.from_bytes(blob[12:16], "little") // 4
        for _ in range(rng.randint(1, 4)):
            at = 24 + 4 * rng.randrange(words)
            r = rng.random()
            if r < 0.5:
                v = rng.randrange(1, 40)  # small numbers: plausible ids, kinds, sizes
            elif r < 0.8:
                v = rng.getrandbits(32)
            else:
                v = int.from_bytes(blob[at:at + 4], "little") ^ (1 << rng.randrange(32))
            blob[at:at + 4] = v.to_bytes(4, "little")
        out.append(bytes(blob))
    return out


@pytest.mark.parametrize("blob", _mutants(400, SEED), ids=lambda b: "mutant")
def test_mutated_btf_gives_only_btf_error(blob: bytes) -> None:
    try:
        btf = load_bytes(blob)
    except BtfError:
        return
    calls = [lambda: dump_c(btf)]
    for tid in range(btf.end_id):
        calls += [lambda i=tid: render_c(btf, i), lambda i=tid: render_layout(btf, i),
                  lambda i=tid: render_c(btf, i, real_names=True),
                  lambda i=tid: type_name(btf, i, "x")]
    for call in calls:
        try:
            call()
        except BtfError:
            pass
