// The same program with the usual CO-RE guard for the 5.14 rename (state -> __state).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));
struct task_struct___x { unsigned int __state; } __attribute__((preserve_access_index));

static __always_inline long get_task_state(void *task)
{
    struct task_struct___x *t = task;
    if (bpf_core_field_exists(t->__state))
        return BPF_CORE_READ(t, __state);
    return BPF_CORE_READ((struct task_struct___o *)task, state);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    long state = get_task_state(prev);
    int ppid = BPF_CORE_READ(next, real_parent, tgid);
    bpf_printk("prev state %ld, next parent %d", state, ppid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
