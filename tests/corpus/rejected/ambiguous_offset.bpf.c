// Two kernel types share the name 'struct d_partition' (block/partitions: the BSD and the Sun
// label) with 'p_offset' at different offsets: libbpf refuses the relocation on every kernel
// ("field offset ambiguity"). The earlier relocations are still judged.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

SEC("kprobe/read_partition") // expect: attach-target-unverified
int BPF_KPROBE(on_partition, struct d_partition *part)
{
    struct task_struct *task = (void *)bpf_get_current_task();
    int pid = BPF_CORE_READ(task, pid);
    __u8 fstype = BPF_CORE_READ(part, p_fstype); // expect: ambiguous-flavors@5.10-amd64,6.1-amd64,6.12-amd64
    bpf_printk("%d %u", pid, fstype);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
