// Functions a macro writes whole: static helpers, one program per use, an X-macro list writing
// one program per hook, a SEC inside the macro or written before its use. Clang emits each
// expansion's relocations once per generated function; a diagnostic on code the macro wrote
// points at the macro's use.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o {
    long state;
} __attribute__((preserve_access_index));

#define TASK_READER(field)                                              \
    static __always_inline long read_##field(struct task_struct *t)    \
    {                                                                   \
        return BPF_CORE_READ(t, field);                                 \
    }

TASK_READER(pid)
TASK_READER(tgid);

#define FILE_ENTRY(fn)                                                  \
    SEC("kprobe/" #fn)                                                  \
    int BPF_KPROBE(enter_##fn, struct file *file)                       \
    {                                                                   \
        struct task_struct *t = (struct task_struct *)bpf_get_current_task(); \
        return read_pid(t) + BPF_CORE_READ(file, f_flags);              \
    }

FILE_ENTRY(vfs_read)
FILE_ENTRY(vfs_write)

#define FOR_EACH_HOOK(F) F(file_open) F(file_permission)
#define FILE_HOOK(h)                                                    \
    SEC("lsm/" #h)                                                      \
    int BPF_PROG(h##_hook, struct file *file)                           \
    {                                                                   \
        return BPF_CORE_READ(file, f_path.dentry, d_flags);             \
    }
FOR_EACH_HOOK(FILE_HOOK)

#define OLD_STATE(name)                                                 \
    int BPF_PROG(name, struct task_struct *task)                        \
    {                                                                   \
        return BPF_CORE_READ((struct task_struct___o *)task, state) + read_tgid(task); \
    }

SEC("tp_btf/sched_process_exit")
OLD_STATE(on_exit); // expect: field-missing@6.1-amd64,6.12-amd64

char LICENSE[] SEC("license") = "GPL";
