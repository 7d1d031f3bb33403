// The program's own types: flavors, nesting, bit-fields, packing, arrays, function pointers,
// typedefs, enums and a `#pragma clang attribute` region. Their layout must be clang's.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct bits___x {
	unsigned int a : 3, b : 5;
	unsigned long c : 40;
	int : 0;
	char d;
	long long e : 7;
	short f : 12;
	unsigned char g : 1;
} __attribute__((preserve_access_index));

struct __attribute__((packed)) packed___x {
	char a;
	int b;
	short c : 4;
	long d;
};

struct nested___x {
	int kind;
	union {
		struct {
			short lo;
			short hi;
		};
		int both;
	};
	struct {
		char tag[3];
		long value;
	} inner;
	struct list_head node;
	int (*cb)(struct nested___x *self, long arg);
	char grid[2][3];
	void *ptrs[4];
	unsigned int tail[];
} __attribute__((preserve_access_index));

typedef struct {
	unsigned short port;
	unsigned char proto;
} __attribute__((preserve_access_index)) anon_key_t;

enum level___x { LOW___x = -1, MID___x = 1 << 4, HIGH___x = 0x7fffffff };
enum big___x { HUGE___x = 0x100000000ULL };

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct pushed___x {
	long x;
	__u8 y;
	__u64 z __attribute__((aligned(16)));
};
#pragma clang attribute pop

struct aligned___x {
	char c;
} __attribute__((aligned(8)));

struct bits___x g_bits;
struct packed___x g_packed;
struct nested___x g_nested;
anon_key_t g_key;
enum level___x g_level;
enum big___x g_big;
struct pushed___x g_pushed;
struct aligned___x g_aligned;
long out[16];

SEC("raw_tp/sys_enter")
int local_types(void *ctx)
{
	struct nested___x *n = (void *)bpf_get_current_task();
	struct pushed___x *p = (void *)n;
	anon_key_t *k = (void *)n;

	out[0] = BPF_CORE_READ_BITFIELD_PROBED(&g_bits, c);
	out[1] = BPF_CORE_READ(n, hi);
	out[2] = BPF_CORE_READ(n, inner.value);
	out[3] = (long)BPF_CORE_READ(n, node.next, prev);
	out[4] = n->grid[1][2];
	out[5] = (long)n->ptrs[3];
	out[6] = p->z + p->y;
	out[7] = k->proto;
	out[8] = bpf_core_enum_value(enum level___x, HIGH___x);
	out[9] = bpf_core_field_offset(struct nested___x, tail);
	out[10] = BPF_CORE_READ_BITFIELD(&g_bits, f);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct bits___x.c 0:2
//@ byte_off struct bits___x.f 0:5
//@ byte_off struct list_head.prev 0:1
//@ byte_off struct nested___x.grid[1] 0:5:1
//@ byte_off struct nested___x.hi 0:1:0:1
//@ byte_off struct nested___x.inner.value 0:2:1
//@ byte_off struct nested___x.node.next 0:3:0
//@ byte_off struct nested___x.ptrs[3] 0:6:3
//@ byte_off struct nested___x.tail 0:7
//@ byte_off struct pushed___x.y 0:1
//@ byte_off struct pushed___x.z 0:2
//@ byte_off typedef anon_key_t.proto 0:1
//@ byte_sz struct bits___x.c 0:2
//@ byte_sz struct bits___x.f 0:5
//@ enumval_value enum level___x::HIGH___x
//@ lshift_u64 struct bits___x.c 0:2
//@ lshift_u64 struct bits___x.f 0:5
//@ rshift_u64 struct bits___x.c 0:2
//@ rshift_u64 struct bits___x.f 0:5
//@ signed struct bits___x.c 0:2
//@ signed struct bits___x.f 0:5
