// C's translation phases: splices first, then each comment is one space (a block comment that
// spans lines continues a directive), strings and character literals read whole.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define SLOTS 4 /* how many values a key keeps, a comment
                   on two lines */ /* and one more */
struct value {
	__u32 pids[SLOTS];
	__u64 start;
};

#define PREFIX "/* not a comment"
#define QUOTE '"'
struct old_task { int pid; } __attribute__((preserve_access_index));

#define PAR\
ENT real_par\
ent
/* before the directive */ #define WHICH 2

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct value);
} values SEC(".maps");

SEC("tp_btf/sched_process_fork")
int on_fork(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf(); // expect: helper-missing@5.10-amd64
	struct value v = {};
	__u32 key = 0;

	v.pids[0] = BPF_CORE_READ(task, PARENT, pid);
#if WHICH /* the second
             form */ == 2 && SLOTS == 4
	v.pids[1] = BPF_CORE_READ(task, tgid);
#else
	v.pids[1] = BPF_CORE_READ(task, pid);
#endif
	// the next line is part of this comment \
	v.pids[2] = BPF_CORE_READ((struct old_task *)task, pid);
	v.start = BPF_CORE_READ(task, start_time) + sizeof(PREFIX) + QUOTE;
	bpf_map_update_elem(&values, &key, &v, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
