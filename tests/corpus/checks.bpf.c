// Type, enum and field checks; guards through &&, ?:, early return and static helpers.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct folio___new { unsigned long flags; } __attribute__((preserve_access_index));
struct cgroup___old { int level; u64 ancestor_ids[]; } __attribute__((preserve_access_index));
enum bpf_func_id___x { BPF_FUNC_ringbuf_reserve___x = 42, BPF_FUNC_user_ringbuf_drain___x = 43 };

static __always_inline bool has_ringbuf(void)
{
    return bpf_core_enum_value_exists(enum bpf_func_id___x, BPF_FUNC_ringbuf_reserve___x);
}

static __always_inline u64 cgroup_id_at(struct cgroup *cgrp, int level)
{
    if (bpf_core_field_exists(struct cgroup___old, ancestor_ids))
        return BPF_CORE_READ((struct cgroup___old *)cgrp, ancestor_ids[0]);
    struct cgroup *anc = BPF_CORE_READ(cgrp, ancestors[0]);
    return BPF_CORE_READ(anc, kn, id);
}

SEC("raw_tp/sched_process_exec")
int on_exec(void *ctx)
{
    struct task_struct *task = (void *)bpf_get_current_task();
    int sz = bpf_core_type_exists(struct folio___new) ? bpf_core_type_size(struct folio___new) : 0;
    u32 drain = bpf_core_enum_value_exists(enum bpf_func_id___x, BPF_FUNC_user_ringbuf_drain___x) &&
                bpf_core_enum_value(enum bpf_func_id___x, BPF_FUNC_user_ringbuf_drain___x);
    if (!has_ringbuf())
        return 0;
    u32 off = bpf_core_field_offset(struct task_struct, pid);
    u32 fsz = bpf_core_field_size(task->comm);
    u32 tid = bpf_core_type_id_kernel(struct task_struct);
    struct cgroup *cgrp = BPF_CORE_READ(task, cgroups, dfl_cgrp);
    u64 id = cgroup_id_at(cgrp, 0);
    bpf_printk("%d %u %u %u %u %llu", sz, drain, off, fsz, tid, id); // expect: helper-missing@5.10-amd64
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
