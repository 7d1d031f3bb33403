// Built against the vmlinux.h of 5.10, with no primary kernel chosen: 5.10 is the primary,
// so a member only older kernels have is known, and fails where it is missing.
//! vmlinux: 5.10-amd64
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    long state = prev->state; // expect: field-missing@6.1-amd64,6.12-amd64
    int pid = BPF_CORE_READ(next, pid);

    bpf_printk("%ld %d", state, pid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
