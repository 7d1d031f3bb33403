// Real renames and removals between the sample kernels, unguarded and guarded.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));
struct inode___old { struct timespec64 i_ctime; } __attribute__((preserve_access_index));
struct mm_struct___old { struct vm_area_struct *mmap; } __attribute__((preserve_access_index));

SEC("kprobe/vfs_write")
int BPF_KPROBE(on_write, struct file *file)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    long st = BPF_CORE_READ((struct task_struct___o *)task, state); // expect: field-missing@6.1-amd64,6.12-amd64
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    time64_t sec = 0;
    if (bpf_core_field_exists(inode->i_ctime_sec))
        sec = BPF_CORE_READ(inode, i_ctime_sec);
    else
        sec = BPF_CORE_READ((struct inode___old *)inode, i_ctime.tv_sec);
    struct mm_struct___old *mm = (void *)BPF_CORE_READ(task, mm);
    void *vma = BPF_CORE_READ(mm, mmap); // expect: field-missing@6.1-amd64,6.12-amd64
    bpf_printk("%ld %lld %p", st, sec, vma);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
