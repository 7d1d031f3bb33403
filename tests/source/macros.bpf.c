// User macros around CO-RE reads: object-like paths, function-like wrappers, aliases.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define READ_KERN(ptr)                                                                   \
	({                                                                               \
		typeof(ptr) _val;                                                        \
		__builtin_memset((void *)&_val, 0, sizeof(_val));                        \
		bpf_core_read((void *)&_val, sizeof(_val), &ptr);                        \
		_val;                                                                    \
	})
#define TASK_FIELD(t, f) BPF_CORE_READ(t, f)
#define SK_COMMON __sk_common
#define DPORT SK_COMMON.skc_dport
#define CORE_READ BPF_CORE_READ
#define GET_PARENT(t) ((t)->real_parent)
#define EXISTS(t, f) bpf_core_field_exists(t->f)

long out[16];

SEC("fentry/tcp_close")
int BPF_PROG(macros, struct sock *sk)
{
	struct task_struct *t = bpf_get_current_task_btf();

	out[0] = READ_KERN(t->pid);
	out[1] = TASK_FIELD(t, tgid);
	out[2] = BPF_CORE_READ(sk, DPORT);
	out[3] = CORE_READ(t, flags);
	out[4] = GET_PARENT(t)->pid;
	if (EXISTS(t, __state))
		out[5] = READ_KERN(t->__state);
	out[6] = sk->DPORT;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct sock.__sk_common.skc_dport 0:0:2:1:0
//@ byte_off struct task_struct.__state 0:1
//@ byte_off struct task_struct.flags 0:5
//@ byte_off struct task_struct.pid 0:88
//@ byte_off struct task_struct.real_parent 0:91
//@ byte_off struct task_struct.tgid 0:89
//@ field_exists struct task_struct.__state 0:1
