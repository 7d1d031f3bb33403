// Reachability: programs and global functions are roots; static helpers run when called.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

long out[64];

static __noinline long helper_called(struct task_struct *t)
{
	return BPF_CORE_READ(t, real_parent, pid);
}

static long helper_unused(struct task_struct *t)
{
	return BPF_CORE_READ(t, group_leader, pid);
}

static long helper_only_from_unused(struct task_struct *t)
{
	return BPF_CORE_READ(t, exit_code);
}

static long helper_unused2(struct task_struct *t)
{
	return helper_only_from_unused(t);
}

__noinline int global_func(struct task_struct *t)
{
	if (!t)
		return 0;
	return BPF_CORE_READ(t, exit_signal);
}

static long loop_cb(__u64 i, void *data)
{
	struct task_struct *t = data;

	out[i & 31] = BPF_CORE_READ(t, prio);
	return 0;
}

SEC("raw_tp/sched_switch")
int prog_main(void *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	out[0] = helper_called(t);
	out[1] = global_func(t);
	bpf_loop(4, loop_cb, t, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct task_struct.exit_signal 0:63
//@ byte_off struct task_struct.pid 0:88
//@ byte_off struct task_struct.prio 0:15
//@ byte_off struct task_struct.real_parent 0:91
