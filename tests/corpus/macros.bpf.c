// The rest of libbpf's CO-RE catalogue: the _USER and BPF_PROBE_READ* read forms, bitfields read
// with direct loads and written, bpf_core_read_user, local type ids, bpf_core_cast,
// __builtin_preserve_field_info, offsetof/container_of, and the parameter lists of BPF_PROG2,
// BPF_KRETPROBE, BPF_KSYSCALL, BPF_KPROBE_SYSCALL, BPF_UPROBE and BPF_URETPROBE.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

// libbpf 1.1 lacks these; the definitions of later releases
#ifndef BPF_UPROBE
#define BPF_UPROBE(name, args...) BPF_KPROBE(name, ##args)
#define BPF_URETPROBE(name, args...) BPF_KRETPROBE(name, ##args)
#endif
#ifndef bpf_core_cast
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
#define bpf_core_cast(ptr, type) \
    ((typeof(type) *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))
#endif
#ifndef BPF_CORE_WRITE_BITFIELD
#define BPF_CORE_WRITE_BITFIELD(s, field, new_val) ({                  \
    void *p = (void *)s + __CORE_RELO(s, field, BYTE_OFFSET);          \
    unsigned int byte_size = __CORE_RELO(s, field, BYTE_SIZE);         \
    unsigned int lshift = __CORE_RELO(s, field, LSHIFT_U64);           \
    unsigned int rshift = __CORE_RELO(s, field, RSHIFT_U64);           \
    unsigned long long mask, val, nval = new_val;                      \
    unsigned int rpad = rshift - lshift;                               \
    asm volatile("" : "+r"(p));                                        \
    switch (byte_size) {                                               \
    case 1: val = *(unsigned char *)p; break;                          \
    case 2: val = *(unsigned short *)p; break;                         \
    case 4: val = *(unsigned int *)p; break;                           \
    case 8: val = *(unsigned long long *)p; break;                     \
    }                                                                  \
    mask = (~0ULL << rshift) >> lshift;                                \
    val = (val & ~mask) | ((nval << rpad) & mask);                     \
    switch (byte_size) {                                               \
    case 1: *(unsigned char *)p = val; break;                          \
    case 2: *(unsigned short *)p = val; break;                         \
    case 4: *(unsigned int *)p = val; break;                           \
    case 8: *(unsigned long long *)p = val; break;                     \
    }                                                                  \
})
#endif

SEC("ksyscall/readv")
int BPF_KSYSCALL(on_readv, int fd, const struct iovec *vec, unsigned long vlen)
{
    struct iovec first = {};
    __kernel_size_t len = BPF_CORE_READ_USER(vec, iov_len);
    BPF_CORE_READ_USER_INTO(&first.iov_base, vec, iov_base);
    char name[16];
    BPF_CORE_READ_USER_STR_INTO(&name, vec, iov_base);
    bpf_core_read_user(&first.iov_len, sizeof(first.iov_len), &vec->iov_len);
    void *base = BPF_PROBE_READ_USER(vec, iov_base);
    __kernel_size_t len2 = 0;
    BPF_PROBE_READ_USER_INTO(&len2, vec, iov_len);
    char name2[16];
    BPF_PROBE_READ_USER_STR_INTO(&name2, vec, iov_base);
    bpf_printk("%d %lu %lu %s %p %lu %s", fd, len, vlen, name, base, len2, name2); // expect: helper-missing@5.10-amd64
    return 0;
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE_SYSCALL(on_unlink, int dfd, struct filename *name)
{
    struct task_struct *task = (void *)bpf_get_current_task();
    int pid = BPF_PROBE_READ(task, pid);
    int ppid = 0;
    BPF_PROBE_READ_INTO(&ppid, task, real_parent, tgid);
    char comm[16];
    BPF_PROBE_READ_STR_INTO(&comm, task, comm);
    bpf_printk("%d %d %d %s", dfd, pid, ppid, comm); // expect: helper-missing@5.10-amd64
    return 0;
}

SEC("kretprobe/do_sys_openat2")
int BPF_KRETPROBE(on_open_ret, long ret)
{
    struct task_struct *task = bpf_get_current_task_btf(); // expect: helper-missing@5.10-amd64
    unsigned int reset = BPF_CORE_READ_BITFIELD(task, sched_reset_on_fork);
    __u64 lshift = __builtin_preserve_field_info(task->in_iowait, BPF_FIELD_LSHIFT_U64);
    __u64 rshift = __builtin_preserve_field_info(task->in_iowait, BPF_FIELD_RSHIFT_U64);
    __u32 is_signed = __builtin_preserve_field_info(task->pid, BPF_FIELD_SIGNED);
    bpf_printk("%ld %u %llu %llu %u", ret, reset, lshift, rshift, is_signed); // expect: helper-missing@5.10-amd64
    return 0;
}

SEC("struct_ops/tick")
int on_tick(struct task_struct *task)
{
    BPF_CORE_WRITE_BITFIELD(task, sched_contributes_to_load, 1);
    return 0;
}

SEC("fentry/vfs_fsync_range")
int BPF_PROG2(on_fsync, struct file *, file, loff_t, start, loff_t, end, int, datasync)
{
    struct inode *inode = file->f_inode;
    struct task_struct *task = bpf_get_current_task_btf(); // expect: helper-missing@5.10-amd64
    struct list_head *node = BPF_CORE_READ(task, tasks.next);
    struct task_struct *next = container_of(node, struct task_struct, tasks);
    unsigned long off = offsetof(struct task_struct, tgid);
    __u32 local_id = bpf_core_type_id_local(struct task_struct);
    struct mm_struct *mm = bpf_core_cast(task->mm, struct mm_struct); // expect: kfunc-missing@5.10-amd64,6.1-amd64
    bpf_printk("%lld %lld %d %lu %lu %u %p %p", start, end, datasync, inode->i_ino, off, // expect: helper-missing@5.10-amd64
               local_id, next, mm);
    return 0;
}

SEC("uprobe//bin/bash:readline")
int BPF_UPROBE(on_readline, const char *prompt)
{
    char buf[16];
    bpf_probe_read_user_str(buf, sizeof(buf), prompt);
    bpf_printk("%s", buf);
    return 0;
}

SEC("uretprobe//bin/bash:readline")
int BPF_URETPROBE(on_readline_ret, const char *line)
{
    bpf_printk("%p", line);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
