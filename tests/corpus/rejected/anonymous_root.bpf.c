// A CO-RE access through an anonymous struct with no typedef naming it: libbpf cannot look
// an anonymous root up in the kernel and refuses the relocation on every kernel.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

SEC("raw_tp/sys_enter")
int on_enter(void *ctx)
{
    struct task_struct *task = (void *)bpf_get_current_task();
    int pid = BPF_CORE_READ(task, pid);
    struct { int pid; int tgid; } __attribute__((preserve_access_index)) *ids = (void *)&task->pid;
    bpf_printk("%d %d", pid, ids->tgid); // expect: anonymous-root@5.10-amd64,6.1-amd64,6.12-amd64 // expect: kernel-pointer-deref
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
