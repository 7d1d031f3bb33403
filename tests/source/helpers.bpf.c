// Types of helper and kfunc results: accesses through what they return relocate too.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

long out[4];

SEC("tp_btf/sched_switch")
int BPF_PROG(helpers, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct task_struct *t;

	__auto_type cur = bpf_get_current_task_btf();

	out[0] = bpf_get_current_task_btf()->tgid;
	out[2] = cur->flags;
	t = bpf_task_from_pid(1);
	if (t) {
		out[1] = bpf_task_from_pid(2)->prio;
		bpf_task_release(t);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct task_struct.flags 0:5
//@ byte_off struct task_struct.prio 0:15
//@ byte_off struct task_struct.tgid 0:89
