// CO-RE relocations of every kind against real kernels (vmlinux.h of a sample kernel).
// Each SEC is one program; the test compares every relocation with libbpf's verdict.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define PAI __attribute__((preserve_access_index))

/* 5.14 renamed task_struct.state to __state: the usual pair of flavors */
struct task_struct___o { volatile long state; } PAI;
struct task_struct___x { unsigned int __state; } PAI;
/* wrong types for fields that exist: int vs pointer, array vs int, pointer vs struct */
struct task_struct___bad { void *pid; int comm; struct mm_struct mm; long *tgid; } PAI;
/* int vs enum */
enum not_a_pid { NAP_ZERO };
struct task_struct___e { enum not_a_pid pid; } PAI;
/* a direct load whose size changes: signed (poisoned) and unsigned (adjusted) */
struct task_struct___l { long pid; unsigned long flags; } PAI;
/* a union root never matches a struct */
union task_struct___u { int pid; } PAI;
/* types no kernel has */
struct not_in_any_kernel { int a; } PAI;
struct not_in_any_kernel___v2 { int a; } PAI;
/* type matching: 'unsigned long' (clang) vs 'long unsigned int' (pahole), and a plain match */
struct rlimit___a { unsigned long rlim_cur; } PAI;
struct list_head___m { struct list_head *next; struct list_head *prev; } PAI;
/* enum flavors and enumerator flavors */
enum bpf_func_id___x { BPF_FUNC_ringbuf_reserve___x = 131, BPF_FUNC_does_not_exist___x = 9999 };
/* a typedef root that no kernel has as typedef */
typedef struct task_struct my_task_t;

SEC("kprobe/chains")
int chains(struct pt_regs *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct sock *sk = (void *)PT_REGS_PARM1(ctx);
	struct syscall_trace_enter *e = (void *)PT_REGS_PARM2(ctx);
	long r = 0;

	r += BPF_CORE_READ(t, real_parent, tgid);
	r += BPF_CORE_READ(t, mm, arg_start);
	r += BPF_CORE_READ(t, group_leader, parent, pid);
	r += BPF_CORE_READ(sk, __sk_common.skc_daddr);
	r += BPF_CORE_READ(sk, __sk_common.skc_dport);
	r += BPF_CORE_READ(t, comm[2]);
	r += BPF_CORE_READ(e, args[2]);
	r += BPF_CORE_READ(t, signal, rlim[3].rlim_cur);
	r += offsetof(struct task_struct, tgid);
	r += bpf_core_field_offset(struct task_struct, se.vruntime);
	r += bpf_core_field_size(struct task_struct, comm);
	r += bpf_core_field_size(t->comm[1]);
	r += bpf_core_field_offset(t->comm[3]);
	return r;
}

SEC("kprobe/flavors")
int flavors(struct pt_regs *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	long r = 0;

	if (bpf_core_field_exists(((struct task_struct___x *)t)->__state))
		r += BPF_CORE_READ((struct task_struct___x *)t, __state);
	else
		r += BPF_CORE_READ((struct task_struct___o *)t, state);
	r += bpf_core_field_exists(((struct task_struct___o *)t)->state);
	r += bpf_core_field_size(((struct task_struct___x *)t)->__state);
	return r;
}

SEC("kprobe/incompatible")
int incompatible(struct pt_regs *ctx)
{
	struct task_struct___bad *b = (void *)bpf_get_current_task();
	struct task_struct___e *e = (void *)b;
	long r = 0;

	r += bpf_core_field_exists(b->pid);
	r += bpf_core_field_exists(b->comm);
	r += bpf_core_field_exists(b->mm);
	r += bpf_core_field_exists(b->tgid);
	r += bpf_core_field_exists(e->pid);
	r += bpf_core_field_size(e->pid);
	r += bpf_core_field_exists(((union task_struct___u *)b)->pid);
	r += bpf_core_field_exists(((struct not_in_any_kernel *)b)->a);
	return r;
}

SEC("kprobe/bitfields")
int bitfields(struct pt_regs *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct sock *sk = (void *)PT_REGS_PARM1(ctx);
	struct sock_common *skc = (void *)sk;
	long r = 0;

	r += BPF_CORE_READ_BITFIELD_PROBED(t, sched_remote_wakeup);
	r += BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	r += BPF_CORE_READ_BITFIELD(skc, skc_reuse);
	r += __builtin_preserve_field_info(skc->skc_ipv6only, BPF_FIELD_LSHIFT_U64);
	r += __builtin_preserve_field_info(skc->skc_ipv6only, BPF_FIELD_RSHIFT_U64);
	r += __builtin_preserve_field_info(skc->skc_ipv6only, BPF_FIELD_SIGNED);
	r += __builtin_preserve_field_info(skc->skc_ipv6only, BPF_FIELD_BYTE_SIZE);
	r += __builtin_preserve_field_info(skc->skc_ipv6only, BPF_FIELD_BYTE_OFFSET);
	r += __builtin_preserve_field_info(skc->skc_ipv6only, BPF_FIELD_EXISTS);
	r += __builtin_preserve_field_info(t->prio, BPF_FIELD_SIGNED);
	r += __builtin_preserve_field_info(t->prio, BPF_FIELD_LSHIFT_U64);
	r += __builtin_preserve_field_info(t->prio, BPF_FIELD_RSHIFT_U64);
	r += __builtin_preserve_field_info(t->flags, BPF_FIELD_SIGNED);
	r += __builtin_preserve_field_info(t->__state, BPF_FIELD_SIGNED);
	return r;
}

SEC("kprobe/enums")
int enums(struct pt_regs *ctx)
{
	long r = 0;

	r += bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_ringbuf_reserve);
	r += bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ringbuf_output);
	r += bpf_core_enum_value(enum bpf_func_id___x, BPF_FUNC_ringbuf_reserve___x);
	r += bpf_core_enum_value_exists(enum bpf_func_id___x, BPF_FUNC_does_not_exist___x);
	r += bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_HV);
	r += bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_MAX);
	r += bpf_core_enum_value(enum hmm_pfn_flags, HMM_PFN_VALID);
	r += bpf_core_enum_value_exists(enum netdev_priv_flags, IFF_CHANGE_PROTO_DOWN);
	r += bpf_core_enum_value(enum netdev_priv_flags, IFF_BONDING);
	return r;
}

SEC("kprobe/types")
int types(struct pt_regs *ctx)
{
	long r = 0;

	r += bpf_core_type_exists(struct task_struct);
	r += bpf_core_type_exists(struct not_in_any_kernel);
	r += bpf_core_type_exists(struct not_in_any_kernel___v2);
	r += bpf_core_type_exists(union task_struct___u);
	r += bpf_core_type_size(struct task_struct);
	r += bpf_core_type_size(struct not_in_any_kernel);
	r += bpf_core_type_size(pte_t);
	r += bpf_core_type_size(my_task_t);
	r += bpf_core_type_id_kernel(struct task_struct);
	r += bpf_core_type_id_kernel(struct task_struct___o);
	r += bpf_core_type_id_local(struct task_struct___o);
	r += bpf_core_type_matches(struct rlimit___a);
	r += bpf_core_type_matches(struct list_head___m);
	r += bpf_core_type_matches(struct list_head);
	r += bpf_core_type_matches(atomic_t);
	r += bpf_core_type_matches(enum bpf_func_id___x);
	r += bpf_core_type_exists(pid_t);
	r += bpf_core_type_exists(my_task_t);
	return r;
}

SEC("kprobe/typedefs")
int typedefs(struct pt_regs *ctx)
{
	pte_t *p = (void *)PT_REGS_PARM1(ctx);
	my_task_t *t = (void *)PT_REGS_PARM2(ctx);
	atomic_t *a = (void *)PT_REGS_PARM3(ctx);
	long r = 0;

	r += BPF_CORE_READ(p, pte);
	r += BPF_CORE_READ(a, counter);
	r += bpf_core_field_exists(t->pid);
	return r;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(direct, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct task_struct___l *l = (void *)next;
	long r = prev->pid + next->tgid + prev->mm->arg_start;

	r += l->flags;
	if (bpf_core_field_exists(l->pid))
		r += l->pid;
	return r;
}

char LICENSE[] SEC("license") = "GPL";
