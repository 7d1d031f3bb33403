// container_of() (bpf_helpers.h: `(void *)(ptr) - offsetof(type, member)`, offsetof being
// `&((type *)0)->member`) on vmlinux.h types. When ptr is the address of that same member of a
// `type *` (`&p->m`, directly, through a local variable, nested members alike), both terms add
// the same relocated offset: clang cancels them and emits neither relocation. Every other form
// keeps both: a loaded pointer, a plain pointer, another member, another root or array element,
// an address the program also uses elsewhere, and the difference of two member addresses (only
// an integer offset cancels). Each case uses its own members, so libbpf's relocation set shows
// which ones were folded away.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

long out[16];

SEC("fentry/do_exit")
int BPF_PROG(container_of_folds, struct task_struct *t) // expect: signature-mismatch
{
    struct sched_entity *se = &t->se;

    out[0] = (long)container_of(&t->tasks, struct task_struct, tasks);  // folded
    out[1] = (long)container_of(&t->se.avg, struct task_struct, se.avg);  // folded
    out[2] = (long)container_of(se, struct task_struct, se);  // folded through a variable
    out[3] = container_of(&t->cpus_mask, struct task_struct, cpus_mask)->pid;  // only pid
    return 0;
}

SEC("fentry/do_exit")
int BPF_PROG(container_of_stays, struct task_struct *t, struct list_head *node, // expect: signature-mismatch // expect: argument-out-of-range
             struct task_struct *u)
{
    struct list_head *pe = &t->perf_event_list;

    out[4] = (long)container_of(t->children.next, struct task_struct, sibling);
    out[5] = (long)container_of(node, struct task_struct, ptraced);
    out[6] = (long)container_of(&t->ptrace_entry, struct task_struct, cg_list);
    out[7] = (long)container_of(&t[1].pending, struct task_struct, pending);
    out[8] = (long)pe;  // the address is used: its relocation stays
    out[9] = (long)container_of(pe, struct task_struct, perf_event_list);
    out[10] = (char *)&t->rt - (char *)&u->rt;
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
