// A tracing program that reads the task state the pre-5.14 way: bpfls check reports that the
// read fails on the kernels where `state` became `__state`, and the fixed version beside it
// (examples/task_state_fixed.bpf.c) is clean on all of them.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    long state = BPF_CORE_READ((struct task_struct___o *)prev, state);
    int ppid = BPF_CORE_READ(next, real_parent, tgid);
    bpf_printk("prev state %ld, next parent %d", state, ppid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
