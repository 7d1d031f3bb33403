// A vmlinux.h of the project's own that includes the kernel's dump and adds definitions:
// its flavors and its macro count, the dump's types are the kernel's.
//! include: include/wrapper
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    long state = 0;
    unsigned int inum = 0;

    if (bpf_core_field_exists(prev->__state)) {
        state = BPF_CORE_READ(prev, task_run_state);
    } else {
        struct task_struct___pre514 *old = (void *)prev;

        state = BPF_CORE_READ(old, state);
    }
    struct uts_namespace *uts = BPF_CORE_READ(next, nsproxy, uts_ns);
    struct uts_namespace___v318 *uts_old = (void *)uts;
    if (bpf_core_field_exists(uts_old->proc_inum))
        inum = BPF_CORE_READ(uts_old, proc_inum);
    else
        inum = BPF_CORE_READ(uts, ns.inum);
    bpf_printk("%ld %u", state, inum);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
