#ifndef COMMON_H
#define COMMON_H

#define MAX_ENTRIES 16
#define TASK_COMM_SIZE 16
#define PARENT_PID(t) BPF_CORE_READ(t, real_parent, tgid)

struct event {
	int pid;
	int ppid;
	char comm[TASK_COMM_SIZE];
	unsigned long long ts;
};

struct cgroup___local {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

static __always_inline long cgroup_id_of(struct task_struct *t)
{
	struct cgroup___local *cg = (void *)BPF_CORE_READ(t, cgroups, dfl_cgrp);

	return BPF_CORE_READ(cg, kn, id);
}

#endif
