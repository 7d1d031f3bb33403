// A hand-trimmed vmlinux.h with another layout and an older member name: the relocations
// are the header's, judged on each kernel.
//! include: include/trimmed
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
    pid_t pid = BPF_CORE_READ(child, pid);
    pid_t ppid = BPF_CORE_READ(child, real_parent, tgid);
    long state = child->state; // expect: field-missing@6.1-amd64,6.12-amd64
    long guarded = 0;

    if (bpf_core_field_exists(parent->state))
        guarded = parent->state;
    bpf_printk("%d %d %ld", pid, ppid, state + guarded);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
