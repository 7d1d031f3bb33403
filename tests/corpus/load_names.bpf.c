// What programs name in the kernel beside their CO-RE relocations: attach targets, program
// macro arguments, helpers (guarded by an existence check, or by a value the loader sets), map
// types, and the probe-read helpers libbpf falls back from.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

const volatile bool use_loop = false;

struct {
    __uint(type, BPF_MAP_TYPE_USER_RINGBUF); // expect: map-type-missing@5.10-amd64
    __uint(max_entries, 4096);
} user_events SEC(".maps");

static long count(__u64 i, void *ctx)
{
    return 0;
}

SEC("fentry/tcp_connect")
int BPF_PROG(on_connect, struct sock *sk)
{
    if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop))
        bpf_loop(4, count, NULL, 0);
    if (use_loop)
        bpf_loop(4, count, NULL, 0); // expect: depends-on-config@5.10-amd64
    bpf_loop(4, count, NULL, 0); // expect: helper-missing@5.10-amd64
    return 0;
}

SEC("fexit/tcp_close")
int BPF_PROG(on_close, struct sock *sk, long timeout)
{
    __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    __u16 again = 0;
    bpf_probe_read_kernel(&again, sizeof(again), &sk->__sk_common.skc_family);
    return family + again + timeout;
}

SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(on_send)
{
    return bpf_get_smp_processor_id() > 0;
}

char LICENSE[] SEC("license") = "GPL";
