// CO-RE intrinsics in places tree-sitter alone misreads or bpfls used to skip:
// - an object-like macro whose body is an intrinsic call in parentheses
//   (`#define HAS_X (bpf_core_enum_value_exists(enum e, X))`): with a type among the
//   arguments, `(f(enum e, X))` reads as a cast to a function type; it is the call;
// - an intrinsic in the size argument of bpf_core_read() (the size is computed, the field
//   size relocated, besides the relocated source address);
// - a type argument written `typeof(expr)` (the type of the expression, not evaluated: no
//   relocation of its own).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define HAS_SNPRINTF (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_snprintf))
#define NO_PRINTK_EVENT (!bpf_core_type_exists(struct trace_event_raw_bpf_trace_printk))
#define PIDNS_TYPE_ID (bpf_core_type_id_kernel(struct pid_namespace))

long out[8];

SEC("fentry/do_exit")
int BPF_PROG(parenthesised_intrinsics, struct task_struct *t) // expect: signature-mismatch
{
    if (HAS_SNPRINTF)
        out[0] = 1;
    out[1] = NO_PRINTK_EVENT ? 2 : 3;
    out[2] = PIDNS_TYPE_ID;
    return 0;
}

SEC("fentry/do_exit")
int BPF_PROG(intrinsic_sizes, struct task_struct *t) // expect: signature-mismatch
{
    bpf_core_read(&out[3], bpf_core_field_size(t->pid), &t->pid);
    bpf_core_read(&out[4], bpf_core_field_size(struct task_struct, tgid) & 7, &t->tgid);
    bpf_probe_read_kernel(&out[5], bpf_core_field_size(t->prio), &t->prio);
    return 0;
}

struct node_data {
    long key;
    struct bpf_list_node node;
};

SEC("fentry/do_exit")
int BPF_PROG(typeof_types, struct task_struct *t) // expect: signature-mismatch
{
    struct node_data *n = 0;
    struct node_data local = {};

    out[0] = bpf_core_type_id_local(typeof(*n));
    out[1] = bpf_core_type_id_kernel(typeof(t->se));
    out[2] = bpf_core_type_size(typeof(local));
    out[3] = bpf_core_type_exists(typeof(*t->mm));
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
