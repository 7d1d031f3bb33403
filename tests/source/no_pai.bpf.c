// BPF_NO_PRESERVE_ACCESS_INDEX: vmlinux.h types do not relocate on direct access.
#define BPF_NO_PRESERVE_ACCESS_INDEX
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___flavor {
	int pid;
} __attribute__((preserve_access_index));

long out[8];

SEC("fentry/do_exit")
int BPF_PROG(no_pai, long code)
{
	struct task_struct *t = bpf_get_current_task_btf();

	out[0] = t->pid;
	out[1] = BPF_CORE_READ(t, tgid);
	out[2] = ((struct task_struct___flavor *)t)->pid;
	out[3] = t->real_parent->pid + code;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct task_struct.tgid 0:89
//@ byte_off struct task_struct___flavor.pid 0:0
