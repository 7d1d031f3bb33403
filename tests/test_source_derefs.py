"""Direct loads through kernel pointers the verifier sees as numbers (``SourceModel.derefs``).

A value from ``bpf_get_current_task()``, a kprobe argument (``PT_REGS_PARM1(ctx)``, a
``BPF_KPROBE`` parameter) or a probe read (``BPF_CORE_READ``, ``bpf_probe_read_kernel(&p, ...)``)
is a scalar to the verifier: ``p->member`` on it is rejected ("invalid mem access 'scalar'").
Each true case below is such a load; each false case is code the verifier accepts (or a load
clang removes), which must not be recorded. The kernel's verifier agrees with each program's
verdict here (each case compiled with clang and loaded on a 6.18 kernel).
"""

from __future__ import annotations

import subprocess

import pytest
import verifier_loader

import bpfls.btf
from bpfls.source import SourceOptions, analyze, clear_caches
from bpfls.source import translation_unit as tu_module

from conftest import SAMPLE_DIR, run_bpftool

HEAD = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, struct task_struct);
} tasks SEC(".maps");

"""
HEAD_LINES = HEAD.count("\n")


@pytest.fixture(scope="module")
def options():
    return SourceOptions(primary=bpfls.btf.load(SAMPLE_DIR / "6.12-amd64.btf.xz"), arch="x86")


def derefs(options, body: str, path: str = "/tmp/bpfls-derefs/prog.bpf.c"):
    model = analyze(path, HEAD + body, options)
    assert not [d for d in model.diagnostics if d.code in ("unknown-member", "unknown-type")]
    return model.derefs


def summary(ds) -> list[tuple]:
    """(function, origin, base, members, line in the body) of each dereference."""
    return [(d.function, d.origin, d.base, d.members, d.range.start.line - HEAD_LINES)
            for d in ds]


TRUE_CASES = {
    "get_current_task, then ->": """\
SEC("kprobe/do_exit")
int on_exit(struct pt_regs *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	return task->pid;
}
""",
    "pt regs arguments": """\
SEC("kprobe/tcp_connect")
int on_connect(struct pt_regs *ctx)
{
	struct sock *sk = (struct sock *)PT_REGS_PARM1(ctx);
	struct sock *sk2 = (struct sock *)PT_REGS_PARM1_CORE(ctx);
	unsigned long raw = ctx->si;
	struct task_struct *t = (struct task_struct *)raw;
	return sk->__sk_common.skc_family + sk2->sk_rcvbuf + t->tgid;
}
""",
    "kprobe macro parameters": """\
SEC("kprobe/tcp_connect")
int BPF_KPROBE(on_connect, struct sock *sk)
{
	return sk->sk_rcvbuf;
}

SEC("kretprobe/inet_csk_accept")
int BPF_KRETPROBE(on_accept, struct sock *newsk)
{
	return newsk->sk_sndbuf;
}

SEC("ksyscall/close")
int BPF_KSYSCALL(on_close, struct file *f)
{
	return f->f_flags;
}

SEC("uprobe")
int BPF_UPROBE(on_call, struct sock *sk)
{
	return sk->sk_mark;
}
""",
    "probe reads": """\
#define READ_KERN(ptr) ({ typeof(ptr) _val; \\
	__builtin_memset((void *)&_val, 0, sizeof(_val)); \\
	bpf_probe_read_kernel((void *)&_val, sizeof(_val), (void *)&ptr); _val; })

SEC("kprobe/do_exit")
int on_exit(struct pt_regs *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	struct task_struct *leader, *p2 = 0;
	struct mm_struct *mm = READ_KERN(task->mm);
	bpf_probe_read_kernel(&leader, sizeof(leader), &task->group_leader);
	BPF_CORE_READ_INTO(&p2, task, parent);
	return parent->tgid + leader->pid + mm->map_count + p2->pid;
}
""",
    "member chains are the hops of a core read": """\
SEC("kprobe/do_exit")
int on_exit(struct pt_regs *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	long a = task->real_parent->tgid;
	a += task->signal->rlim[1].rlim_cur;
	a += task->cpus_mask.bits[0];
	a += (long)&task->mm->mmap_base;
	a += ((struct task_struct *)bpf_get_current_task())->tgid;
	return a;
}
""",
    "through a macro and an inlined helper guard": """\
#define PID_OF(t) ((t)->pid)

SEC("kprobe/do_exit")
int on_exit(struct pt_regs *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	if (bpf_core_field_exists(task->loginuid))
		return PID_OF(task);
	return 0;
}
""",
    "a loop and a switch": """\
SEC("kprobe/do_exit")
int on_exit(struct pt_regs *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	u32 key = 0;
	long a = 0;
	for (int i = 0; i < 4; i++) {
		a += task->pid;
		task = bpf_map_lookup_elem(&tasks, &key);
		if (!task)
			return 0;
	}
	a += task->pid;
	task = (void *)bpf_get_current_task();
	switch (ctx->di) {
	case 1:
		task = bpf_map_lookup_elem(&tasks, &key);
		if (!task)
			return 0;
		break;
	case 2:
		a += task->tgid;
	}
	return a + task->flags;
}
""",
    "a function returning such a number": """\
static __always_inline struct task_struct *parent_of(struct task_struct *t)
{
	if (!t)
		return NULL;
	return BPF_CORE_READ(t, real_parent);
}

SEC("kprobe/do_exit")
int on_exit(struct pt_regs *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct task_struct *p = parent_of(task);
	return p->pid + parent_of(task)->tgid;
}
""",
    "a direct bitfield read": """\
SEC("kprobe/tcp_connect")
int BPF_KPROBE(on_connect, struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD(sk, sk_protocol) +
		BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, int oldstate, int newstate)
{
	return BPF_CORE_READ_BITFIELD(sk, sk_protocol);
}
""",
    "a function no program calls is unreachable": """\
static __noinline int unused(void)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	return task->pid;
}
""",
    "raw tracepoint arguments": """\
SEC("raw_tp/sched_process_exit")
int on_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx->args[0];
	return p->pid;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(on_exit_prog, struct task_struct *p)
{
	return p->tgid;
}
""",
    "a function a macro writes": """\
#define PROBE(name, fn) SEC("kprobe/" #fn) int name(struct pt_regs *ctx) \\
	{ struct task_struct *t = (void *)bpf_get_current_task(); return t->pid; }

PROBE(on_exit, do_exit)
""",
}


# -- true cases ---------------------------------------------------------------------------------

def test_the_issue_example(options) -> None:
    body = TRUE_CASES["get_current_task, then ->"]
    ds = derefs(options, body)
    assert summary(ds) == [("on_exit", "bpf_get_current_task()", "task", ("pid",), 4)]
    d = ds[0]
    line = HEAD_LINES + 4
    assert d.range.start.line == line and d.range.start.column == body.splitlines()[4].index("pid")
    col = body.splitlines()[4].index("task->pid")
    assert (d.expr_range.start.line, d.expr_range.start.column) == (line, col)
    assert (d.expr_range.end.line, d.expr_range.end.column) == (line, col + len("task->pid"))
    assert d.reachable and d.via is None


def test_pt_regs_arguments(options) -> None:
    body = TRUE_CASES["pt regs arguments"]
    assert summary(derefs(options, body)) == [
        ("on_connect", "PT_REGS_PARM1(ctx)", "sk", ("__sk_common.skc_family",), 7),
        ("on_connect", "PT_REGS_PARM1_CORE(ctx)", "sk2", ("sk_rcvbuf",), 7),
        ("on_connect", "struct pt_regs", "t", ("tgid",), 7),
    ]


def test_kprobe_macro_parameters(options) -> None:
    body = TRUE_CASES["kprobe macro parameters"]
    assert summary(derefs(options, body)) == [
        ("on_connect", "BPF_KPROBE parameter 'sk'", "sk", ("sk_rcvbuf",), 3),
        ("on_accept", "BPF_KRETPROBE parameter 'newsk'", "newsk", ("sk_sndbuf",), 9),
        ("on_close", "BPF_KSYSCALL parameter 'f'", "f", ("f_flags",), 15),
        ("on_call", "BPF_UPROBE parameter 'sk'", "sk", ("sk_mark",), 21),
    ]


def test_probe_reads(options) -> None:
    body = TRUE_CASES["probe reads"]
    assert summary(derefs(options, body)) == [
        ("on_exit", "BPF_CORE_READ()", "parent", ("tgid",), 13),
        ("on_exit", "bpf_probe_read_kernel()", "leader", ("pid",), 13),
        ("on_exit", "bpf_probe_read_kernel()", "mm", ("map_count",), 13),
        ("on_exit", "BPF_CORE_READ_INTO()", "p2", ("pid",), 13),
    ]


def test_member_chains_are_the_hops_of_a_core_read(options) -> None:
    body = TRUE_CASES["member chains are the hops of a core read"]
    ds = derefs(options, body)
    assert summary(ds) == [
        ("on_exit", "bpf_get_current_task()", "task", ("real_parent", "tgid"), 4),
        ("on_exit", "bpf_get_current_task()", "task", ("signal", "rlim[1].rlim_cur"), 5),
        ("on_exit", "bpf_get_current_task()", "task", ("cpus_mask.bits[0]",), 6),
        # the address of mmap_base is a number too: only mm is loaded
        ("on_exit", "bpf_get_current_task()", "task", ("mm",), 7),
        ("on_exit", "bpf_get_current_task()", "((struct task_struct *)bpf_get_current_task())",
         ("tgid",), 8),
    ]
    lines = body.splitlines()
    chain = ds[0]
    assert chain.expr_range.end.column == lines[4].index(";")
    mm = ds[3]
    assert mm.expr_range.end.column == lines[7].index("->mmap_base")


def test_through_a_macro_and_an_inlined_helper_guard(options) -> None:
    body = TRUE_CASES["through a macro and an inlined helper guard"]
    ds = derefs(options, body)
    assert summary(ds) == [("on_exit", "bpf_get_current_task()", "( task )", ("pid",), 7)]
    assert ds[0].via == "PID_OF"
    assert ds[0].guard is not None and "loginuid" in str(ds[0].guard)


def test_a_loop_and_a_switch(options) -> None:
    body = TRUE_CASES["a loop and a switch"]
    # after the loop and after the switch, the ways through disagree: not recorded
    assert summary(derefs(options, body)) == [
        ("on_exit", "bpf_get_current_task()", "task", ("pid",), 7),
        ("on_exit", "bpf_get_current_task()", "task", ("tgid",), 21),
    ]


def test_a_function_returning_such_a_number(options) -> None:
    body = TRUE_CASES["a function returning such a number"]
    origin = "parent_of(), from BPF_CORE_READ()"
    assert summary(derefs(options, body)) == [
        ("on_exit", origin, "p", ("pid",), 12),
        ("on_exit", origin, "parent_of(task)", ("tgid",), 12),
    ]


def test_raw_tracepoint_arguments(options) -> None:
    assert summary(derefs(options, TRUE_CASES["raw tracepoint arguments"])) == [
        ("on_exit_raw", "struct bpf_raw_tracepoint_args", "p", ("pid",), 4),
        ("on_exit_prog", "BPF_PROG parameter 'p' of a raw tracepoint", "p", ("tgid",), 10),
    ]


def test_a_function_a_macro_writes(options) -> None:
    ds = derefs(options, TRUE_CASES["a function a macro writes"])
    assert summary(ds) == [("on_exit", "bpf_get_current_task()", "t", ("pid",), 3)]
    assert ds[0].via == "PROBE"


def test_a_direct_bitfield_read(options) -> None:
    body = TRUE_CASES["a direct bitfield read"]
    ds = derefs(options, body)
    assert summary(ds) == [("on_connect", "BPF_KPROBE parameter 'sk'", "sk", ("sk_protocol",), 3)]
    assert ds[0].via == "BPF_CORE_READ_BITFIELD"


# -- false cases --------------------------------------------------------------------------------

FALSE_CASES = {
    "ctx itself": """\
SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	return ctx->di + PT_REGS_PARM2(ctx);
}
""",
    "bpf_get_current_task_btf": """\
SEC("tp_btf/sched_switch")
int prog(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	return task->pid + task->real_parent->tgid;
}
""",
    "core reads": """\
SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	int tgid;
	bpf_core_read(&tgid, sizeof(tgid), &task->tgid);
	return BPF_CORE_READ(task, pid) + BPF_CORE_READ(task, real_parent, tgid) + tgid;
}
""",
    "a BPF_PROG argument": """\
SEC("tp_btf/sched_process_exit")
int BPF_PROG(prog, struct task_struct *task, bool group_dead)
{
	return task->pid + task->real_parent->tgid;
}
""",
    "a stack variable": """\
struct holder { struct holder *next; long n; };

SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	struct holder h = { .n = 1 };
	struct holder *p = &h;
	h.next = p;
	h.n = ctx->di;
	return h.n + p->n + h.next->n;
}
""",
    "addresses": """\
SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	int pid;
	bpf_probe_read_kernel(&pid, sizeof(pid), &task->pid);
	return pid + (long)task->comm + (long)&task->signal + sizeof(task->pid) +
		bpf_core_field_exists(task->pid) + bpf_core_field_size(task->tgid);
}
""",
    "a map value": """\
SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	u32 key = 0;
	struct task_struct *t = bpf_map_lookup_elem(&tasks, &key);
	if (!t)
		return 0;
	return t->pid;
}
""",
    "a variable assigned something else": """\
SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	u32 key = 0;
	struct task_struct *t = (void *)bpf_get_current_task();
	t = bpf_map_lookup_elem(&tasks, &key);
	if (!t)
		return 0;
	return t->pid;
}
""",
    "branches that disagree, one dead at load time": """\
const volatile bool with_btf = true;

SEC("tp_btf/sched_process_exit")
int BPF_PROG(prog, struct task_struct *p, bool group_dead)
{
	struct task_struct *t;
	if (with_btf)
		t = bpf_get_current_task_btf();
	else
		t = (void *)bpf_get_current_task();
	return t->pid;
}
""",
    "an address passed away": """\
static __noinline void pick(struct task_struct **t)
{
	u32 key = 0;
	*t = bpf_map_lookup_elem(&tasks, &key);
}

SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	pick(&t);
	return t ? t->pid : 0;
}
""",
    "a load clang removes, dead code": """\
SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	int unused = task->pid;
	return 0;
	return task->tgid;
}
""",
    "a string read, a user pointer's bytes": """\
SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	char buf[16];
	const char *name = (const char *)PT_REGS_PARM1(ctx);
	bpf_probe_read_kernel_str(buf, sizeof(buf), name);
	return buf[0];
}
""",
    "a number cast to a type the verifier trusts": """\
SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct task_struct *t = bpf_core_cast(task, struct task_struct);
	task = bpf_core_cast(task, struct task_struct);
	return t->pid + task->tgid;
}
""",
}


@pytest.mark.parametrize("name", FALSE_CASES)
def test_not_recorded(options, name) -> None:
    assert summary(derefs(options, FALSE_CASES[name])) == []


#: loads the verifier rejects that are not recorded: where the ways to a load disagree (here
#: both are live, but a branch can be dead to the verifier, as above), and stores (no
#: BPF_CORE_READ can replace them)
MISSED = {
    "branches that disagree": """\
SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	u32 key = 0;
	struct task_struct *t;
	if (ctx->di)
		t = (void *)bpf_get_current_task();
	else
		t = bpf_map_lookup_elem(&tasks, &key);
	if (!t)
		return 0;
	return t->pid;
}
""",
    "returns that disagree": """\
static __always_inline struct task_struct *maybe_parent(struct task_struct *t)
{
	if (t->flags)
		return BPF_CORE_READ(t, real_parent);
	return t;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(prog, struct task_struct *p, bool group_dead)
{
	return maybe_parent(p)->pid;
}
""",
    "a store": """\
SEC("kprobe/do_exit")
int prog(struct pt_regs *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	task->pid = 1;
	return 0;
}
""",
}


@pytest.mark.parametrize("name", MISSED)
def test_missed(options, name) -> None:
    assert summary(derefs(options, MISSED[name])) == []


def test_a_function_no_program_calls_is_unreachable(options) -> None:
    body = TRUE_CASES["a function no program calls is unreachable"]
    ds = derefs(options, body)
    assert summary(ds) == [("unused", "bpf_get_current_task()", "task", ("pid",), 3)]
    assert not ds[0].reachable


# -- reuse after an edit --------------------------------------------------------------------------

CACHED = """\
// {note}
SEC("kprobe/do_exit")
int first(struct pt_regs *ctx)
{{
	return ctx->di + {n};
}}

SEC("kprobe/do_exit")
int second(struct pt_regs *ctx)
{{
	struct task_struct *task = (void *)bpf_get_current_task();
	if (bpf_core_field_exists(task->loginuid))
		return task->real_parent->tgid;
	return 0;
}}
"""


def test_a_function_reused_after_an_edit_keeps_its_derefs(tmp_path, options,
                                                          monkeypatch) -> None:
    path = str(tmp_path / "prog.bpf.c")
    clear_caches()
    before = derefs(options, CACHED.format(note="x", n=1), path)
    walked: list[str] = []
    run = tu_module.FunctionWalker.run

    def counting(self) -> None:
        walked.append(self.fd.name)
        run(self)

    monkeypatch.setattr(tu_module.FunctionWalker, "run", counting)
    edited = CACHED.format(note="x\n//\n//", n=2)  # two lines more above both functions
    warm = derefs(options, edited, path)
    assert "second" not in walked and "first" in walked
    clear_caches()
    cold = derefs(options, edited, path)

    def full(ds) -> list[tuple]:
        return [(d.function, d.origin, d.base, d.members, d.range, d.expr_range, d.reachable,
                 str(d.guard)) for d in ds]

    assert full(warm) == full(cold)
    assert [d.range.start.line for d in warm] == [d.range.start.line + 2 for d in before]
    assert "loginuid" in str(warm[0].guard)


# -- the kernel's verifier ----------------------------------------------------------------------

CASES = {**TRUE_CASES, **FALSE_CASES, **MISSED}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, raw_sample, bpftool):
    """Where the cases are compiled (with a vmlinux.h of the sample kernel), when this machine
    can load BPF programs."""
    d = tmp_path_factory.mktemp("verifier")
    raw = raw_sample(SAMPLE_DIR / "6.12-amd64.btf.xz")
    (d / "vmlinux.h").write_text(run_bpftool(bpftool, "btf", "dump", "file", str(raw),
                                             "format", "c"))
    why = verifier_loader.available(d, d)
    if why is not None:
        pytest.skip(why)
    return d


@pytest.mark.parametrize("name", CASES)
def test_the_kernel_verifier_agrees(options, workdir, name) -> None:
    """Each case compiled and each of its programs loaded alone on the running kernel: the
    verifier rejects exactly the programs with a dereference recorded (the misses aside)."""
    text = HEAD + CASES[name] + 'char LICENSE[] SEC("license") = "GPL";\n'
    src = workdir / (name.replace(" ", "_").replace(",", "") + ".bpf.c")
    src.write_text(text)
    try:
        obj = verifier_loader.compile_program(src, workdir)
    except subprocess.CalledProcessError as e:
        if verifier_loader.LIBBPF_INCLUDE == verifier_loader.CORPUS_DIR / "libbpf":
            raise
        # BPF_UPROBE, bpf_core_cast, ...: newer than the system's libbpf headers
        pytest.skip(f"the system's libbpf headers cannot build this case ({e.stderr[:120]!r});"
                    " ../shared/corpus/libbpf has newer ones")
    model = analyze(str(src), text, options)
    for prog, err in verifier_loader.verdicts(obj).items():
        seen, todo = set(), [prog]
        while todo:
            f = todo.pop()
            if f not in seen and f in model.functions:
                seen.add(f)
                todo.extend(model.functions[f].calls)
        recorded = [(d.base, d.members) for d in model.derefs
                    if d.function in seen and d.reachable]
        if name in MISSED:
            assert err != 0 and not recorded, (prog, err, recorded)
        else:
            assert (err != 0) == bool(recorded), (prog, err, recorded)
