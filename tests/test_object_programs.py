"""Object mode of the load checks: what a compiled object asks of the kernel by name
(:mod:`bpfls.analysis.object_programs`), on objects compiled here and on the shared corpus's
(where libbpf itself, opening each object through ctypes, is the oracle for programs and
maps)."""

from __future__ import annotations

import ctypes
import glob
import os
import subprocess
from pathlib import Path

import pytest
from libbpf_lookup import LIBBPF
from shared_corpus import programs as corpus_projects

from bpfls.analysis.object_programs import (
    MAP_FLAGS,
    MAP_TYPES,
    ObjectModel,
    call_executes,
    load_model,
    object_model,
    object_programs,
)
from bpfls.btf import load
from bpfls.btf.dump_c import dump_c
from bpfls.core.objfile import read_object

from conftest import SAMPLE_DIR, SHARED_BTF, load_sample_kernels, require_tool
from corpus_headers import write_headers

EXTRA = [f"-I{d}" for d in sorted(glob.glob("/usr/include/*-linux-gnu"))
         if os.path.exists(os.path.join(d, "asm", "errno.h"))]

PROGRAM = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct {
\t__uint(type, BPF_MAP_TYPE_LRU_HASH);
\t__uint(max_entries, 16);
\t__uint(map_flags, BPF_F_NO_COMMON_LRU | BPF_F_ZERO_SEED);
\t__type(key, u32);
\t__type(value, u64);
} counts SEC(".maps");

struct {
\t__uint(type, BPF_MAP_TYPE_RINGBUF);
\t__uint(max_entries, 4096);
} events SEC(".maps");

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_rcu_read_lock(void) __ksym __weak;
extern const int bpf_prog_active __ksym;
extern const void bpf_link_fops __ksym __weak;

static __noinline int bump(u32 k)
{
\tu64 one = 1;
\treturn bpf_map_update_elem(&counts, &k, &one, 0);
}

__noinline int never_called(u32 k)
{
\treturn bpf_ktime_get_ns() + k;
}

SEC("fentry/tcp_connect")
int BPF_PROG(on_connect, struct sock *sk)
{
\tstruct task_struct *t = bpf_get_current_task_btf();
\tstruct task_struct *a = bpf_task_acquire(t);
\tif (a)
\t\tbpf_task_release(a);
\tif (bpf_rcu_read_lock)
\t\tbpf_rcu_read_lock();
\treturn bump(bpf_get_smp_processor_id());
}

SEC("kprobe/do_unlinkat")
int probe(struct pt_regs *ctx)
{
\tu64 ip = 0;
\tif (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_func_ip))
\t\tip = bpf_get_func_ip(ctx);
\tbpf_printk("%d %d %d %d", 1, 2, 3, (int)ip);
\treturn *(int *)bpf_this_cpu_ptr(&bpf_prog_active) + (long)&bpf_link_fops;
}

SEC("struct_ops/my_init")
void BPF_PROG(my_init, struct sock *sk) {}

SEC("struct_ops/my_release")
void BPF_PROG(my_release, struct sock *sk) {}

SEC(".struct_ops")
struct tcp_congestion_ops first_ops = {
\t.init = (void *)my_init,
\t.name = "first",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops second_ops = {
\t.release = (void *)my_release,
\t.init = (void *)my_init,
\t.name = "second",
};

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[Path, Path]:
    """PROGRAM compiled against the 6.12 sample kernel: (source, object)."""
    clang = require_tool("clang-16")
    if not Path("/usr/include/bpf/bpf_helpers.h").exists():
        pytest.skip("libbpf's headers (libbpf-dev) are not installed")
    d = tmp_path_factory.mktemp("objprog")
    write_headers(d, dump_c(load(SAMPLE_DIR / "6.12-amd64.btf.xz")))
    src = d / "prog.bpf.c"
    src.write_text(PROGRAM)
    obj = d / "prog.bpf.o"
    subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", f"-I{d}",
                    *EXTRA, "-c", str(src), "-o", str(obj)], check=True, capture_output=True)
    return src, obj


def line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines()) if needle in ln)


def test_programs_are_the_functions_of_code_sections(compiled) -> None:
    src, obj = compiled
    programs, *_ = object_programs(read_object(obj))
    assert [(p.name, p.section) for p in programs] == [
        ("on_connect", "fentry/tcp_connect"), ("probe", "kprobe/do_unlinkat"),
        ("my_init", "struct_ops/my_init"), ("my_release", "struct_ops/my_release")]
    by_name = {p.name: p for p in programs}
    assert by_name["on_connect"].path == str(src)
    assert by_name["on_connect"].range.start.line == line_of(PROGRAM, "BPF_PROG(on_connect")
    assert by_name["probe"].range.start.line == line_of(PROGRAM, "int probe(")
    col = PROGRAM.splitlines()[by_name["probe"].range.start.line].index("probe")
    assert by_name["probe"].range.start.column == col
    assert all(p.params == () and p.macro is None for p in programs)


def test_helper_and_kfunc_calls(compiled) -> None:
    src, obj = compiled
    _, calls, *_ = object_programs(read_object(obj))
    got = [(c.name, c.function, c.reachable, c.helper_id is None) for c in calls]
    assert sorted(got) == sorted([
        ("bpf_map_update_elem", "bump", True, False),
        ("bpf_ktime_get_ns", "never_called", False, False),
        ("bpf_get_current_task_btf", "on_connect", True, False),
        ("bpf_task_acquire", "on_connect", True, True),
        ("bpf_task_release", "on_connect", True, True),
        ("bpf_rcu_read_lock", "on_connect", True, True),
        ("bpf_get_smp_processor_id", "on_connect", True, False),
        ("bpf_get_func_ip", "probe", True, False),
        # bpf_printk with four arguments is bpf_trace_vprintk
        ("bpf_trace_vprintk", "probe", True, False),
        ("bpf_this_cpu_ptr", "probe", True, False),
    ])
    # each section's calls in instruction order
    assert [c.name for c in calls if c.function == "on_connect"] == [
        "bpf_get_current_task_btf", "bpf_task_acquire", "bpf_task_release",
        "bpf_rcu_read_lock", "bpf_get_smp_processor_id"]
    by_name = {c.name: c for c in calls}
    assert by_name["bpf_get_func_ip"].range.start.line == line_of(PROGRAM, "ip = bpf_get_func")
    assert by_name["bpf_task_acquire"].range.start.line == line_of(PROGRAM, "= bpf_task_acq")
    assert by_name["bpf_rcu_read_lock"].ksym_checked
    assert not by_name["bpf_task_acquire"].ksym_checked
    assert all(c.guard is None and c.path == str(src) for c in calls)


def test_a_call_under_an_enumerator_check_is_dead_where_the_helper_is_missing(compiled) -> None:
    _, obj = compiled
    o = read_object(obj)
    kernels = {n: load(SAMPLE_DIR / f"{n}.btf.xz") for n in ("5.10-amd64", "6.12-amd64")}
    # the quick proof alone: dead where proven, else not decided
    m = object_model(o)
    call_executes(o, m.calls, kernels)
    by_name = {c.name: c for c in m.calls}
    assert by_name["bpf_get_func_ip"].executes == {"5.10-amd64": False, "6.12-amd64": None}
    assert by_name["bpf_trace_vprintk"].executes == {"5.10-amd64": None, "6.12-amd64": None}
    assert by_name["bpf_ktime_get_ns"].executes == {"5.10-amd64": False, "6.12-amd64": False}
    # with the verifier's exploration
    m = object_model(o)
    call_executes(o, m.calls, kernels, budget=200_000)
    by_name = {c.name: c for c in m.calls}
    assert by_name["bpf_get_func_ip"].executes == {"5.10-amd64": False, "6.12-amd64": True}
    assert by_name["bpf_trace_vprintk"].executes == {"5.10-amd64": True, "6.12-amd64": True}
    assert by_name["bpf_ktime_get_ns"].executes == {"5.10-amd64": False, "6.12-amd64": False}


def test_the_load_model_asks_where_a_kernel_lacks_the_name(compiled) -> None:
    """load_model: executes is filled where the kernel has no BPF_FUNC_<name> (or no FUNC of
    the kfunc's name), from a KernelSet as from a mapping."""
    _, obj = compiled
    m = load_model(read_object(obj), load_sample_kernels(["5.10-amd64", "6.12-amd64"]),
                   budget=200_000)
    assert isinstance(m, ObjectModel) and m.derefs == [] and m.local is not None
    got = {(c.name, c.range.start.line): c.executes for c in m.calls if c.executes}
    guarded = line_of(PROGRAM, "ip = bpf_get_func_ip")
    assert got == {
        ("bpf_get_func_ip", guarded): {"5.10-amd64": False},
        # helpers newer than 5.10 (5.11, 5.16), unguarded
        ("bpf_get_current_task_btf", line_of(PROGRAM, "= bpf_get_current_task_btf")):
            {"5.10-amd64": True},
        ("bpf_trace_vprintk", line_of(PROGRAM, "bpf_printk(")): {"5.10-amd64": True},
        # kfuncs newer than 5.10: called unguarded, and under if (bpf_rcu_read_lock)
        ("bpf_task_acquire", line_of(PROGRAM, "= bpf_task_acquire")): {"5.10-amd64": True},
        ("bpf_task_release", line_of(PROGRAM, "bpf_task_release(a)")): {"5.10-amd64": True},
        ("bpf_rcu_read_lock", line_of(PROGRAM, "bpf_rcu_read_lock();")): {"5.10-amd64": True},
    }
    quick = load_model(read_object(obj), {"5.10-amd64": load(SAMPLE_DIR / "5.10-amd64.btf.xz")})
    assert {c.name: c.executes for c in quick.calls if c.executes} == {
        "bpf_get_func_ip": {"5.10-amd64": False}, "bpf_get_current_task_btf": {"5.10-amd64": None},
        "bpf_trace_vprintk": {"5.10-amd64": None}, "bpf_task_acquire": {"5.10-amd64": None},
        "bpf_task_release": {"5.10-amd64": None}, "bpf_rcu_read_lock": {"5.10-amd64": None}}
    assert m.functions["bump"].reachable and not m.functions["never_called"].reachable
    assert m.functions["on_connect"].calls == ("bump",)


def test_maps_types_and_flags(compiled) -> None:
    src, obj = compiled
    _, _, maps, *_ = object_programs(read_object(obj))
    assert [(m.name, m.type, tuple(f for f, _ in m.flags)) for m in maps] == [
        ("counts", "BPF_MAP_TYPE_LRU_HASH", ("BPF_F_NO_COMMON_LRU", "BPF_F_ZERO_SEED")),
        ("events", "BPF_MAP_TYPE_RINGBUF", ())]
    assert maps[0].path == str(src) and maps[0].range.start.line == line_of(PROGRAM, "} counts")


def test_ksyms(compiled) -> None:
    _, obj = compiled
    o = read_object(obj)
    _, _, _, ksyms, _ = object_programs(o)
    got = {k.name: (k.function, k.weak, k.typed, k.used) for k in ksyms}
    assert got == {
        "bpf_task_acquire": (True, False, True, True),
        "bpf_task_release": (True, False, True, True),
        "bpf_rcu_read_lock": (True, True, True, True),
        "bpf_prog_active": (False, False, True, True),
        "bpf_link_fops": (False, True, False, True),
    }
    acquire = next(k for k in ksyms if k.name == "bpf_task_acquire")
    assert o.btf[acquire.type_id].kind_name == "FUNC_PROTO"
    assert acquire.range.start.line == line_of(PROGRAM, "*bpf_task_acquire(struct")


def test_struct_ops(compiled) -> None:
    _, obj = compiled
    *_, struct_ops = object_programs(read_object(obj))
    assert [(s.name, s.type_name, tuple(m for m, _ in s.members)) for s in struct_ops] == [
        ("first_ops", "tcp_congestion_ops", ("init",)),
        ("second_ops", "tcp_congestion_ops", ("init", "release"))]


def test_the_map_type_table_is_the_kernels_enum() -> None:
    """MAP_TYPES (used when an object's BTF lacks enum bpf_map_type) is the uapi's order: the
    sample kernels' enum is a prefix of it, and so is every shared kernel's."""
    kernels = [SAMPLE_DIR / f"{n}.btf.xz" for n in ("5.10-amd64", "6.12-amd64")]
    if SHARED_BTF.is_dir():
        kernels += sorted((SHARED_BTF / "kernels").glob("*.btf.gz"))
    for path in kernels:
        t = load(path).find("bpf_map_type", "enum")
        values = {v.value: v.name for v in reversed(t.values)
                  if not v.name.startswith("__MAX") and not v.name.endswith("_DEPRECATED")}
        assert [values[i] for i in sorted(values)] == list(MAP_TYPES[:len(values)]), path
    assert len(set(MAP_FLAGS.values())) == len(MAP_FLAGS)


# -- the shared corpus, with libbpf as the oracle -----------------------------------------------

class _LibbpfObjects:
    """libbpf's view of an object (``bpf_object__open_file``): its programs and maps."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(LIBBPF)
        lib.bpf_object__open_file.restype = ctypes.c_void_p
        lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        lib.libbpf_get_error.restype = ctypes.c_long
        lib.libbpf_get_error.argtypes = [ctypes.c_void_p]
        lib.bpf_object__close.argtypes = [ctypes.c_void_p]
        for fn in ("bpf_object__next_program", "bpf_object__next_map"):
            getattr(lib, fn).restype = ctypes.c_void_p
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        for fn in ("bpf_program__name", "bpf_program__section_name", "bpf_map__name"):
            getattr(lib, fn).restype = ctypes.c_char_p
            getattr(lib, fn).argtypes = [ctypes.c_void_p]
        lib.bpf_map__type.restype = ctypes.c_int
        lib.bpf_map__type.argtypes = [ctypes.c_void_p]
        lib.bpf_map__map_flags.restype = ctypes.c_uint32
        lib.bpf_map__map_flags.argtypes = [ctypes.c_void_p]
        silent = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                  ctypes.c_void_p)(lambda level, fmt, args: 0)
        lib.libbpf_set_print.restype = ctypes.c_void_p
        lib.libbpf_set_print.argtypes = [ctypes.c_void_p]
        self._silent = silent
        lib.libbpf_set_print(ctypes.cast(silent, ctypes.c_void_p))
        self.lib = lib

    def read(self, path: Path) -> tuple[list[tuple[str, str]], dict[str, tuple[int, int]]] | None:
        lib = self.lib
        obj = lib.bpf_object__open_file(str(path).encode(), None)
        if not obj or lib.libbpf_get_error(obj):
            return None
        try:
            programs, maps = [], {}
            p = lib.bpf_object__next_program(obj, None)
            while p:
                programs.append((lib.bpf_program__name(p).decode(),
                                 lib.bpf_program__section_name(p).decode()))
                p = lib.bpf_object__next_program(obj, p)
            m = lib.bpf_object__next_map(obj, None)
            while m:
                maps[lib.bpf_map__name(m).decode()] = (lib.bpf_map__type(m),
                                                        lib.bpf_map__map_flags(m))
                m = lib.bpf_object__next_map(obj, m)
            return programs, maps
        finally:
            lib.bpf_object__close(obj)


@pytest.mark.shared
@pytest.mark.oracle
def test_corpus_programs_and_maps_are_libbpfs(shared_corpus) -> None:
    """Every corpus object: the programs (name, section) are the ones libbpf opens, in its
    order, and every map of ``.maps`` has libbpf's type and flags."""
    if not os.path.exists(LIBBPF):
        pytest.skip(f"{LIBBPF} is not installed (libbpf1)")
    oracle = _LibbpfObjects()
    checked = refused = programs = maps = 0
    for name, path in sorted(shared_corpus.objects.items()):
        seen = oracle.read(path)
        if seen is None:  # newer than this libbpf (arena maps, ...)
            refused += 1
            continue
        want_programs, want_maps = seen
        # libbpf calls the lone function of an object with no SEC() a program of ".text"
        # (prog_is_subprog: nr_programs == 1): no section, so nothing to check
        want_programs = [p for p in want_programs if p[1] != ".text"]
        progs, _calls, got_maps, _ksyms, struct_ops = object_programs(read_object(path))
        assert [(p.name, p.section) for p in progs] == want_programs, name
        for m in got_maps:
            want_type, want_flags = want_maps[m.name]
            assert m.type == MAP_TYPES[want_type], (name, m.name)
            flags = {f for f, _ in m.flags}
            assert flags == {MAP_FLAGS[b] for b in range(32) if want_flags >> b & 1}, \
                (name, m.name)
        for s in struct_ops:  # libbpf makes a map of each struct_ops variable (1.1: of
            if s.name not in want_maps:  # .struct_ops only, not yet .struct_ops.link)
                continue
            assert MAP_TYPES[want_maps[s.name][0]] == "BPF_MAP_TYPE_STRUCT_OPS"
        checked += 1
        programs += len(progs)
        maps += len(got_maps)
    print(f"\n{checked} objects as libbpf opens them ({refused} refused by libbpf 1.1): "
          f"{programs} programs, {maps} maps")
    assert checked > 100


@pytest.mark.shared
def test_corpus_calls_are_placed_and_named(shared_corpus) -> None:
    """Every helper call of the corpus is a known helper placed in a source file of its
    project, inside a function of the object; kfunc calls name an extern ksym."""
    projects = corpus_projects()
    for name, path in sorted(shared_corpus.objects.items()):
        m = object_model(read_object(path))
        ksyms = {k.name for k in m.ksyms}
        for c in m.calls:
            assert c.function in m.functions, (name, c.name)
            assert c.range.start.line > 0 or not c.path.endswith(".c"), (name, c.name)
            if c.helper_id is None:
                assert c.name in ksyms, (name, c.name)
        assert name in projects
