// Object-like macros written as statements of their own, without a semicolon after them
// (`STEP` on its own line, then a label or another statement). tree-sitter reads such a line
// as a declaration whose type is the macro's name; bpfls expands it and walks the statements
// it stands for, with the relocations of their CO-RE accesses, instead of reporting an
// unknown type. A macro the program #undefs after its uses is the one defined there.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

long out[8];

#define READ_PARENT_PID                                          \
    {                                                            \
        struct task_struct *p = BPF_CORE_READ(t, real_parent);   \
        if (!p)                                                  \
            goto done;                                           \
        out[0] = BPF_CORE_READ(p, tgid);                         \
    }

#define READ_FLAGS                                               \
    out[1] += t->flags;                                          \
    if (out[1] > 100)                                            \
        return 1;

#define READ_TWICE READ_FLAGS READ_FLAGS

SEC("fentry/do_exit")
int BPF_PROG(statement_macro_then_label, struct task_struct *t) // expect: signature-mismatch
{
    READ_PARENT_PID // jumps to done when there is no parent
    done:
    out[2] = t->pid;
    return 0;
}

SEC("fentry/do_exit")
int BPF_PROG(statement_macros_in_a_row, struct task_struct *t) // expect: signature-mismatch
{
    READ_TWICE
    READ_TWICE
    out[3] = BPF_CORE_READ(t, mm, total_vm);
    return 0;
}

SEC("fentry/do_exit")
int BPF_PROG(statement_macro_undefined_after, struct task_struct *t) // expect: signature-mismatch
{
#define READ_PRIO_TWICE                                          \
    out[4] += t->prio;                                           \
    out[5] += BPF_CORE_READ(t, group_leader, normal_prio);
    READ_PRIO_TWICE
    READ_PRIO_TWICE
#undef READ_PRIO_TWICE
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
