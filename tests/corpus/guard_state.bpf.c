// The task state rename of 5.14 (state -> __state), handled the way libbpf tools do: no kernel
// from 5.4 to 7.1 may get an error.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));
struct task_struct___x { unsigned int __state; } __attribute__((preserve_access_index));

static __always_inline __s64 get_task_state(void *task)
{
    struct task_struct___x *t = task;
    if (bpf_core_field_exists(t->__state))
        return BPF_CORE_READ(t, __state);
    return BPF_CORE_READ((struct task_struct___o *)task, state);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    __s64 st = get_task_state(prev);
    int ppid = BPF_CORE_READ(next, real_parent, tgid);
    bpf_printk("%lld %d %d", st, ppid, next->pid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
