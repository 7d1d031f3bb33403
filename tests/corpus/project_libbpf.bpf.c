// A libbpf header found next to the program (a project's own, newer copy) is the one whose
// macros count: BPF_KPROBE takes a sixth argument, read from pt_regs.r9.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "project_libbpf/bpf_tracing.h"

#if PROJECT_TRACING_VERSION != 2
#error the project's bpf_tracing.h was not read
#endif

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(six_args, int dfd, const char *name, void *how, long a4, long a5, long sixth) // expect: signature-mismatch
{
	long first = PT_REGS_PARM1_CORE(ctx);
	long last = PT_REGS_PARM6_CORE(ctx);

	bpf_printk("%ld %ld %ld", first, last, sixth);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
