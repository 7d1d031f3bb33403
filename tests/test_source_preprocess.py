"""Preprocessing: conditionals, defines, includes, pragmas, masking, macro expansion."""

from __future__ import annotations

import pytest

from bpfls.source.macros import Expander, define_from_text
from bpfls.source.mask import mask_units
from bpfls.source.ppexpr import ConstEval, EvalError, parse_int_literal
from bpfls.source.pptokens import tokenize, tokens_text
from bpfls.source.preprocess import Preprocessor


def run(text: str, tmp_path, name: str = "prog.bpf.c", **kw):
    path = tmp_path / name
    path.write_text(text)
    pp = Preprocessor(**kw)
    return pp.run(str(path), text.encode())


def active_code(res) -> str:
    return bytes(res.units[0].code).decode()


def test_positions_are_kept(tmp_path) -> None:
    text = "#define A 1\n#if A\nint yes; /* é */\n#else\nint no;\n#endif\n\tint tail;\n"
    res = run(text, tmp_path)
    code = active_code(res)
    assert len(code.encode()) == len(text.encode())
    assert [i for i, c in enumerate(code) if c == "\n"] == \
        [i for i, c in enumerate(text) if c == "\n"]
    assert "int yes;" in code and "int no" not in code
    assert code.splitlines()[6] == "\tint tail;"
    assert res.units[0].inactive == [(3, 5)]


@pytest.mark.parametrize("cond,taken", [
    ("1 + 2 * 3 == 7", True), ("(1 << 4) > 15 && !0", True), ("-1 < 0", True),
    ("-1 < 0u", False), ("0x10 == 16 && 010 == 8 && 0b11 == 3", True), ("'a' == 97", True),
    ("defined(FOO) || defined BAR", False), ("UNDEFINED == 0", True), ("5 / 2 == 2", True),
    ("-5 % 3 == -2", True), ("1 ? 2 : 3", True), ("(0, 1)", True),
    ("__BPF__ && __bpf__ && !defined(__x86_64__)", True),
    ("__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && __LITTLE_ENDIAN__", True),
    ("__clang_major__ >= 16", True), ("KV(5, 10, 0) > 0x50000", True),
    ("__has_include(<bpf/bpf_helpers.h>)", True), ("__has_include(\"nope.h\")", False),
    ("__has_builtin(__builtin_preserve_access_index)", True),
    ("__has_attribute(preserve_access_index)", True),
    ("defined(__TARGET_ARCH_x86) && TWO == 2 && defined(FLAG) && FLAG == 1", True),
])
def test_if_expressions(tmp_path, cond: str, taken: bool) -> None:
    text = f"#define KV(a, b, c) (((a) << 16) + ((b) << 8) + (c))\n#if {cond}\nint yes;\n#endif\n"
    res = run(text, tmp_path, defines={"TWO": "2", "FLAG": None}, arch="x86")
    assert ("int yes;" in active_code(res)) is taken
    assert not res.diagnostics


def test_elif_chains_and_nesting(tmp_path) -> None:
    text = """\
#define V 2
#if V == 1
int one;
#elif V == 2
# if defined(INNER)
int inner;
# else
int two;
# endif
#elif V == 2
int again;
#else
int other;
#endif
#ifndef V
int nov;
#endif
#ifdef V
int hasv;
#endif
"""
    code = active_code(run(text, tmp_path))
    assert "int two;" in code and "int hasv;" in code
    for gone in ("one", "inner", "again", "other", "nov"):
        assert f"int {gone};" not in code


def test_bad_conditionals_are_reported_not_raised(tmp_path) -> None:
    res = run("#if 1 +\nint a;\n#endif\n#if 1/0\n#endif\n#else\n#endif\n#if 1\n", tmp_path)
    codes = [d.code for d in res.diagnostics]
    # bpfls could not evaluate (a warning) vs clang rejects the file (an error)
    assert codes.count("preprocessor") == 2 and codes.count("unbalanced-conditional") == 3
    res = run("#error Must specify a BPF target arch\n#if 0\n#error not this one\n#endif\n",
              tmp_path)
    assert [d.code for d in res.diagnostics] == ["preprocessor-error"]
    assert "BPF target arch" in res.diagnostics[0].message


def test_directives_in_comments_and_continuations(tmp_path) -> None:
    text = """\
/* a comment
#if 0
*/
#define LONG(a, \\
             b) ((a) + \\
                 (b))
int visible; // #endif
"""
    res = run(text, tmp_path)
    assert "int visible;" in active_code(res)
    m = res.macros["LONG"]
    assert m.params == ("a", "b") and m.text == "((a) + (b))" and m.line == 3
    assert not res.diagnostics


def test_includes(tmp_path) -> None:
    inc = tmp_path / "include"
    inc.mkdir()
    (inc / "common.h").write_text("#pragma once\n#define FROM_COMMON 1\n"
                                  "struct common { int a; };\n")
    (tmp_path / "local.h").write_text("#ifndef LOCAL_H\n#define LOCAL_H\nint local;\n#endif\n")
    text = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpf/bpf_core_read.h"
#include "local.h"
#include "local.h"
#include <common.h>
#include "common.h"
#include <linux/types.h>
#include "missing.h"
#if FROM_COMMON && defined(__VMLINUX_H__) && defined(BPF_CORE_READ) && defined(SEC)
int all_seen;
#endif
"""
    res = run(text, tmp_path, include_dirs=[str(inc)])
    main = res.units[0]
    kinds = [(r.name, r.kind) for r in main.includes]
    assert kinds == [("vmlinux.h", "vmlinux"), ("bpf/bpf_helpers.h", "libbpf"),
                     ("bpf/bpf_core_read.h", "libbpf"), ("local.h", "file"), ("local.h", "file"),
                     ("common.h", "file"), ("common.h", "file"), ("linux/types.h", "system"),
                     ("missing.h", "missing")]
    assert "int all_seen;" in active_code(res)
    files = [u.path for u in res.units if not u.virtual]
    assert files == [str(tmp_path / "prog.bpf.c"), str(tmp_path / "local.h"),
                     str(inc / "common.h")]
    assert [d.code for d in res.diagnostics] == ["include-not-found"]
    assert res.diagnostics[0].range.start.line == 8
    assert res.vmlinux == "vmlinux.h" and res.vmlinux_path is None and res.base_pai
    assert set(res.libbpf_headers) == {"bpf_helpers.h", "bpf_core_read.h"}


def test_libbpf_headers_on_the_include_path_win(tmp_path) -> None:
    """A header named like one of libbpf's is read when the search finds it (a project's own
    libbpf copy, or its own header of that name); the built-in one stands in otherwise."""
    inc = tmp_path / "libbpf"
    (inc / "bpf").mkdir(parents=True)
    (inc / "bpf" / "bpf_tracing.h").write_text(
        "#include <bpf/bpf_helpers.h>\n"
        "#define PT_REGS_PARM6_CORE_SYSCALL(x) BPF_CORE_READ((x), r9)\n"
        "#define PROJECT_TRACING 1\n")
    (tmp_path / "bpf_core_read.h").write_text("#define PROJECT_CORE_READ 1\n")
    text = """\
#include <bpf/bpf_tracing.h>
#include "bpf_core_read.h"
#include <bpf/usdt.bpf.h>
"""
    res = run(text, tmp_path, include_dirs=[str(inc)])
    kinds = [(r.name, r.kind) for r in res.units[0].includes]
    assert kinds == [("bpf/bpf_tracing.h", "file"), ("bpf_core_read.h", "file"),
                     ("bpf/usdt.bpf.h", "libbpf")]
    assert res.units[0].includes[0].resolved == str(inc / "bpf" / "bpf_tracing.h")
    assert {"PT_REGS_PARM6_CORE_SYSCALL", "PROJECT_TRACING", "PROJECT_CORE_READ"} \
        <= set(res.macros)
    # the built-in usdt.bpf.h includes bpf_tracing.h: the project's, found on the path
    assert set(res.libbpf_headers) == {"bpf_helpers.h", "usdt.bpf.h"}
    assert "BPF_USDT" in res.intrinsics and "BPF_KPROBE" not in res.intrinsics
    # without the include path, every one of them is built in
    res = run(text.replace('"bpf_core_read.h"', "<bpf/bpf_core_read.h>"), tmp_path)
    assert {r.kind for r in res.units[0].includes} == {"libbpf"}
    assert "PROJECT_TRACING" not in res.macros and "BPF_KPROBE" in res.intrinsics


def test_big_vmlinux_found_and_no_preserve_access_index(tmp_path) -> None:
    """A big header that is no configured kernel's dump is not read (it is parsed into BTF)."""
    (tmp_path / "vmlinux.h").write_text("struct x { int a; };\n" * 30000)
    res = run('#define BPF_NO_PRESERVE_ACCESS_INDEX\n#include "vmlinux.h"\n', tmp_path)
    assert res.vmlinux_path == str(tmp_path / "vmlinux.h")
    assert res.vmlinux_kernel is None and res.vmlinux_btf is None
    assert not res.base_pai
    assert [u.path for u in res.units] == [str(tmp_path / "prog.bpf.c")]  # never read
    # its types relocate when its own pragma says so
    assert not run('#include "vmlinux.h"\n', tmp_path).base_pai
    (tmp_path / "vmlinux.h").write_text(
        "#pragma clang attribute push (__attribute__((preserve_access_index)), "
        "apply_to = record)\n" + "struct x { int a; };\n" * 30000
        + "#pragma clang attribute pop\n")
    assert run('#include "vmlinux.h"\n', tmp_path).base_pai


def test_small_vmlinux_is_read_like_any_header(tmp_path) -> None:
    (tmp_path / "vmlinux.h").write_text("#define FROM_HEADER 1\nstruct x { int a; };\n")
    res = run('#include "vmlinux.h"\n#ifdef FROM_HEADER\nint seen;\n#endif\n', tmp_path)
    assert res.vmlinux is None and res.vmlinux_path is None
    assert [u.path for u in res.units] == [str(tmp_path / "prog.bpf.c"),
                                           str(tmp_path / "vmlinux.h")]
    assert [r.kind for r in res.units[0].includes] == ["file"]
    assert "int seen;" in active_code(res)


def test_vmlinux_wrapper_includes_the_next_one(tmp_path) -> None:
    """A wrapper vmlinux.h first on the include path reaches the real one with
    #include_next, and is not read again."""
    own, dump = tmp_path / "own", tmp_path / "dump"
    own.mkdir()
    dump.mkdir()
    (own / "vmlinux.h").write_text('#include_next "vmlinux.h"\nstruct mine { int a; };\n')
    (dump / "vmlinux.h").write_text("struct theirs { int b; };\n")
    res = run('#include "vmlinux.h"\n', tmp_path, include_dirs=[str(own), str(dump)])
    assert [u.path for u in res.units] == [str(tmp_path / "prog.bpf.c"), str(own / "vmlinux.h"),
                                           str(dump / "vmlinux.h")]
    assert not res.diagnostics


def test_own_header_named_like_libbpfs_is_read(tmp_path) -> None:
    """A header found on the include path under a libbpf header's name is read, the project's
    own one (no libbpf guard) as a copy of libbpf's: its text is what clang sees."""
    (tmp_path / "bpf_helpers.h").write_text("#ifndef OWN_HELPERS\n#define OWN_HELPERS\n"
                                            "#define _(P) (__builtin_preserve_access_index(P))\n"
                                            "#endif\n")
    (tmp_path / "bpf_core_read.h").write_text("#ifndef __BPF_CORE_READ_H__\n"
                                              "#define __BPF_CORE_READ_H__\n#endif\n")
    res = run('#include "bpf_helpers.h"\n#include "bpf_core_read.h"\n', tmp_path)
    assert [r.kind for r in res.units[0].includes] == ["file", "file"]
    assert "_" in res.macros and res.libbpf_headers == []


def test_self_include_is_bounded(tmp_path) -> None:
    res = run('#include "prog.bpf.c"\nint x;\n', tmp_path)
    assert any(d.code == "include-depth" for d in res.diagnostics)


def test_overlays_win_over_disk(tmp_path) -> None:
    (tmp_path / "h.h").write_text("#define V 1\n")
    res = run('#include "h.h"\n#if V == 2\nint two;\n#endif\n', tmp_path,
              overlays={str(tmp_path / "h.h"): "#define V 2\n"})
    assert "int two;" in active_code(res)


def test_pragma_attribute_regions(tmp_path) -> None:
    text = """\
struct before { int a; };
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
struct inside { int a; };
#pragma clang attribute push (__attribute__((unused)), apply_to = variable)
struct nested { int a; };
#pragma clang attribute pop
#pragma clang attribute pop
struct after { int a; };
"""
    unit = run(text, tmp_path).units[0]
    # a push applies from the line after it, a pop from the line after it
    assert [unit.pai_at(i) for i in range(8)] == [False, False, True, True, True, True, True,
                                                  False]


def test_arch_and_defines(tmp_path) -> None:
    text = "#ifdef __TARGET_ARCH_arm64\nint arm;\n#endif\n#if X == 3\nint x3;\n#endif\n"
    code = active_code(run(text, tmp_path, arch="aarch64", defines={"X": "3"}))
    assert "int arm;" in code and "int x3;" in code
    code = active_code(run(text, tmp_path, arch="aarch64", defines={"__TARGET_ARCH_x86": None}))
    assert "int arm;" not in code
    code = active_code(run("#ifdef __BIG_ENDIAN__\nint be;\n#endif\n", tmp_path, big_endian=True))
    assert "int be;" in code


def test_masking_keeps_positions_and_records_sections(tmp_path) -> None:
    text = """\
#include <bpf/bpf_helpers.h>
#define __my_inline static inline __attribute__((always_inline))
#define __pai __attribute__((preserve_access_index))
#define __rcu
#define PROG_SEC "kprobe/" "do_exit"
SEC("fentry/do_exit") int a(void *ctx) { return 0; }
SEC(PROG_SEC)
int b(void *ctx) { return 0; }
static __always_inline __weak int c(void) { return 0; }
__my_inline int d(struct s __rcu *p) { return 0; }
struct s { int x; } __pai;
char LICENSE[] SEC("license") = "GPL";
"""
    res = run(text, tmp_path)
    mask_units(res.units, res.macros)
    unit = res.units[0]
    code = bytes(unit.code).decode()
    assert len(code) == len(text)
    lines = code.splitlines()
    assert lines[5].strip() == "int a(void *ctx) { return 0; }"
    assert lines[8].split() == ["static", "int", "c(void)", "{", "return", "0;", "}"]
    assert lines[9].startswith("static ") and "__rcu" not in lines[9]
    assert [name for _, name in unit.sections] == ["fentry/do_exit", "kprobe/do_exit", "license"]
    assert any("preserve_access_index" in a for _, a in unit.attrs)


def test_expander() -> None:
    macros = {m.name: m for m in (
        define_from_text("ARROW(a, b) a->b"),
        define_from_text("STR(x) #x"),
        define_from_text("CAT(a, b) a ## b"),
        define_from_text("VA(f, ...) f(0, ##__VA_ARGS__)"),
        define_from_text("NAMED(args...) g(args)"),
        define_from_text("REC REC + 1"),
        define_from_text("ORIG tuplehash[IP_CT_DIR_ORIGINAL].tuple"),
        define_from_text("OPT(a, ...) h(a __VA_OPT__(,) __VA_ARGS__)"),
    )}
    ex = Expander(macros)

    def expand(text: str) -> str:
        return tokens_text(ex.expand(tokenize(text.encode())))

    assert expand("ARROW(t, mm)") == "t->mm"
    assert expand("STR(a + b)") == '"a + b"'
    assert expand("CAT(foo, bar)") == "foobar"
    assert expand("VA(f)") == "f(0)"
    assert expand("VA(f, 1, 2)").replace(" ", "") == "f(0,1,2)"
    assert expand("NAMED(1, 2)") == "g(1, 2)"
    assert expand("REC") == "REC + 1"
    assert expand("ct->ORIG.dst") == "ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple.dst"
    assert expand("OPT(1)") == "h(1)"
    assert expand("OPT(1, 2)") == "h(1, 2)"
    assert expand("ARROW") == "ARROW"
    assert expand("ARROW(unterminated") == "ARROW(unterminated"
    # tokens from arguments keep their place in the text; body tokens take the invocation's
    toks = ex.expand(tokenize(b"x = ARROW(t, mm);"))
    by_text = {t.text: t.origin for t in toks}
    assert by_text["t"] == (10, 11) and by_text["mm"] == (13, 15) and by_text["->"] == (4, 16)


def test_const_eval() -> None:
    def ev(text: str, **kw) -> int:
        return ConstEval(tokenize(text.encode()), **kw).run()

    assert ev("(1 << 63) >> 63", pp=True) == -1
    assert ev("(1u << 63) >> 63", pp=True) == 1
    assert ev("0xffffffffffffffff + 1", pp=True) == 0
    assert ev("X * 2", ident={"X": 21}.get) == 42
    assert ev("(unsigned char)300", is_type=lambda t: t[0].text == "unsigned") == 300
    assert ev("sizeof(int) * 2", sizeof=lambda t: 4) == 8
    with pytest.raises(EvalError):
        ev("1 / 0", pp=True)
    with pytest.raises(EvalError):
        ev("Y", ident=lambda n: None)
    assert parse_int_literal("0x10UL") == (16, True)
    assert parse_int_literal("1'000") == (1000, False)


def test_bom_and_crlf(tmp_path) -> None:
    text = "\ufeff#define X 1\r\n#if X\r\nint yes;\r\n#else\r\nint no;\r\n#endif\r\n"
    res = run(text, tmp_path)
    code = active_code(res)
    assert "int yes;" in code and "int no;" not in code
    assert "X" in res.macros and not res.diagnostics


def test_definitions_made_once_are_the_same_after_edits(tmp_path) -> None:
    """A header's #defines are made once per line and reused; the position of each stays the
    one of the text analysed (an indented #define at the same offset moves its name)."""
    text = "int a;\n#define TWO 2\n#define ADD(x, y) ((x) + (y))\n"
    first = run(text, tmp_path)
    again = run(text, tmp_path)
    assert again.macros["TWO"] is first.macros["TWO"]
    assert again.macros["ADD"].params == ("x", "y")
    assert (first.macros["ADD"].line, first.macros["ADD"].column) == (2, 8)
    moved = run("int\n   #define TWO 2\n#define ADD(x, y) ((x) + (y))\n", tmp_path)
    # the same '#' offset and line, three columns further right
    assert (moved.macros["TWO"].line, moved.macros["TWO"].column) == (1, 11)
    assert (first.macros["TWO"].line, first.macros["TWO"].column) == (1, 8)
    assert tokens_text(moved.macros["ADD"].body) == "((x) + (y))"


def test_block_comment_spanning_lines_continues_a_directive(tmp_path) -> None:
    text = """\
#define SLOTS 4 /* a comment that
                   spans lines */ /* and another */
struct value { int slots[SLOTS]; };
/* before */ #define AFTER_COMMENT 1
#if SLOTS /* four
             slots */ == 4 && AFTER_COMMENT
int taken;
#endif
"""
    res = run(text, tmp_path)
    code = active_code(res)
    assert "struct value { int slots[SLOTS]; };" in code and "int taken;" in code
    assert "spans lines" not in code and "*/" not in code.split("struct value")[0]
    assert res.macros["SLOTS"].text == "4" and "AFTER_COMMENT" in res.macros
    assert code.count("\n") == text.count("\n") and len(code) == len(text)
    assert not res.diagnostics


def test_splices_come_first(tmp_path) -> None:
    text = """\
#def\\
ine NAME_L\\
EN 1\\
6
#define FN\\
(x) ((x) + 1)
#if NAME_LEN == 16 && FN(1) == 2
int spliced;
#endif
// a line comment \\
#define HIDDEN 1
#define AFTER 2 // a comment \\
int not_code;
int code_again;
/* a comment closed across a splice *\\
/ #define AFTER_SPLICED_COMMENT 1
/\\
* opened across one; *skb*\\
#define IN_COMMENT 1 */
"""
    res = run(text, tmp_path)
    assert "AFTER_SPLICED_COMMENT" in res.macros and "IN_COMMENT" not in res.macros
    code = active_code(res)
    assert res.macros["NAME_LEN"].text == "16" and res.macros["NAME_LEN"].line == 0
    assert res.macros["FN"].params == ("x",)
    assert "int spliced;" in code and "int code_again;" in code and "not_code" not in code
    assert "HIDDEN" not in res.macros and res.macros["AFTER"].text == "2"
    toks = tokenize(b"NAME_L\\\nEN x", 10)
    assert [(t.text, t.start, t.end) for t in toks] == [("NAME_LEN", 10, 20), ("x", 21, 22)]
    toks = tokenize(b"a\\\r\nb")
    assert [(t.text, t.start, t.end) for t in toks] == [("ab", 0, 5)]


def test_literals_are_read_whole(tmp_path) -> None:
    text = """\
#define OPEN "/*"
#define QUOTE '"'
int visible;
#define SEP 1'000 /* '
#define AFTER_SEP 1
char *s = "#define NOT_A_DIRECTIVE \\
#define STILL_NOT";
const char *c = "// not a comment";
#define LAST 1
"""
    res = run(text, tmp_path)
    code = active_code(res)
    assert "int visible;" in code and res.macros["OPEN"].text == '"/*"'
    assert res.macros["QUOTE"].text == "'\"'"
    assert "AFTER_SEP" not in res.macros  # the block comment opened on SEP's line hides it
    assert "NOT_A_DIRECTIVE" not in res.macros and "STILL_NOT" not in res.macros
    assert "LAST" not in res.macros  # still inside SEP's comment
    res = run(text.replace("/* '", "// '"), tmp_path)
    assert {"AFTER_SEP", "LAST"} <= set(res.macros)
    assert "NOT_A_DIRECTIVE" not in res.macros and "STILL_NOT" not in res.macros
