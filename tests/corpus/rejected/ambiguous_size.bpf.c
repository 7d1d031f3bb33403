// Two kernel types are named 'struct controller' (the PCIe and the SHPC hotplug drivers) with
// different sizes: bpf_core_type_size() has two answers, and libbpf refuses it on every kernel
// ("relocation decision ambiguity"), although bpf_core_type_exists() is fine.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

SEC("raw_tp/sys_enter")
int on_enter(void *ctx)
{
    if (!bpf_core_type_exists(struct controller)) // expect: constant-check
        return 0;
    bpf_printk("%u", bpf_core_type_size(struct controller)); // expect: ambiguous-flavors@5.10-amd64,6.1-amd64,6.12-amd64
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
