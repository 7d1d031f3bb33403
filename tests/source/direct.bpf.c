// Direct member accesses on types that carry preserve_access_index.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

long out[64];
int idx;

struct local_stats___x {
	int count;
	struct {
		long bytes;
		long packets;
	} rx;
	int hist[8];
} __attribute__((preserve_access_index));

static __always_inline long sum_hist(struct local_stats___x *s)
{
	return s->hist[1] + s->hist[idx] + s[1].count;
}

SEC("fentry/tcp_sendmsg")
int BPF_PROG(direct, struct sock *sk, struct msghdr *msg, size_t size)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct local_stats___x *st = (void *)msg;

	out[0] = t->pid;
	out[1] = t->real_parent->tgid;
	out[2] = sk->__sk_common.skc_dport;
	out[3] = t->comm[3];
	out[4] = (long)&t->files;
	out[5] = offsetof(struct task_struct, tgid);
	out[6] = (long)container_of(msg, struct task_struct, tasks);
	out[7] = (t + 1)->flags;
	out[8] = t->comm[idx];
	out[9] = st->rx.bytes;
	out[10] = sum_hist(st);
	out[11] = msg->msg_iter.count;
	out[12] = (*t).prio;
	out[13] = t->mm->mmap_base;
	out[14] = size + sk->sk_rcvbuf;
	st->count = 1;
	st->rx.packets += 2;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct local_stats___x.count 0:0
//@ byte_off struct local_stats___x.hist 0:2
//@ byte_off struct local_stats___x.hist[1] 0:2:1
//@ byte_off struct local_stats___x.rx.bytes 0:1:0
//@ byte_off struct local_stats___x.rx.packets 0:1:1
//@ byte_off struct local_stats___x[1].count 1:0
//@ byte_off struct mm_struct.mmap_base 0:0:2
//@ byte_off struct msghdr.msg_iter.count 0:3:4:1:1
//@ byte_off struct sock.__sk_common.skc_dport 0:0:2:1:0
//@ byte_off struct sock.sk_rcvbuf 0:17
//@ byte_off struct task_struct.comm 0:123
//@ byte_off struct task_struct.comm[3] 0:123:3
//@ byte_off struct task_struct.files 0:130
//@ byte_off struct task_struct.flags 0:5
//@ byte_off struct task_struct.mm 0:58
//@ byte_off struct task_struct.pid 0:88
//@ byte_off struct task_struct.prio 0:15
//@ byte_off struct task_struct.real_parent 0:91
//@ byte_off struct task_struct.tasks 0:55
//@ byte_off struct task_struct.tgid 0:89
