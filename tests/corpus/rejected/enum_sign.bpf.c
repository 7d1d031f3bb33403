// X86_PF_RMP = 0x80000000 is an unsigned 32-bit enumerator (6.12 only). Clang emits
// 2147483648, libbpf sign-extends 32-bit enum values and expects 0xffffffff80000000: the
// load fails on 6.12 ("unexpected insn (LDIMM64) value"), guard or no guard. The same
// enumerator declared with its negative value in a local flavor loads everywhere.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

enum x86_pf_error_code___s { X86_PF_RMP___s = -2147483648 };

SEC("raw_tp/page_fault_user")
int on_fault(void *ctx)
{
    __u32 rmp = 0;
    if (bpf_core_enum_value_exists(enum x86_pf_error_code___s, X86_PF_RMP___s))
        rmp = bpf_core_enum_value(enum x86_pf_error_code___s, X86_PF_RMP___s);
    __u64 pk = bpf_core_enum_value(enum x86_pf_error_code, X86_PF_PK);
    __u64 bad = bpf_core_enum_value(enum x86_pf_error_code, X86_PF_RMP); // expect: enum-sign-extension@6.12-amd64 // expect: enum-value-missing@5.10-amd64,6.1-amd64
    bpf_printk("%u %llu %llu", rmp, pk, bad);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
