// Existence checks guarding accesses: if/else, ?:, &&/||, early return, helpers, variables.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));
struct task_struct___x { unsigned int __state; } __attribute__((preserve_access_index));

struct mm_struct___old {
	struct vm_area_struct *mmap;
} __attribute__((preserve_access_index));

struct folio___x {
	struct address_space *mapping;
} __attribute__((preserve_access_index));

long out[64];

static __always_inline __s64 get_task_state(void *task) {
    struct task_struct___x *t = task;
    if (bpf_core_field_exists(t->__state))
        return BPF_CORE_READ(t, __state);
    return BPF_CORE_READ((struct task_struct___o *)task, state);
}

static bool has_old_state(void)
{
	return bpf_core_field_exists(struct task_struct___o, state);
}

static __always_inline long old_mmap_start(struct mm_struct *mm)
{
	struct mm_struct___old *old = (void *)mm;

	if (!bpf_core_field_exists(old->mmap))
		return 0;
	return BPF_CORE_READ(old, mmap, vm_start);
}

static __always_inline long folio_flags(void *p)
{
	return bpf_core_type_exists(struct folio___x) ?
		       (long)BPF_CORE_READ((struct folio___x *)p, mapping) : -1;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(guards, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	bool has_new = bpf_core_field_exists(struct task_struct___x, __state);

	out[0] = get_task_state(prev);
	if (has_old_state())
		out[1] = BPF_CORE_READ((struct task_struct___o *)next, state);
	else
		out[1] = BPF_CORE_READ((struct task_struct___x *)next, __state);
	out[2] = old_mmap_start(prev->mm);
	out[3] = folio_flags(prev->stack);
	if (has_new && preempt)
		out[4] = ((struct task_struct___x *)prev)->__state;
	if (!bpf_core_field_exists(struct task_struct___x, __state) ||
	    bpf_core_type_matches(struct task_struct___o))
		out[5] = BPF_CORE_READ((struct task_struct___o *)prev, state);
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_user_ringbuf_drain))
		out[7] = bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_user_ringbuf_drain);
	if (!bpf_core_type_exists(struct folio___x))
		return 0;
	out[6] = (long)BPF_CORE_READ((struct folio___x *)next->stack, mapping);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct folio___x.mapping 0:0
//@ byte_off struct mm_struct___old.mmap 0:0
//@ byte_off struct task_struct.mm 0:58
//@ byte_off struct task_struct.stack 0:3
//@ byte_off struct task_struct___o.state 0:0
//@ byte_off struct task_struct___x.__state 0:0
//@ byte_off struct vm_area_struct.vm_start 0:0:0:0
//@ enumval_exists enum bpf_func_id::BPF_FUNC_user_ringbuf_drain
//@ enumval_value enum bpf_func_id::BPF_FUNC_user_ringbuf_drain
//@ field_exists struct mm_struct___old.mmap 0:0
//@ field_exists struct task_struct___o.state 0:0
//@ field_exists struct task_struct___x.__state 0:0
//@ type_exists struct folio___x
//@ type_matches struct task_struct___o
