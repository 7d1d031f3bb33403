// Plain loads whose value nothing reads are dead code: clang removes them, and their
// relocations with them. A local initialised from a preserved field and never read again, a
// BPF_KPROBE parameter (a load from pt_regs) only passed on to a static function that ignores
// it, a local only passed to such a function. The value is read — directly, through a macro,
// by the function it is passed to — or the initializer also calls something (a CO-RE read):
// then the relocations stay.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

long out[8];

#define KEEP(v) (out[4] = (v))

static __always_inline int ignores_second(long a, long b)
{
    return a > 0;
}

static __always_inline int reads_both(long a, long b)
{
    return a + b > 0;
}

static __always_inline int passes_on(long a, long b)
{
    return ignores_second(a, b) + reads_both(0, a);
}

SEC("tp/syscalls/sys_enter_read")
int unread_locals(struct trace_event_raw_sys_enter *ctx)
{
    unsigned int fd = ctx->args[0];  // never read: no relocation
    long count = ctx->args[2];  // only passed where it is ignored: no relocation
    long id = ctx->id;  // read below
    long buf = ctx->args[1];  // read through a macro
    long first = ctx->args[3], copy = first;  // read by the next declarator
    struct task_struct *t = (void *)bpf_get_current_task();
    long unused_read = BPF_CORE_READ(t, tgid);  // a call: stays

    out[0] = ignores_second(id, count);
    KEEP(buf);
    out[1] = copy;
    return 0;
}

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(unread_parameters, int dfd, const char *filename, struct open_how *how)
{
    // dfd is ignored, filename read through passes_on, how never used
    return passes_on((long)filename, dfd);
}

char LICENSE[] SEC("license") = "GPL";
