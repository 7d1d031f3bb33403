// Conditional compilation, configured defines, local headers.
//! flags: -DWITH_PARENT=2
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.h"
#include "common.h"

#define LEVEL 3
#define FEATURE(x) (LEVEL >= (x))

long out[MAX_ENTRIES * 4];

SEC("raw_tp/sched_process_exec")
int preproc(void *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

#if defined(WITH_PARENT) && WITH_PARENT > 1
	out[0] = PARENT_PID(t);
#else
	out[0] = BPF_CORE_READ(t, group_leader, tgid);
#endif
#ifdef __BPF__
	out[1] = cgroup_id_of(t);
#endif
#if FEATURE(2) && !defined(__x86_64__)
	out[2] = BPF_CORE_READ(t, utime);
#elif FEATURE(1)
	out[2] = BPF_CORE_READ(t, stime);
#endif
#ifndef __TARGET_ARCH_x86
	out[3] = BPF_CORE_READ(t, nvcsw);
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && __has_include(<bpf/bpf_tracing.h>)
	out[4] = BPF_CORE_READ(t, nivcsw);
#endif
#if 0
	out[5] = BPF_CORE_READ(t, no_such_member);
#endif
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct cgroup___local.kn 0:0
//@ byte_off struct css_set.dfl_cgrp 0:3
//@ byte_off struct kernfs_node.id 0:10
//@ byte_off struct task_struct.cgroups 0:172
//@ byte_off struct task_struct.nivcsw 0:112
//@ byte_off struct task_struct.real_parent 0:91
//@ byte_off struct task_struct.tgid 0:89
//@ byte_off struct task_struct.utime 0:105
