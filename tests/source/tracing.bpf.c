// The program-definition macros of bpf_tracing.h and the PT_REGS accessors.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#ifndef BPF_UPROBE
#define BPF_UPROBE BPF_KPROBE
#define BPF_URETPROBE BPF_KRETPROBE
#endif

long out[64];

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(kprobe_unlinkat, int dfd, struct filename *name)
{
	out[0] = BPF_CORE_READ(name, refcnt.counter);
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(kretprobe_unlinkat, long ret)
{
	out[1] = ret;
	return 0;
}

SEC("ksyscall/openat")
int BPF_KSYSCALL(ksyscall_openat, int dfd, const char *pathname, int flags, int mode)
{
	out[2] = flags + mode;
	return 0;
}

SEC("uprobe//proc/self/exe:main")
int BPF_UPROBE(uprobe_main, int argc, char **argv)
{
	out[3] = argc;
	return 0;
}

SEC("uretprobe//proc/self/exe:main")
int BPF_URETPROBE(uretprobe_main, int rc)
{
	out[4] = rc;
	return 0;
}

SEC("fentry/do_unlinkat")
int BPF_PROG2(fentry_unlinkat, int, dfd, struct filename *, name)
{
	out[5] = name->uptr != 0;
	return 0;
}

SEC("usdt/./app:provider:probe")
int BPF_USDT(usdt_probe, int x, long y)
{
	out[6] = x + y;
	return 0;
}

SEC("kprobe/vfs_read")
int raw_kprobe(struct pt_regs *ctx)
{
	struct file *f = (struct file *)PT_REGS_PARM1_CORE(ctx);

	out[7] = PT_REGS_PARM3(ctx);
	out[8] = PT_REGS_RC_CORE(ctx);
	out[9] = BPF_CORE_READ(f, f_pos);
	out[10] = PT_REGS_IP(ctx) + PT_REGS_SP(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct file.f_pos 0:12
//@ byte_off struct filename.refcnt.counter 0:2:0
//@ byte_off struct filename.uptr 0:1
//@ byte_off struct pt_regs.ax 0:10
//@ byte_off struct pt_regs.di 0:14
//@ byte_off struct pt_regs.dx 0:12
//@ byte_off struct pt_regs.ip 0:16
//@ byte_off struct pt_regs.r10 0:7
//@ byte_off struct pt_regs.si 0:13
//@ byte_off struct pt_regs.sp 0:19
