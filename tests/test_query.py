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
