// Pitfalls bpfls diagnoses without a hard load error: type matching and base-type spelling,
// reads whose size differs from the kernel's field, incompatible fields, typedef roots, types
// and enumerators missing on some kernels, and checks that are constant on every kernel.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

// clang names these 'unsigned long'; the kernel's BTF says 'long unsigned int'
struct rlimit___a { unsigned long rlim_cur; unsigned long rlim_max; };
// clang marks char signed; 5.10 and 6.12 leave the kernel's char without a sign, 6.1 does not
struct new_utsname___a { char sysname[65]; };
// 'int' against 'long unsigned int': a real difference, not a spelling one
struct rlimit___c { unsigned long rlim_cur; int rlim_max; };
// built from pointers only: matches everywhere
struct list_head___a { struct list_head *next; struct list_head *prev; };

struct task_struct___i { int *pid; } __attribute__((preserve_access_index));
struct folio___y { unsigned long flags; } __attribute__((preserve_access_index));
typedef struct task_struct task_t;

SEC("raw_tp/sched_process_exec")
int on_exec(void *ctx)
{
    int a = bpf_core_type_matches(struct rlimit___a); // expect: type-matches-spelling@5.10-amd64,6.1-amd64,6.12-amd64 // expect: constant-check
    int b = bpf_core_type_matches(struct new_utsname___a); // expect: type-matches-spelling@5.10-amd64,6.12-amd64
    int c = bpf_core_type_matches(struct rlimit___c); // expect: constant-check
    int d = bpf_core_type_matches(struct list_head___a); // expect: constant-check
    // vmlinux.h's own types reach the program's BTF in clang's spelling too
    int e = bpf_core_type_matches(struct rlimit); // expect: type-matches-spelling@5.10-amd64,6.1-amd64,6.12-amd64 // expect: constant-check
    int f = bpf_core_type_matches(atomic64_t); // expect: type-matches-spelling@5.10-amd64,6.1-amd64,6.12-amd64 // expect: constant-check
    bpf_printk("%d %d %d %d %d %d", a, b, c, d, e, f); // expect: helper-missing@5.10-amd64
    return 0;
}

SEC("kprobe/vfs_read")
int BPF_KPROBE(on_read, struct file *file)
{
    struct task_struct *task = (void *)bpf_get_current_task();
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    unsigned long state = BPF_CORE_READ(inode, i_state); // expect: read-size-mismatch@5.10-amd64,6.1-amd64
    int has_pid = bpf_core_field_exists(task->pid); // expect: constant-check
    int *pp = BPF_CORE_READ((struct task_struct___i *)task, pid); // expect: field-incompatible@5.10-amd64,6.1-amd64,6.12-amd64
    task_t *t = (task_t *)task;
    int tgid = BPF_CORE_READ(t, tgid); // expect: typedef-root@5.10-amd64,6.1-amd64,6.12-amd64
    unsigned long flags = BPF_CORE_READ((struct folio___y *)ctx, flags); // expect: type-missing@5.10-amd64
    long drain = bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_user_ringbuf_drain); // expect: enum-value-missing@5.10-amd64
    bpf_printk("%lu %d %p %d %lu %ld", state, has_pid, pp, tgid, flags, drain); // expect: helper-missing@5.10-amd64
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
