// A static __always_inline function called with constant arguments: clang inlines it, folds
// the constants and removes the branches and switch cases they make dead, with their
// relocations. `arg(ctx, 0)` and `arg(ctx, 2)` keep cases 0 and 2 only (and the default
// when a value has no case); `pick(t, 1)` keeps the second branch; a case reached by falling
// through stays. A parameter that one call passes a variable keeps every branch. The constant
// is no constant where clang places relocations (before inlining): `args[i]` relocates the
// array, not `args[2]`.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

long out[16];
int index_in_map;

static __always_inline unsigned long arg(struct pt_regs *regs, int i)
{
    switch (i) {
    case 0:
        return regs->di;
    case 1:
        return regs->si;
    case 2:
        return regs->dx;
    case 3:
        return regs->cx;
    default:
        return regs->r8;
    }
}

static __always_inline long pick(struct task_struct *t, int which)
{
    if (which == 0)
        return t->pid;
    if (which == 1)
        return t->tgid;
    return t->prio;
}

static __always_inline long falls(struct task_struct *t, int from)
{
    long sum = 0;

    switch (from) {
    case 0:
        sum += t->static_prio;
    case 1:
        sum += t->normal_prio;  /* reached from case 0 */
        break;
    case 2:
        sum += t->rt_priority;
        break;
    default:
        sum += t->policy;
    }
    return sum;
}

static __always_inline long any_value(struct task_struct *t, int which)
{
    if (which == 0)
        return t->nr_cpus_allowed;
    return t->exit_code;
}

static __always_inline unsigned long other_default(struct pt_regs *regs, int i)
{
    switch (i) {
    case 0:
        return regs->ip;
    default:
        return regs->sp;
    }
}

static __always_inline long nth(struct trace_event_raw_sys_enter *ctx, int i)
{
    if (i > 5)
        return ctx->id;
    return ctx->args[i];
}

SEC("tp/syscalls/sys_enter_read")
int inline_constant_subscript(struct trace_event_raw_sys_enter *ctx)
{
    out[9] = nth(ctx, 2);
    return 0;
}

SEC("kprobe/do_exit")
int inline_constants(struct pt_regs *ctx)
{
    struct task_struct *t = (void *)bpf_get_current_task_btf(); // expect: helper-missing@5.10-amd64

    out[0] = arg(ctx, 0);
    out[1] = arg(ctx, 2);
    out[2] = pick(t, 1);
    out[3] = falls(t, 0);
    out[4] = any_value(t, 0);
    out[5] = any_value(t, index_in_map);
    out[7] = other_default(ctx, 5);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
