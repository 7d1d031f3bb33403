"""Questions about a position of the text: the syntactic context at the cursor and the types of
the expressions there (bpfls.source.query), over the file-scope names the model keeps."""

from __future__ import annotations

import pytest

import bpfls.btf
from bpfls.btf.cnames import type_name
from bpfls.source import SourceOptions, analyze

from conftest import SAMPLE_DIR

PROG = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct event { __u32 pid; char comm[16]; };
struct event ev;
struct task_struct *last;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;

static struct sock *sock_of(struct socket *s) { return s->sk; }

SEC("fentry/do_exit")
int BPF_PROG(acc, long code)
{
	return 0;
}
"""


@pytest.fixture(scope="module")
def primary():
    return bpfls.btf.load(SAMPLE_DIR / "6.12-amd64.btf.xz")


@pytest.fixture(scope="module")
def model(primary, tmp_path_factory):
    path = tmp_path_factory.mktemp("query") / "q.bpf.c"
    path.write_text(PROG)
    return analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))


def test_model_keeps_file_scope_names(model) -> None:
    scope = model.scope
    ev = scope.variables["ev"]
    assert type_name(model.local, ev.tid) == "struct event" and ev.ptr == 0
    last = scope.variables["last"]
    assert type_name(model.local, last.tid) == "struct task_struct" and last.ptr == 1
    acq = scope.functions["bpf_task_acquire"]
    assert type_name(model.local, acq.tid) == "struct task_struct" and acq.ptr == 1
    ret = scope.functions["sock_of"]
    assert type_name(model.local, ret.tid) == "struct sock" and ret.ptr == 1
    from bpfls.source.exprtypes import etype_of_desc
    from bpfls.source.pptokens import tokenize

    et = etype_of_desc(scope.types.desc_from_tokens(tokenize(b"struct event *")))
    assert et.tid == ev.tid and et.ptr == 1


# -- the context at a position -------------------------------------------------------------------

BODY = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

typedef struct task_struct task_t;
struct sock *gsk;

SEC("kprobe/tcp_connect")
int BPF_KPROBE(kp, struct sock *sk, int flags)
{
	void *raw = (void *)bpf_get_current_task();
	task_t *t = raw;
	struct task_struct *p = BPF_CORE_READ(t, real_parent);
	__auto_type q = p->group_leader;
	typeof(t->mm) mm = 0;
	for (struct file *f = 0; f; ) {
		HERE;
	}
	{
		struct inode *f = 0;
	}
	HERE;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG2(sw, bool, preempt, struct task_struct *, prev)
{
	return HERE;
}
"""


@pytest.fixture(scope="module")
def body_model(primary, tmp_path_factory):
    path = tmp_path_factory.mktemp("query") / "b.bpf.c"
    path.write_text(BODY)
    return analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))


def here(text: str, nth: int = 0) -> tuple[int, int]:
    lines = text.split("\n")
    found = [i for i, ln in enumerate(lines) if "HERE" in ln]
    ln = found[nth]
    return ln, lines[ln].index("HERE")


def ctx_at(model, expr: str, nth: int = 0, cursor: str = "|"):
    from bpfls.source.query import context_at

    text = BODY.replace("HERE", expr.replace(cursor, ""), nth + 1).replace(
        expr.replace(cursor, ""), "HERE", nth)
    # put the expression only at the nth HERE
    parts = BODY.split("HERE")
    text = "HERE".join(parts[:nth + 1]) + expr.replace(cursor, "") + "HERE".join(parts[nth + 1:])
    text = text.replace("HERE", "0")
    ln = text.count("\n", 0, len("0".join(parts[:nth + 1])))
    line = text.split("\n")[ln]
    col = line.index(expr.replace(cursor, "")) + len(expr[:expr.index(cursor)].encode())
    return context_at(model, text, (ln, col))


def tname(model, et) -> str:
    if et is None:
        return "?"
    return type_name(model.local, et.tid) + (" " + "*" * et.ptr if et.ptr else "")


@pytest.mark.parametrize("expr,kind,record", [
    ("t->|", "member", "struct task_struct"),
    ("p->real_parent->|", "member", "struct task_struct"),
    ("q->|", "member", "struct task_struct"),
    ("mm->|", "member", "struct mm_struct"),
    ("sk->__sk_common.|", "member", "struct sock_common"),
    ("ctx->|", "member", "struct pt_regs"),
    ("f->|", "member", "struct file"),
    ("gsk->|", "member", "struct sock"),
    ("((struct sock *)raw)->|", "member", "struct sock"),
    ("(*t).|", "member", "struct task_struct"),
    ("t->mm[0].|", "member", "struct mm_struct"),
    ("bpf_get_current_task_btf()->|", "member", "struct task_struct"),
    ("BPF_CORE_READ(t, |", "core-read", "struct task_struct"),
    ("BPF_CORE_READ(t, mm, |", "core-read", "struct mm_struct"),
    ("BPF_CORE_READ(sk, __sk_common.|", "core-read", "struct sock_common"),
    ("BPF_CORE_READ_INTO(&flags, p, mm, exe_file, f_path.|", "core-read", "struct path"),
    ("BPF_CORE_READ(t, real_parent)->|", "member", "struct task_struct"),
    ("bpf_core_cast(raw, struct file)->|", "member", "struct file"),
])
def test_member_contexts(body_model, expr, kind, record) -> None:
    c = ctx_at(body_model, expr)
    assert c.kind == kind
    assert type_name(body_model.local, c.record().id) == record


def test_block_scopes(body_model) -> None:
    c = ctx_at(body_model, "f->|", nth=0)
    assert type_name(body_model.local, c.record().id) == "struct file"
    c = ctx_at(body_model, "f->|", nth=1)  # after the blocks: no f in scope
    assert c.record() is None


def test_symbols(body_model) -> None:
    c = ctx_at(body_model, "|t", nth=1)
    sym = c.symbol()
    assert sym.kind == "local" and sym.spelling == "task_t *" and tname(body_model, sym.etype) \
        == "task_t *"
    names = {s.name: s for s in c.symbols()}
    assert {"raw", "t", "p", "q", "mm", "sk", "flags", "ctx", "gsk"} <= set(names)
    assert "f" not in names
    assert names["sk"].kind == "parameter" and tname(body_model, names["sk"].etype) == \
        "struct sock *"
    assert names["flags"].kind == "parameter" and names["gsk"].kind == "global"
    assert tname(body_model, names["q"].etype) == "struct task_struct *"
    assert tname(body_model, names["mm"].etype) == "struct mm_struct *"
    assert tname(body_model, names["ctx"].etype) == "struct pt_regs *"
    # BPF_PROG2: (type, name) pairs; ctx is the u64 array
    c = ctx_at(body_model, "|prev", nth=2)
    names = {s.name: s for s in c.symbols()}
    assert tname(body_model, names["prev"].etype) == "struct task_struct *"
    assert tname(body_model, names["ctx"].etype) == "unsigned long long *"
    assert "t" not in names


def test_other_contexts(body_model) -> None:
    c = ctx_at(body_model, "struct task_s|")
    assert (c.kind, c.tag, c.word, c.prefix) == ("tag", "struct", "task_s", "task_s")
    c = ctx_at(body_model, "bpf_core_enum_value(enum bpf_func_id, BPF_F|")
    assert c.kind == "enum-value" and c.enum().name == "bpf_func_id" and c.prefix == "BPF_F"
    c = ctx_at(body_model, 'SEC("fentry/tcp_|")')
    assert (c.kind, c.section) == ("section", "fentry/tcp_")
    c = ctx_at(body_model, "bpf_probe_read_kernel|(0, 0, 0)")
    assert c.kind == "identifier" and c.called and c.word == "bpf_probe_read_kernel"
    c = ctx_at(body_model, "1 + |")
    assert c.kind == "none"


def test_half_typed_and_bad_positions(body_model) -> None:
    from bpfls.source.query import context_at

    for text in ["", "t->", "BPF_CORE_READ(", "((((", "}}}}", 'SEC("', "/* unterminated",
                 "int f(struct task_struct *t) { return t->"]:
        for line in range(-1, 3):
            for col in range(-1, len(text) + 2):
                context_at(body_model, text, (line, col)).record()
    c = context_at(body_model, "int f(struct task_struct *t) { return t->", (0, 41))
    assert c.kind == "member" and c.record().name == "task_struct"


def test_members_of_a_definition(primary, tmp_path_factory) -> None:
    from bpfls.source.query import context_at

    text = ("#include \"vmlinux.h\"\n"
            "struct task_struct___o {\n\tlong state;\n\tstruct {\n\t\tint prio;\n\t};\n"
            "} __attribute__((preserve_access_index));\n")
    path = tmp_path_factory.mktemp("query") / "d.bpf.c"
    path.write_text(text)
    model = analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))
    c = context_at(model, text, (2, 7))
    assert c.kind == "member" and c.word == "state" and c.record().name == "task_struct___o"
    assert c.member().member.name == "state"
    c = context_at(model, text, (4, 7))
    assert c.kind == "member" and c.member().name == "prio"
    c = context_at(model, text, (2, 2))  # the type
    assert c.kind == "identifier" and c.symbol() is None


def test_field_info_with_a_type_argument(body_model) -> None:
    c = ctx_at(body_model, "bpf_core_field_exists(struct task_struct, |")
    assert c.kind == "member" and c.record().name == "task_struct"
    c = ctx_at(body_model, "bpf_core_field_exists(struct task_struct, se.|")
    assert c.kind == "member" and c.record().name == "sched_entity"
    c = ctx_at(body_model, "bpf_core_field_exists(struct task_struct, se.vr|untime)")
    assert c.kind == "member" and c.member().name == "vruntime"
    c = ctx_at(body_model, "bpf_core_field_size(task_t, p|id)")
    assert c.kind == "member" and c.member().name == "pid"
    c = ctx_at(body_model, "BPF_CORE_READ_BITFIELD_PROBED(p, sched_re|set_on_fork)")
    assert c.kind == "member" and c.member().name == "sched_reset_on_fork"
    c = ctx_at(body_model, "bpf_core_field_exists(t->|")
    assert c.kind == "member" and c.record().name == "task_struct"
