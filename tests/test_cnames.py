"""C type names: declarator syntax as libbpf's btf_dump writes it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bpfls.btf import BtfError, load_bytes
from bpfls.btf.cnames import base_name, type_name
from bpfls.btf.dump_c import dump_c

from btfbuild import BtfBuilder


def _declarators() -> tuple[bytes, dict[str, int]]:
    """A BTF with one type of each declarator shape; returns the blob and name -> type id."""
    b = BtfBuilder()
    ids: dict[str, int] = {}
    i32 = ids["int"] = b.int_("int", 4, signed=True)
    ch = ids["char"] = b.int_("char", 1, signed=True, char=True)
    long_ = b.int_("long int", 8, signed=True)
    ids["void *"] = b.ptr(0)
    cvoid = b.const(0)
    ids["const void *"] = b.ptr(cvoid)
    cch = b.const(ch)
    ids["const char *"] = b.ptr(cch)
    pch = b.ptr(ch)
    ids["char * const"] = b.const(pch)
    ids["char **"] = b.ptr(pch)
    vi = b.volatile(i32)
    ids["volatile int *"] = b.ptr(vi)
    ids["const volatile int"] = b.const(vi)
    ids["int * restrict"] = b.restrict(b.ptr(i32))
    arr4 = ids["int [4]"] = b.array(i32, i32, 4)
    ids["int (*)[4]"] = b.ptr(arr4)
    ids["int *[4]"] = b.array(b.ptr(i32), i32, 4)
    ids["int [2][3]"] = b.array(b.array(i32, i32, 3), i32, 2)
    ids["const char [8]"] = b.array(cch, i32, 8)
    ids["const int [2] (const array)"] = b.const(b.array(i32, i32, 2))
    noargs = b.func_proto(i32, [])
    ids["int (*)(void)"] = b.ptr(noargs)
    ids["int (void)"] = noargs
    voidret = b.func_proto(0, [("", ids["void *"]), ("", long_)])
    ids["void (*)(void *, long int)"] = b.ptr(voidret)
    varargs = b.func_proto(pch, [("fmt", ids["const char *"]), ("", 0)])
    pvarargs = ids["char *(*)(const char *, ...)"] = b.ptr(varargs)
    ids["char *(**)(const char *, ...)"] = b.ptr(pvarargs)
    ids["int (*[4])(void)"] = b.array(ids["int (*)(void)"], i32, 4)
    ids["int (*(*)(void))[4]"] = b.ptr(b.func_proto(ids["int (*)[4]"], []))
    # a function returning a function pointer: void (*(*)(int))(void)
    vv = b.ptr(b.func_proto(0, []))
    ids["void (*(*)(int))(void)"] = b.ptr(b.func_proto(vv, [("", i32)]))
    ids["clang void arg"] = b.ptr(b.func_proto(i32, [("", 0)]))
    s = ids["struct task"] = b.struct("task", 8, [("pid", i32, 0, 0), ("tgid", i32, 32, 0)])
    ids["const struct task *"] = b.ptr(b.const(s))
    anon = ids["struct {...}"] = b.struct("", 4, [("x", i32, 0, 0)])
    ids["struct {...} *"] = b.ptr(anon)
    ids["union u"] = b.union("u", 4, [("a", i32, 0, 0)])
    ids["enum e"] = b.enum("e", 4, [("E0", 0)])
    ids["enum {...}"] = b.enum("", 4, [("ANON0", 0)])
    ids["union later"] = b.fwd("later", union=True)
    ids["struct fwd"] = b.fwd("fwd")
    td = ids["task_t"] = b.typedef("task_t", s)
    ids["const task_t *"] = b.ptr(b.const(td))
    ids["handler_t"] = b.typedef("handler_t", ids["void (*)(void *, long int)"])
    ids["user int *"] = b.ptr(b.type_tag("user", i32))
    ids["double"] = b.float_("double", 8)
    proto = b.func_proto(i32, [("t", ids["const struct task *"]), ("flags", long_)])
    ids["func"] = b.func("do_it", proto)
    ids["var"] = b.var("counter", ids["const volatile int"])
    # every declarator as a member, so that bpftool's header spells each one
    members = [(f"m{i}", tid, i * 512, 0) for i, (key, tid) in enumerate(ids.items())
               if key not in _NOT_MEMBERS]
    ids["holder"] = b.struct("holder", 64 * len(members), members)
    return b.build(), ids


_NOT_MEMBERS = {"int (void)", "func", "var"}


BLOB, IDS = _declarators()
BTF = load_bytes(BLOB, name="declarators")

CASES = [
    ("int", "", "int"),
    ("int", "x", "int x"),
    ("void *", "", "void *"),
    ("void *", "p", "void *p"),
    ("const void *", "p", "const void *p"),
    ("const char *", "s", "const char *s"),
    ("char * const", "s", "char * const s"),
    ("char * const", "", "char * const"),
    ("char **", "argv", "char **argv"),
    ("volatile int *", "v", "volatile int *v"),
    ("const volatile int", "cv", "volatile const int cv"),  # libbpf writes the inner one first
    ("int * restrict", "r", "int * restrict r"),
    ("int [4]", "", "int [4]"),
    ("int [4]", "a", "int a[4]"),
    ("int (*)[4]", "pa", "int (*pa)[4]"),
    ("int (*)[4]", "", "int (*)[4]"),
    ("int *[4]", "ap", "int *ap[4]"),
    ("int [2][3]", "m", "int m[2][3]"),
    ("const char [8]", "name", "const char name[8]"),
    ("const int [2] (const array)", "ca", "int ca[2]"),
    ("int (*)(void)", "fn", "int (*fn)(void)"),
    ("int (*)(void)", "", "int (*)(void)"),
    ("int (void)", "", "int (void)"),
    ("void (*)(void *, long int)", "cb", "void (*cb)(void *, long int)"),
    ("char *(*)(const char *, ...)", "f", "char * (*f)(const char *, ...)"),  # sic: libbpf's space
    ("char *(**)(const char *, ...)", "pf", "char * (**pf)(const char *, ...)"),
    ("int (*[4])(void)", "table", "int (*table[4])(void)"),
    ("int (*(*)(void))[4]", "g", "int (* (*g)(void))[4]"),
    ("void (*(*)(int))(void)", "h", "void (* (*h)(int))(void)"),
    ("clang void arg", "k", "int (*k)(void)"),
    ("struct task", "t", "struct task t"),
    ("const struct task *", "t", "const struct task *t"),
    ("struct {...}", "", "struct {...}"),
    ("struct {...} *", "p", "struct {...} *p"),
    ("union u", "", "union u"),
    ("enum e", "v", "enum e v"),
    ("enum {...}", "", "enum {...}"),
    ("union later", "l", "union later l"),
    ("struct fwd", "", "struct fwd"),
    ("task_t", "t", "task_t t"),
    ("const task_t *", "", "const task_t *"),
    ("handler_t", "h", "handler_t h"),
    ("user int *", "u", 'int __attribute__((btf_type_tag("user"))) *u'),
    ("double", "d", "double d"),
    ("func", "", "int do_it(const struct task *, long int)"),
    ("func", "alias", "int alias(const struct task *, long int)"),
    ("var", "", "volatile const int counter"),
]


@pytest.mark.parametrize(("key", "name", "expected"), CASES,
                         ids=[f"{k}|{n}" for k, n, _ in CASES])
def test_type_name(key: str, name: str, expected: str) -> None:
    assert type_name(BTF, IDS[key], name) == expected


def test_type_name_void_and_type_objects() -> None:
    assert type_name(BTF, 0) == "void"
    assert type_name(BTF, 0, "x") == "void x"
    t = BTF[IDS["const char *"]]
    assert type_name(BTF, t) == type_name(BTF, t.id) == "const char *"


def test_base_name() -> None:
    assert base_name(BTF[0]) == "void"
    assert base_name(BTF[IDS["struct task"]]) == "struct task"
    assert base_name(BTF[IDS["struct {...}"]]) == "struct {...}"
    assert base_name(BTF[IDS["union later"]]) == "union later"
    assert base_name(BTF[IDS["enum {...}"]]) == "enum {...}"
    assert base_name(BTF[IDS["task_t"]]) == "task_t"


def _cyclic(kind: str) -> bytes:
    b = BtfBuilder()
    if kind == "const":  # [1] const -> [2] volatile -> [1]
        b.const(2)
        b.volatile(1)
    elif kind == "pointer":  # [1] ptr -> [1]
        b.ptr(1)
    else:  # [1] array of [1]
        b.int_("int", 4)
        b.array(2, 1, 2)
    return b.build()


@pytest.mark.parametrize("kind", ["const", "pointer", "array"])
def test_cyclic_declarator_is_btf_error(kind: str) -> None:
    btf = load_bytes(_cyclic(kind), name=f"cyclic-{kind}")
    with pytest.raises(BtfError, match="too long or cyclic"):
        type_name(btf, btf.end_id - 1, "x")


def test_long_but_finite_chain() -> None:
    b = BtfBuilder()
    t = b.int_("int", 4)
    for _ in range(100):
        t = b.ptr(t)
    btf = load_bytes(b.build())
    assert type_name(btf, t, "p") == "int " + "*" * 100 + "p"


@pytest.mark.oracle
def test_declarators_match_bpftool(bpftool: str, tmp_path: Path) -> None:
    """Every declarator above, as a member of one struct, exactly as bpftool writes it."""
    path = tmp_path / "decl.btf"
    path.write_bytes(BLOB)
    want = _bpftool_c(bpftool, path)
    assert dump_c(load_bytes(BLOB)) == want
    assert "\tint (* (*m22)(void))[4];\n" in want


def _bpftool_c(bpftool: str, path: Path) -> str:
    return subprocess.run([bpftool, "btf", "dump", "file", str(path), "format", "c"],
                          check=True, capture_output=True, text=True).stdout


def _clashing_names() -> bytes:
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)
    b.struct("dup", 4, [("a", i32, 0, 0)])
    b.struct("dup", 8, [("a", i32, 0, 0), ("b", i32, 32, 0)])
    b.union("dup", 4, [("c", i32, 0, 0)])  # structs and unions share one tag namespace
    b.fwd("dup")  # forward declarations keep their name
    b.enum("empty", 4, [])  # and so do enums without enumerators
    b.enum("empty", 4, [("E1", 1)])
    b.typedef("val_t", i32)
    b.enum("kind", 4, [("val_t", 0), ("OTHER", 1)])  # enumerators share typedef names
    b.enum("kind2", 4, [("OTHER", 2)])
    b.typedef("dup", i32)  # typedefs do not clash with tags
    return b.build()


def test_clashing_names_get_suffixes() -> None:
    text = dump_c(load_bytes(_clashing_names()))
    for line in ("struct dup {", "struct dup___2 {", "union dup___3 {", "struct dup;",
                 "enum empty;", "enum empty {", "\tval_t___2 = 0,", "\tOTHER___2 = 2,",
                 "typedef int dup;", "typedef int val_t;"):
        assert f"\n{line}" in text, line


@pytest.mark.oracle
def test_clashing_names_match_bpftool(bpftool: str, tmp_path: Path) -> None:
    path = tmp_path / "names.btf"
    path.write_bytes(_clashing_names())
    assert dump_c(load_bytes(path.read_bytes())) == _bpftool_c(bpftool, path)
