// A function-like macro used as a statement with a type and a block as arguments
// (`RECORD(struct key4, { key.addr = ...; })`): tree-sitter cannot parse the invocation, so
// bpfls finds its end in the text, expands it and walks the expansion. The relocations of the
// block, of the macro's own body, and of the static function the body calls (reachable only
// through the macro) are all predicted.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct key4 {
    __u32 addr;
    __u16 port;
};

struct key6 {
    __u32 addr[4];
    __u16 port;
};

long out[4];

static int main_port(const struct sock *sk)
{
    return sk->__sk_common.skc_num;
}

#define RECORD(key_type, slot, fill)                      \
    key_type key = {};                                    \
                                                          \
    key.port = main_port(sk);                             \
    fill;                                                 \
    out[slot] += key.port + *(__u32 *)&key.addr + sk->sk_mark; \
    return 0;

static int record4(const struct sock *sk)
{
    RECORD(struct key4, 0, {
        key.addr = sk->__sk_common.skc_daddr;
    });
}

static int record6(const struct sock *sk)
{
    RECORD(struct key6, 1, {
        bpf_probe_read_kernel(&key.addr, sizeof(key.addr),
                              sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32);
    });
}

SEC("fentry/tcp_retransmit_skb")
int BPF_PROG(block_macro_arguments, struct sock *sk)
{
    if (sk->__sk_common.skc_family == 2)
        return record4(sk);
    return record6(sk);
}

char LICENSE[] SEC("license") = "GPL";
