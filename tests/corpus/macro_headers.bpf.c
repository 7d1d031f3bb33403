// Functions whose header a macro writes, the body written after it: the name made by pasting,
// a SEC inside the header or written before the use, libbpf's program macros inside the header
// (BPF_KPROBE reads its parameters from ctx), and a static helper's header.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o {
    long state;
} __attribute__((preserve_access_index));

#define TASK_HELPER(name) static __always_inline long name(struct task_struct *t)
#define FILE_PROBE(fn) SEC("kprobe/" #fn) int BPF_KPROBE(probe_##fn, struct file *file)
#define LSM_CHECK(hook, args...) int BPF_PROG(hook##_check, args)
#define PLAIN_PROBE(fn) int plain_##fn(struct pt_regs *ctx)

TASK_HELPER(task_state)
{
    return BPF_CORE_READ((struct task_struct___o *)t, state); // expect: field-missing@6.1-amd64,6.12-amd64
}

FILE_PROBE(vfs_read)
{
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    return task_state(t) + BPF_CORE_READ(file, f_flags);
}

FILE_PROBE(vfs_write)
{
    return BPF_CORE_READ(file, f_mode);
}

SEC("lsm/file_open")
LSM_CHECK(file_open, struct file *file)
{
    return BPF_CORE_READ(file, f_path.dentry, d_flags);
}

SEC("kprobe/do_exit")
PLAIN_PROBE(do_exit)
{
    return ctx->si;
}

char LICENSE[] SEC("license") = "GPL";
