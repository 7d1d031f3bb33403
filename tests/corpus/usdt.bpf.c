// BPF_USDT's parameter list, and what usdt.bpf.h itself brings: its weak helpers
// bpf_usdt_arg_cnt(), bpf_usdt_arg() and bpf_usdt_cookie() are compiled into every program that
// includes it (used or not), and each reads PT_REGS_IP(ctx) when the kernel lacks BPF cookies,
// a CO-RE relocation (struct pt_regs.ip on x86) in each of the three.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

SEC("usdt/libc.so.6:libc:setjmp")
int BPF_USDT(on_setjmp, void *env, int savemask, void *addr)
{
    struct task_struct *task = (void *)bpf_get_current_task();
    int pid = BPF_CORE_READ(task, tgid);
    bpf_printk("%d %p %d %p", pid, env, savemask, addr); // expect: helper-missing@5.10-amd64
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
