// Less common shapes: attributes through macros, BPF_CORE_WRITE_BITFIELD, typeof, loops,
// switch, goto, statement expressions, locals of relocatable types.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define __pai __attribute__((preserve_access_index))
#define __my_inline static inline __attribute__((always_inline))

#ifndef BPF_CORE_WRITE_BITFIELD
#define BPF_CORE_WRITE_BITFIELD(s, field, new_val) ({                   \
	void *p = (void *)s + __CORE_RELO(s, field, BYTE_OFFSET);       \
	unsigned int byte_size = __CORE_RELO(s, field, BYTE_SIZE);      \
	unsigned int lshift = __CORE_RELO(s, field, LSHIFT_U64);        \
	unsigned int rshift = __CORE_RELO(s, field, RSHIFT_U64);        \
	unsigned long long mask, val, nval = new_val;                   \
	unsigned int rpad = rshift - lshift;                            \
									\
	asm volatile("" : "+r"(p));                                     \
									\
	switch (byte_size) {                                            \
	case 1: val = *(unsigned char *)p; break;                       \
	case 2: val = *(unsigned short *)p; break;                      \
	case 4: val = *(unsigned int *)p; break;                        \
	case 8: val = *(unsigned long long *)p; break;                  \
	}                                                               \
									\
	mask = (~0ULL << rshift) >> lshift;                             \
	val = (val & ~mask) | ((nval << rpad) & mask);                  \
									\
	switch (byte_size) {                                            \
	case 1: *(unsigned char *)p      = val; break;                  \
	case 2: *(unsigned short *)p     = val; break;                  \
	case 4: *(unsigned int *)p       = val; break;                  \
	case 8: *(unsigned long long *)p = val; break;                  \
	}                                                               \
})
#endif

struct flags___x {
	unsigned int kind : 4;
	unsigned int level : 12;
	int id;
} __pai;

struct counters___x {
	long hits;
	long misses;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, int);
	__type(value, struct flags___x);
} flags_map SEC(".maps");

long out[16];

__my_inline long walk_children(struct task_struct *t)
{
	long n = 0;
	struct task_struct *c = t;

	for (int i = 0; i < 4 && c; i++) {
		n += BPF_CORE_READ(c, pid);
		c = BPF_CORE_READ(c, real_parent);
	}
	return n;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(misc, struct task_struct *parent, struct task_struct *child)
{
	int key = 0;
	struct flags___x *f = bpf_map_lookup_elem(&flags_map, &key);
	typeof(child->real_parent) rp = child->real_parent;
	struct task_struct *pick = parent->pid > 1 ? parent : child;
	long v = ({ long tmp = pick->tgid; tmp * 2; });

	if (!f)
		goto out;
	BPF_CORE_WRITE_BITFIELD(f, level, 7);
	out[0] = f->id;
	switch (child->prio) {
	case 0:
		out[1] = child->static_prio;
		break;
	default:
		out[1] = child->normal_prio;
	}
	while (v > 100)
		v -= rp->exit_code;
	out[2] = v + walk_children(child);
out:
	out[3] = child->rt_priority;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct flags___x.id 0:2
//@ byte_off struct flags___x.level 0:1
//@ byte_off struct task_struct.exit_code 0:62
//@ byte_off struct task_struct.normal_prio 0:17
//@ byte_off struct task_struct.pid 0:88
//@ byte_off struct task_struct.prio 0:15
//@ byte_off struct task_struct.real_parent 0:91
//@ byte_off struct task_struct.rt_priority 0:18
//@ byte_off struct task_struct.static_prio 0:16
//@ byte_off struct task_struct.tgid 0:89
//@ byte_sz struct flags___x.level 0:1
//@ lshift_u64 struct flags___x.level 0:1
//@ rshift_u64 struct flags___x.level 0:1
