// Field, type and enum information: bpf_core_field_*, bpf_core_type_*, bpf_core_enum_value*,
// bpf_core_cast and the __builtin_preserve_* builtins written out.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#ifndef bpf_core_cast
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
#define bpf_core_cast(ptr, type) ((type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))
#endif

struct task_struct___o {
	volatile long state;
} __attribute__((preserve_access_index));

enum bpf_func_id___x {
	BPF_FUNC_ringbuf_reserve___x = 131,
	BPF_FUNC_user_ringbuf_drain___x = 209,
};

typedef struct mm_struct mm_t;

long out[64];

SEC("tp_btf/sched_switch")
int BPF_PROG(field_info, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct mm_struct *mm;

	out[0] = bpf_core_field_exists(prev->__state);
	out[1] = bpf_core_field_exists(struct task_struct___o, state);
	out[2] = bpf_core_field_size(prev->comm);
	out[3] = bpf_core_field_size(struct task_struct, pid);
	out[4] = bpf_core_field_offset(next->real_parent);
	out[5] = bpf_core_field_offset(struct sock, __sk_common.skc_family);
	out[6] = bpf_core_field_exists(prev->mm->arg_start);
	out[7] = bpf_core_type_exists(struct task_struct___o);
	out[8] = bpf_core_type_size(struct task_struct);
	out[9] = bpf_core_type_matches(struct task_struct___o);
	out[10] = bpf_core_type_id_local(struct task_struct___o);
	out[11] = bpf_core_type_id_kernel(struct task_struct);
	out[12] = bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ringbuf_reserve);
	out[13] = bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_map_lookup_elem);
	out[14] = bpf_core_type_exists(mm_t);
	out[15] = __builtin_preserve_field_info(prev->flags, BPF_FIELD_SIGNED);
	out[16] = __builtin_preserve_field_info(next->pid, BPF_FIELD_LSHIFT_U64);
	out[17] = __builtin_preserve_field_info(next->tgid, 5);
	out[18] = __builtin_preserve_type_info(*(struct sock *)0, BPF_TYPE_EXISTS);
	out[19] = __builtin_preserve_enum_value(*(enum bpf_func_id *)BPF_FUNC_probe_read,
						BPF_ENUMVAL_VALUE);
	out[20] = __builtin_btf_type_id(*(struct file *)0, BPF_TYPE_ID_TARGET);
	mm = bpf_core_cast(prev->mm, struct mm_struct);
	out[21] = mm->arg_start;
	out[22] = bpf_core_field_size(mm_t, arg_end);
	out[23] = bpf_core_enum_value_exists(enum bpf_func_id___x, BPF_FUNC_user_ringbuf_drain___x);
	out[24] = bpf_core_field_exists(struct task_struct, comm[1]);
	out[25] = bpf_core_type_size(struct folio);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct mm_struct.arg_start 0:0:37
//@ byte_off struct sock.__sk_common.skc_family 0:0:3
//@ byte_off struct task_struct.mm 0:58
//@ byte_off struct task_struct.real_parent 0:91
//@ byte_sz struct task_struct.comm 0:123
//@ byte_sz struct task_struct.pid 0:88
//@ byte_sz typedef mm_t.arg_end 0:0:38
//@ enumval_exists enum bpf_func_id::BPF_FUNC_ringbuf_reserve
//@ enumval_exists enum bpf_func_id___x::BPF_FUNC_user_ringbuf_drain___x
//@ enumval_value enum bpf_func_id::BPF_FUNC_map_lookup_elem
//@ enumval_value enum bpf_func_id::BPF_FUNC_probe_read
//@ field_exists struct mm_struct.arg_start 0:0:37
//@ field_exists struct task_struct.__state 0:1
//@ field_exists struct task_struct.comm[1] 0:123:1
//@ field_exists struct task_struct___o.state 0:0
//@ local_type_id struct task_struct___o
//@ lshift_u64 struct task_struct.pid 0:88
//@ rshift_u64 struct task_struct.tgid 0:89
//@ signed struct task_struct.flags 0:5
//@ target_type_id struct file
//@ target_type_id struct mm_struct
//@ target_type_id struct task_struct
//@ type_exists struct sock
//@ type_exists struct task_struct___o
//@ type_exists typedef mm_t
//@ type_matches struct task_struct___o
//@ type_size struct folio
//@ type_size struct task_struct
