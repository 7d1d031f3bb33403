// What BPF_CORE_READ reads from. Its source is evaluated inside the preserved region of the
// first read (`&((typeof(src))(src))->a`): the address of a member (`&file->f_path`) makes the
// first hop continue that member's chain, one relocation `file.f_path.dentry`; the address of a
// local struct roots the hop at the struct's type. container_of(...) as the source (which
// tree-sitter alone reads as a cast to a function type) is expanded: its offset is relocated,
// and cancels when it is taken from the member's own address.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

long out[8];

SEC("fentry/do_exit")
int BPF_PROG(address_sources, struct file *file, struct task_struct *t) // expect: signature-mismatch // expect: argument-out-of-range
{
    struct path local_path = {};

    out[0] = (long)BPF_CORE_READ(&file->f_path, dentry);
    out[1] = BPF_CORE_READ(&t->se, avg.load_avg);
    out[2] = BPF_CORE_READ(&(t->signal->rlim[1]), rlim_cur);
    bpf_probe_read_kernel(&local_path, sizeof(local_path), &file->f_path);
    out[4] = (long)BPF_CORE_READ(&local_path, mnt, mnt_flags);
    return 0;
}

SEC("fentry/do_exit")
int BPF_PROG(container_of_sources, struct list_head *node, struct task_struct *t) // expect: signature-mismatch // expect: argument-out-of-range
{
    out[5] = BPF_CORE_READ(container_of(node, struct task_struct, sibling), pid);
    out[6] = BPF_CORE_READ(container_of(t->children.next, struct task_struct, sibling), tgid);
    out[7] = BPF_CORE_READ(container_of(&t->ptraced, struct task_struct, ptraced), prio);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
