// Every BPF_CORE_READ* form, bpf_core_read*, direct access and nested anonymous members.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define ORIG tuplehash[IP_CT_DIR_ORIGINAL].tuple

struct event {
    __u32 pid;
    __u32 daddr;
    __u16 family;
    char comm[16];
    char name[32];
    __u64 args[3];
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 16);
} events SEC(".maps");

SEC("fentry/tcp_connect")
int BPF_PROG(on_connect, struct sock *sk)
{
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e)
        return 0;
    struct task_struct *task = bpf_get_current_task_btf(); // expect: helper-missing@5.10-amd64
    e->pid = BPF_CORE_READ(task, tgid);
    e->daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
    BPF_CORE_READ_INTO(&e->family, sk, __sk_common.skc_family);
    BPF_CORE_READ_STR_INTO(&e->comm, task, group_leader, comm);
    bpf_core_read(&e->args[0], sizeof(e->args[0]), &task->real_parent);
    bpf_core_read_str(e->name, sizeof(e->name), &task->mm->owner->comm);
    e->args[1] = BPF_CORE_READ(task, mm, arg_start);
    e->args[2] = sk->sk_rcvbuf;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("kprobe/nf_ct_delete") // expect: attach-target-unverified
int BPF_KPROBE(on_ct, struct nf_conn *ct)
{
    __u16 port = BPF_CORE_READ(ct, ORIG.dst.u.all);
    __u32 mark = BPF_CORE_READ(ct, mark);
    bpf_printk("%u %u", port, mark);
    return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_enter, struct pt_regs *regs, long id)
{
    struct task_struct *task = bpf_get_current_task_btf(); // expect: helper-missing@5.10-amd64
    unsigned long a2 = BPF_CORE_READ(regs, si);
    unsigned int psf = BPF_CORE_READ_BITFIELD_PROBED(task, sched_reset_on_fork);
    const char *argv0 = (const char *)BPF_CORE_READ(task, mm, arg_start);
    char buf[16];
    bpf_core_read_user_str(buf, sizeof(buf), argv0);
    bpf_printk("%lu %u %s", a2, psf, buf);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
