"""What a program asks of the kernel by name, as the source model reads it: programs and their
sections and parameters, helper and kfunc calls, maps, ksyms, struct_ops
(:mod:`bpfls.source.programs`)."""

from __future__ import annotations

import pytest

import bpfls.btf
from bpfls.btf import Kind
from bpfls.source import SourceOptions, analyze, clear_caches
from bpfls.source.cache import SourceCache
from bpfls.source.helper_ids import HELPER_IDS

from conftest import SAMPLE_DIR, SHARED_BTF

PROG = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define MY_HASH BPF_MAP_TYPE_HASH
#define NO_PREALLOC 1

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU | BPF_F_ZERO_SEED);
	__uint(max_entries, 1024);
	__type(key, int);
	__type(value, long);
} lru SEC(".maps");

struct {
	__uint(type, MY_HASH);
	__uint(map_flags, NO_PREALLOC);
	__uint(max_entries, 16);
	__type(key, int);
	__type(value, long);
} numeric SEC(".maps");

struct bpf_map_def SEC("maps") legacy = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 1,
	.map_flags = BPF_F_RDONLY_PROG,
};

struct named_map {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct named_map named SEC(".maps");

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;
extern struct cgroup *bpf_cgroup_from_id(u64 cgid) __ksym;
extern const struct rq runqueues __ksym;
extern const void bpf_prog_active __ksym;
extern const int unused_var __ksym __weak;

long out[8];

static __always_inline int traced(void)
{
	return bpf_get_smp_processor_id();
}

static int never_called(void)
{
	return bpf_get_prandom_u32();
}

// bpfls: alternative=exit
SEC("fentry/do_exit")
int BPF_PROG(on_exit, long code, struct task_struct *unused_task)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_struct *got;

	bpf_printk("exit %ld", code);
	bpf_printk("%d %d %d %d", 1, 2, 3, 4);
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
		out[0] = bpf_get_current_task_btf()->pid;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ktime_get_coarse_ns))
		out[1] = traced();
	if (bpf_ksym_exists(bpf_task_acquire)) {
		got = bpf_task_acquire(t);
		if (got)
			bpf_task_release(got);
	}
	out[2] = BPF_CORE_READ(t, real_parent, pid);
	out[3] = (long)bpf_per_cpu_ptr(&runqueues, 0);
	return 0;
}

SEC("kprobe/do_exit") // bpfls: alternative=exit
int BPF_KPROBE(on_exit_kprobe, struct task_struct *task)
{
	if (!bpf_task_acquire)
		return 0;
	bpf_task_release(bpf_task_acquire(task));
	return 0;
}

SEC("kretprobe/" "vfs_read")
int BPF_KRETPROBE(read_ret, long ret)
{
	struct cgroup *cg = bpf_cgroup_from_id(1);

	if (cg)
		bpf_task_release(bpf_task_acquire((void *)0));
	return ret;
}

SEC("tp_btf/sched_switch")
int BPF_PROG2(on_switch, bool, preempt, struct task_struct *, prev)
{
	return prev->pid;
}

SEC("struct_ops/my_init")
void BPF_PROG(my_init, struct sock *sk)
{
}

SEC(".struct_ops.link")
struct tcp_congestion_ops my_ops = {
	.init = (void *)my_init,
	.name = "my_ops",
};

SEC("tracepoint/syscalls/sys_enter_openat")
int plain(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def primary():
    return bpfls.btf.load(SAMPLE_DIR / "6.12-amd64.btf.xz")


@pytest.fixture(scope="module")
def model(primary, tmp_path_factory):
    path = tmp_path_factory.mktemp("programs") / "programs.bpf.c"
    path.write_text(PROG)
    return analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))


def text_at(rng, text: str = PROG) -> str:
    lines = text.splitlines()
    assert rng.start.line == rng.end.line
    return lines[rng.start.line][rng.start.column:rng.end.column]


def test_no_errors(model) -> None:
    assert [d for d in model.diagnostics if d.code != "analysis-incomplete"] == []


def test_programs(model) -> None:
    rows = [(p.name, text_at(p.range), p.section,
             text_at(p.section_range) if p.section_range else None, p.macro, p.alternative)
            for p in model.programs]
    assert rows == [
        ("on_exit", "on_exit", "fentry/do_exit", "fentry/do_exit", "BPF_PROG", "exit"),
        ("on_exit_kprobe", "on_exit_kprobe", "kprobe/do_exit", "kprobe/do_exit", "BPF_KPROBE",
         "exit"),
        ("read_ret", "read_ret", "kretprobe/vfs_read", 'kretprobe/" "vfs_read',
         "BPF_KRETPROBE", None),
        ("on_switch", "on_switch", "tp_btf/sched_switch", "tp_btf/sched_switch", "BPF_PROG2",
         None),
        ("my_init", "my_init", "struct_ops/my_init", "struct_ops/my_init", "BPF_PROG", None),
        ("plain", "plain", "tracepoint/syscalls/sys_enter_openat",
         "tracepoint/syscalls/sys_enter_openat", None, None),
    ]


def test_params(model) -> None:
    local = model.local
    got = {p.name: [(x.name, x.type_text, text_at(x.range), x.used,
                     local.resolve(x.type_id).kind if x.type_id else None)
                    for x in p.params] for p in model.programs}
    assert got == {
        "on_exit": [("code", "long", "long code", True, Kind.INT),
                    ("unused_task", "struct task_struct *", "struct task_struct *unused_task",
                     False, Kind.PTR)],
        "on_exit_kprobe": [("task", "struct task_struct *", "struct task_struct *task", True,
                            Kind.PTR)],
        "read_ret": [("ret", "long", "long ret", True, Kind.INT)],
        "on_switch": [("preempt", "bool", "bool, preempt", False, Kind.INT),
                      ("prev", "struct task_struct *", "struct task_struct *, prev", True,
                       Kind.PTR)],
        "my_init": [("sk", "struct sock *", "struct sock *sk", False, Kind.PTR)],
        "plain": [],
    }
    # the pointer's target is the kernel's task_struct
    task = model.programs[1].params[0].type_id
    ptr = local[task]
    assert local[ptr.type_id].name == "task_struct" and ptr.type_id < local.start_id


def _calls(model):
    return [(c.name, text_at(c.range), c.function, str(c.guard), c.reachable, c.ksym_checked,
             c.via) for c in model.calls]


def test_helper_and_kfunc_calls(model) -> None:
    t, u = "true", "unknown"
    g_task = "enumval_exists(enum bpf_func_id::BPF_FUNC_get_current_task_btf)"
    g_coarse = "enumval_exists(enum bpf_func_id::BPF_FUNC_ktime_get_coarse_ns)"
    assert _calls(model) == [
        ("bpf_get_smp_processor_id", "bpf_get_smp_processor_id", "traced", g_coarse, True,
         False, None),
        ("bpf_get_prandom_u32", "bpf_get_prandom_u32", "never_called", t, False, False, None),
        ("bpf_get_current_task_btf", "bpf_get_current_task_btf", "on_exit", t, True, False,
         None),
        ("bpf_trace_printk", 'bpf_printk("exit %ld", code)', "on_exit", t, True, False,
         "bpf_printk"),
        ("bpf_trace_vprintk", 'bpf_printk("%d %d %d %d", 1, 2, 3, 4)', "on_exit", t, True,
         False, "bpf_printk"),
        ("bpf_get_current_task_btf", "bpf_get_current_task_btf", "on_exit", g_task, True, False,
         None),
        # bpf_ksym_exists() is no CO-RE check: the guard cannot tell, ksym_checked does
        ("bpf_task_acquire", "bpf_task_acquire", "on_exit", u, True, True, None),
        ("bpf_task_release", "bpf_task_release", "on_exit", u, True, False, None),
        ("bpf_probe_read_kernel", "BPF_CORE_READ(t, real_parent, pid)", "on_exit", t, True,
         False, "BPF_CORE_READ"),
        ("bpf_per_cpu_ptr", "bpf_per_cpu_ptr", "on_exit", t, True, False, None),
        ("bpf_task_release", "bpf_task_release", "on_exit_kprobe", u, True, False, None),
        ("bpf_task_acquire", "bpf_task_acquire", "on_exit_kprobe", u, True, True, None),
        ("bpf_cgroup_from_id", "bpf_cgroup_from_id", "read_ret", t, True, False, None),
        ("bpf_task_release", "bpf_task_release", "read_ret", u, True, False, None),
        ("bpf_task_acquire", "bpf_task_acquire", "read_ret", u, True, False, None),
    ]
    assert all(c.name in HELPER_IDS or c.name in {k.name for k in model.ksyms}
               for c in model.calls)


def test_maps(model) -> None:
    rows = [(m.name, text_at(m.range), m.type, text_at(m.type_range) if m.type_range else None,
             [(f, text_at(r)) for f, r in m.flags]) for m in model.maps]
    assert rows == [
        ("lru", "lru", "BPF_MAP_TYPE_LRU_HASH", "BPF_MAP_TYPE_LRU_HASH",
         [("BPF_F_NO_COMMON_LRU", "BPF_F_NO_COMMON_LRU"), ("BPF_F_ZERO_SEED",
                                                           "BPF_F_ZERO_SEED")]),
        ("numeric", "numeric", "BPF_MAP_TYPE_HASH", "MY_HASH", []),
        ("legacy", "legacy", "BPF_MAP_TYPE_ARRAY", "BPF_MAP_TYPE_ARRAY",
         [("BPF_F_RDONLY_PROG", "BPF_F_RDONLY_PROG")]),
        ("named", "named", "BPF_MAP_TYPE_RINGBUF", "BPF_MAP_TYPE_RINGBUF", []),
    ]


def test_ksyms(model) -> None:
    local = model.local
    rows = [(k.name, text_at(k.range), k.function, k.weak, k.typed, k.used,
             local[k.type_id].kind if k.type_id is not None else None) for k in model.ksyms]
    assert rows == [
        ("bpf_task_acquire", "bpf_task_acquire", True, True, True, True, Kind.FUNC_PROTO),
        ("bpf_task_release", "bpf_task_release", True, True, True, True, Kind.FUNC_PROTO),
        ("bpf_cgroup_from_id", "bpf_cgroup_from_id", True, False, True, True, Kind.FUNC_PROTO),
        ("runqueues", "runqueues", False, False, True, True, Kind.CONST),
        ("bpf_prog_active", "bpf_prog_active", False, False, False, False, Kind.CONST),
        ("unused_var", "unused_var", False, True, True, False, Kind.CONST),
    ]
    proto = local[model.ksyms[0].type_id]
    ret = local[proto.type_id]
    assert ret.kind == Kind.PTR and local[ret.type_id].name == "task_struct"
    assert [local[p.type_id].kind for p in proto.params] == [Kind.PTR]
    assert local[model.ksyms[4].type_id].type_id == 0  # const void


def test_struct_ops(model) -> None:
    rows = [(s.name, s.type_name, text_at(s.range), [(n, text_at(r)) for n, r in s.members])
            for s in model.struct_ops]
    assert rows == [("my_ops", "tcp_congestion_ops", "my_ops",
                     [("init", "init"), ("name", "name")])]


EARLY = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;

#define GET(pid) bpf_task_from_pid(pid)

SEC("tp_btf/sched_process_exit")
int early(void *ctx)
{
	struct task_struct *t;

	if (!bpf_ksym_exists(bpf_task_from_pid) || !bpf_ksym_exists(bpf_task_release))
		return 0;
	t = GET(1);
	if (t)
		bpf_task_release(t);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int late(void *ctx)
{
	struct task_struct *t = bpf_task_from_pid(1);

	if (t && bpf_ksym_exists(bpf_task_release))
		bpf_task_release(t);
	else if (bpf_task_release == NULL)
		return 1;
	return 0;
}
"""


def test_ksym_checks(primary, tmp_path) -> None:
    path = tmp_path / "early.bpf.c"
    path.write_text(EARLY)
    m = analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))
    assert [(c.name, text_at(c.range, EARLY), c.function, c.ksym_checked, c.via)
            for c in m.calls] == [
        ("bpf_task_from_pid", "GET(1)", "early", True, "GET"),
        ("bpf_task_release", "bpf_task_release", "early", True, None),
        ("bpf_task_from_pid", "bpf_task_from_pid", "late", False, None),
        ("bpf_task_release", "bpf_task_release", "late", True, None),
    ]


HEADERS = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "defs.h"

static long (* const bpf_not_in_the_list)(void *ctx) = (void *) 300;

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	long (*fp)(void) = 0;

	bpf_not_in_the_list(ctx);
	if (fp)
		fp();
	MAP_LOOKUP(0);
	return local_fn();
}
"""


def test_helpers_declared_and_aliased(primary, tmp_path) -> None:
    (tmp_path / "defs.h").write_text(
        "#define lookup bpf_map_lookup_elem\n"
        "#define MAP_LOOKUP(k) lookup(0, &(k))\n"
        "static int local_fn(void) { return 0; }\n")
    path = tmp_path / "headers.bpf.c"
    path.write_text(HEADERS)
    m = analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))
    assert [(c.name, text_at(c.range, HEADERS), c.via) for c in m.calls] == [
        ("bpf_not_in_the_list", "bpf_not_in_the_list", None),
        ("bpf_map_lookup_elem", "MAP_LOOKUP(0)", "MAP_LOOKUP"),
    ]


def test_libbpf_headers_of_the_corpus(primary, tmp_path) -> None:
    """With libbpf's own headers, bpf_printk is expanded and its call found inside; the
    helpers are libbpf's pointers, the iterator kfuncs its weak __ksym prototypes."""
    libbpf = SHARED_BTF.parent / "corpus" / "libbpf"
    if not (libbpf / "bpf" / "bpf_helpers.h").exists():
        pytest.skip("no shared corpus")
    text = PROG.replace('#include "vmlinux.h"\n', '#include "vmlinux.h"\n', 1)
    path = tmp_path / "programs.bpf.c"
    path.write_text(text)
    m = analyze(str(path), None, SourceOptions(primary=primary, arch="x86",
                                               include_dirs=(str(libbpf),)))
    builtin = analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))
    assert _calls(m) == _calls(builtin)


def _summary(model) -> list:
    return [(p.name, p.section, p.range, p.section_range, p.macro, p.alternative,
             p.params) for p in model.programs] + \
        [(c.name, c.range, c.function, str(c.guard), c.reachable, c.ksym_checked, c.via)
         for c in model.calls] + \
        [(m.name, m.range, m.type, m.type_range, m.flags) for m in model.maps] + \
        [(k.name, k.range, k.function, k.weak, k.type_id, k.typed, k.used)
         for k in model.ksyms] + \
        [(s.name, s.type_name, s.range, s.members) for s in model.struct_ops]


EDITS = [
    ("nothing", lambda t: t),
    ("lines added above", lambda t: t.replace("long out[8];", "long out[8];\n\n// note\n", 1)),
    ("one function changes", lambda t: t.replace("out[2] = BPF_CORE_READ", "out[2] = 1 + "
                                                  "BPF_CORE_READ", 1)),
    ("a guard changes", lambda t: t.replace("BPF_FUNC_ktime_get_coarse_ns", "BPF_FUNC_xyz", 1)),
    ("a kfunc goes", lambda t: t.replace(
        "extern struct cgroup *bpf_cgroup_from_id(u64 cgid) __ksym;\n", "", 1)),
    ("a program stops calling", lambda t: t.replace("out[1] = traced();", "out[1] = 0;", 1)),
]


@pytest.mark.parametrize("name,edit", EDITS, ids=[e[0] for e in EDITS])
def test_reuse_gives_the_same_records(primary, tmp_path, name, edit) -> None:
    path = str(tmp_path / "prog.bpf.c")
    options = SourceOptions(primary=primary, arch="x86")
    cache = SourceCache()
    analyze(path, PROG, options, cache)
    edited = edit(PROG)
    warm = analyze(path, edited, options, cache)
    cold = analyze(path, edited, options, SourceCache())
    assert _summary(warm) == _summary(cold)
    if name in ("nothing", "lines added above"):
        assert len(warm.calls) == len(_calls(analyze(path, PROG, options, SourceCache())))
    clear_caches()


ATTRIBUTES = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define __section(NAME) __attribute__((section(NAME), used))
#define BPF_FUNC(NAME, ...) (* NAME)(__VA_ARGS__) = (void *) BPF_FUNC_##NAME
#define BPF_FUNC2(NAME, ...) (* NAME)(__VA_ARGS__)

static void *BPF_FUNC(map_lookup_elem, void *map, const void *key);
static long BPF_FUNC(ktime_get_ns);
static int BPF_FUNC2(event_output, void *ctx, void *map, __u64 index, void *data,
							__u32 size) = (void *)BPF_FUNC_perf_event_output;

__attribute__((section("kprobe/do_exit"), used)) int
written(void *ctx)
{
	return ktime_get_ns();
}

__section("tracepoint/sched/sched_switch") int
by_macro(void *ctx)
{
	event_output(ctx, 0, 0, 0, 0);
	return map_lookup_elem(0, 0) != 0;
}
"""


def test_sections_as_attributes_and_cilium_helpers(primary, tmp_path) -> None:
    """``__attribute__((section(...)))`` written out or through a macro of the program names
    a program as ``SEC`` does; helpers declared through cilium's ``BPF_FUNC`` are called by
    their own names."""
    path = tmp_path / "attributes.bpf.c"
    path.write_text(ATTRIBUTES)
    m = analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))
    assert [(p.name, p.section, p.section_range) for p in m.programs] == [
        ("written", "kprobe/do_exit", None), ("by_macro", "tracepoint/sched/sched_switch", None)]
    assert [(c.name, text_at(c.range, ATTRIBUTES), c.function) for c in m.calls] == [
        ("bpf_ktime_get_ns", "ktime_get_ns", "written"),
        ("bpf_perf_event_output", "event_output", "by_macro"),
        ("bpf_map_lookup_elem", "map_lookup_elem", "by_macro"),
    ]


DUMP_TAIL = """
#ifndef __ksym
#define __ksym __attribute__((section(".ksyms")))
#endif

#ifndef __weak
#define __weak __attribute__((weak))
#endif

#ifndef BPF_NO_KFUNC_PROTOTYPES
extern struct task_struct *bpf_task_from_pid(s32 pid) __weak __ksym;
extern void bpf_task_release(struct task_struct *p) __weak __ksym;
#endif

"""

USES_DUMP = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tp_btf/sched_process_exit")
int use(void *ctx)
{
	struct task_struct *t = bpf_task_from_pid(1);

	if (t)
		bpf_task_release(t);
	return 0;
}
"""


def test_kfuncs_a_vmlinux_dump_declares(primary, tmp_path, raw_sample, bpftool) -> None:
    """A dump of bpftool >= 7.5 declares the kernel's kfuncs after its types (and the
    ``__ksym``/``__weak`` macros): they are the program's ksyms though the dump is read as
    the kernel's BTF."""
    from conftest import run_bpftool

    dump = run_bpftool(bpftool, "btf", "dump", "file",
                       str(raw_sample(SAMPLE_DIR / "6.12-amd64.btf.xz")), "format", "c")
    guard_end = dump.rstrip().rfind("#endif")
    (tmp_path / "vmlinux.h").write_text(dump[:guard_end] + DUMP_TAIL + dump[guard_end:])
    path = tmp_path / "use.bpf.c"
    path.write_text(USES_DUMP)
    m = analyze(str(path), None, SourceOptions(primary=primary, arch="x86",
                                               kernels=(("6.12", primary),)))
    assert [d for d in m.diagnostics if d.code != "analysis-incomplete"] == []
    assert m.vmlinux_kernel == "6.12"
    assert [(k.name, k.function, k.weak, k.used, k.type_id is not None) for k in m.ksyms] == [
        ("bpf_task_from_pid", True, True, True, True),
        ("bpf_task_release", True, True, True, True)]
    assert m.ksyms[0].path == str(tmp_path / "vmlinux.h")
    line = (dump[:guard_end] + DUMP_TAIL).splitlines().index(
        "extern struct task_struct *bpf_task_from_pid(s32 pid) __weak __ksym;")
    assert m.ksyms[0].range.start.line == line
    assert [(c.name, text_at(c.range, USES_DUMP)) for c in m.calls] == [
        ("bpf_task_from_pid", "bpf_task_from_pid"), ("bpf_task_release", "bpf_task_release")]
