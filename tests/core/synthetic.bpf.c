// CO-RE relocations against hand-built target BTF (see test_core_oracle.py: synthetic_target),
// for what no real kernel shows: ambiguity, pruning, flexible arrays, enum sign extension,
// wide bitfields, deep nesting. Compiled once per CASE: libbpf stops at the first hard error,
// so each erroring case is its own object (CASE 0 has no hard error).
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define PAI __attribute__((preserve_access_index))
#ifndef CASE
#define CASE 0
#endif

#if CASE == 0
/* anonymous members on one side only */
struct flat { int a; int c; } PAI;
struct nest { union { struct { int a; }; long b; }; int c; } PAI;
/* struct vs union below the root; void * vs struct pointer */
struct inner { int x; int y; } PAI;
struct mix { struct inner in; void *vp; struct inner *sp; } PAI;
/* pruning: the first relocation of each local root decides */
struct pr___l1 { int x; int y; } PAI;
struct pr___l2 { int x; int y; } PAI;
/* two matching candidates at the same offset */
struct two { int x; } PAI;
/* flexible arrays */
struct fx { int n; int data[]; } PAI;
struct fx2 { int n; int data[]; } PAI;
struct fx3 { int n; int data[]; } PAI;
struct fx4 { int n; int data[]; } PAI;
/* multi-dimensional arrays and the root index */
struct arr { int a2[3][4]; char tail; } PAI;
/* bitfields: moved, resized, plain <-> bitfield, signed, enum bitfields */
enum sbe { SBE_A = -1, SBE_B = 1 };
struct bits {
	unsigned int a:3;
	int b:5;
	unsigned long long c:40;
	enum sbe e:4;
	int plain;
	unsigned short u;
} PAI;
/* field size and signedness changes */
struct sizes { int i; unsigned int u; char ch; long l; short s[4]; } PAI;
/* roots of other kinds */
struct tdroot { int a; } PAI;
typedef struct { int a; } td_t;
/* enums: sign extension, ENUM64, flavored enumerators */
enum sx { SX_BIG = 0x80000000u, SX_ONE = 1 };
enum e64 { E64_BIG = 0x1234567890ull, E64_NEG = 0xfffffffffffffff0ull };
enum fl___x { NEGV___x = -5, POSV___x = 7 };
enum only_local { OL_A = 1 };
/* type compatibility and matching */
struct opaque;
struct tm_a { unsigned int x; int *p; struct opaque *o; } PAI;
struct tm_b { unsigned long x; } PAI;
struct tm_c { int x; } PAI;
union tm_u { int x; } PAI;
enum tm_e { TM_A, TM_B };
typedef int (*fn_t)(int, long);
typedef int (*fn2_t)(int, long);
typedef double dbl_t;
struct opaque2 { int z; };
typedef struct opaque2 *op_t;
typedef int tint_t;

SEC("kprobe/anon")
int anon(void *ctx)
{
	struct flat *f = ctx;
	struct nest *n = ctx;
	struct mix *m = ctx;
	long r = 0;

	r += BPF_CORE_READ(f, a) + BPF_CORE_READ(f, c);
	r += BPF_CORE_READ(n, a) + BPF_CORE_READ(n, c);
	r += bpf_core_field_exists(n->b);
	r += BPF_CORE_READ(m, in.y);
	r += bpf_core_field_exists(m->vp) + bpf_core_field_exists(m->sp);
	r += bpf_core_field_size(m->in);
	return r;
}

SEC("kprobe/prune")
int prune(void *ctx)
{
	struct pr___l1 *p1 = ctx;
	struct pr___l2 *p2 = ctx;
	struct two *t = ctx;
	long r = 0;

	r += bpf_core_field_offset(p1->x);
	r += bpf_core_field_offset(p1->y);
	r += bpf_core_field_offset(p2->y);
	r += bpf_core_field_offset(p2->x);
	r += bpf_core_field_exists(t->x);
	r += bpf_core_field_offset(t->x);
	return r;
}

SEC("kprobe/flex")
int flex(void *ctx)
{
	struct fx *f = ctx;
	struct fx2 *f2 = ctx;
	struct fx3 *f3 = ctx;
	struct fx4 *f4 = ctx;
	struct arr *a = ctx;
	long r = 0;

	r += BPF_CORE_READ(f, data[3]);
	r += BPF_CORE_READ(f2, data[3]);
	r += BPF_CORE_READ(f3, data[3]);
	r += BPF_CORE_READ(f4, data[3]);
	r += bpf_core_field_size(f->data);
	r += bpf_core_field_size(f4->data);
	r += BPF_CORE_READ(a, a2[1][2]);
	r += bpf_core_field_size(a->a2[2]);
	r += bpf_core_field_offset(a[1].tail);
	r += bpf_core_field_exists(a->a2[2][3]);
	return r;
}

SEC("kprobe/bits")
int bits(void *ctx)
{
	struct bits *b = ctx;
	long r = 0;

	r += BPF_CORE_READ_BITFIELD_PROBED(b, a);
	r += BPF_CORE_READ_BITFIELD_PROBED(b, b);
	r += BPF_CORE_READ_BITFIELD_PROBED(b, c);
	r += BPF_CORE_READ_BITFIELD(b, e);
	r += BPF_CORE_READ_BITFIELD_PROBED(b, plain);
	r += __builtin_preserve_field_info(b->u, BPF_FIELD_LSHIFT_U64);
	r += __builtin_preserve_field_info(b->u, BPF_FIELD_RSHIFT_U64);
	return r;
}

SEC("kprobe/sizes")
int sizes(void *ctx)
{
	struct sizes *s = ctx;
	struct tdroot *t = ctx;
	td_t *td = ctx;
	long r = 0;

	r += bpf_core_field_size(s->i) + bpf_core_field_size(s->u) + bpf_core_field_size(s->ch);
	r += bpf_core_field_size(s->l) + bpf_core_field_size(s->s);
	r += __builtin_preserve_field_info(s->i, BPF_FIELD_SIGNED);
	r += __builtin_preserve_field_info(s->u, BPF_FIELD_SIGNED);
	r += __builtin_preserve_field_info(s->ch, BPF_FIELD_SIGNED);
	r += __builtin_preserve_field_info(s->l, BPF_FIELD_LSHIFT_U64);
	r += bpf_core_field_offset(s->s[2]);
	r += bpf_core_field_exists(t->a);
	r += bpf_core_field_offset(td->a);
	return r;
}

SEC("kprobe/enums")
int enums(void *ctx)
{
	long r = 0;

	r += bpf_core_enum_value(enum sx, SX_ONE);
	r += bpf_core_enum_value(enum e64, E64_BIG);
	r += bpf_core_enum_value(enum e64, E64_NEG);
	r += bpf_core_enum_value(enum fl___x, NEGV___x);
	r += bpf_core_enum_value_exists(enum fl___x, POSV___x);
	r += bpf_core_enum_value(enum fl___x, POSV___x);
	r += bpf_core_enum_value_exists(enum only_local, OL_A);
	r += bpf_core_enum_value(enum only_local, OL_A);
	return r;
}

SEC("kprobe/types")
int types(void *ctx)
{
	long r = 0;

	r += bpf_core_type_matches(struct tm_b);
	r += bpf_core_type_matches(struct tm_c);
	r += bpf_core_type_matches(union tm_u);
	r += bpf_core_type_matches(enum tm_e);
	r += bpf_core_type_matches(fn_t);
	r += bpf_core_type_exists(fn_t);
	r += bpf_core_type_exists(fn2_t);
	r += bpf_core_type_exists(dbl_t);
	r += bpf_core_type_exists(tint_t);
	r += bpf_core_type_size(tint_t);
	r += bpf_core_type_exists(td_t);
	r += bpf_core_type_size(struct tdroot);
	r += bpf_core_type_id_kernel(struct tm_c);
	r += bpf_core_type_exists(union tm_u);
	return r;
}

/* last: bpftool's min_core_btf cannot record a FWD it matched ("unsupported kind: fwd") and
 * stops there, after libbpf's verdict on the first of these */
SEC("kprobe/fwd")
int fwd(void *ctx)
{
	long r = 0;

	r += bpf_core_type_exists(op_t);
	r += bpf_core_type_matches(op_t);
	r += bpf_core_type_matches(struct tm_a);
	return r;
}
#endif

#if CASE == 1 /* field offset ambiguity */
struct amb { int x; } PAI;
SEC("kprobe/c1") int c1(void *ctx) { struct amb *a = ctx; return BPF_CORE_READ(a, x); }
#endif
#if CASE == 2 /* relocation decision ambiguity: same offset, different sizes */
struct dec { int x; } PAI;
SEC("kprobe/c2") int c2(void *ctx) { struct dec *d = ctx; return bpf_core_field_size(d->x); }
#endif
#if CASE == 3 /* field_exists with candidates at different offsets is ambiguous too */
struct amb { int x; } PAI;
SEC("kprobe/c3") int c3(void *ctx) { struct amb *a = ctx; return bpf_core_field_exists(a->x); }
#endif
#if CASE == 4 /* target_type_id with two flavors in the target */
struct tid { int x; } PAI;
SEC("kprobe/c4") int c4(void *ctx) { return bpf_core_type_id_kernel(struct tid); }
#endif
#if CASE == 5 /* target bitfield that no load of 8 bytes covers */
struct wide { unsigned int f:8; } PAI;
SEC("kprobe/c5") int c5(void *ctx) { struct wide *w = ctx; return BPF_CORE_READ_BITFIELD_PROBED(w, f); }
#endif
#if CASE == 6 /* 'signed' on an array element */
struct arr6 { int a[4]; } PAI;
SEC("kprobe/c6") int c6(void *ctx) { struct arr6 *a = ctx; return __builtin_preserve_field_info(a->a[1], BPF_FIELD_SIGNED); }
#endif
#if CASE == 7 /* anonymous root */
SEC("kprobe/c7") int c7(void *ctx)
{
	struct { int a; int b; } PAI *p = ctx;
	return __builtin_preserve_field_info(p->b, BPF_FIELD_BYTE_OFFSET);
}
#endif
#if CASE == 8 /* target member 70 anonymous levels down */
struct deep { int leaf; } PAI;
SEC("kprobe/c8") int c8(void *ctx) { struct deep *d = ctx; return bpf_core_field_offset(d->leaf); }
#endif

#if CASE == 9 /* unsigned 32-bit enumerator with the top bit set: clang emits 2147483648,
		 * libbpf reads the target value as s32 and expects 0xffffffff80000000 */
enum sx { SX_BIG = 0x80000000u, SX_ONE = 1 };
SEC("kprobe/c9") int c9(void *ctx) { return bpf_core_enum_value(enum sx, SX_BIG) != 0; }
#endif

char LICENSE[] SEC("license") = "GPL";
