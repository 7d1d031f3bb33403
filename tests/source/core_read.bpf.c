// BPF_CORE_READ and bpf_core_read in all their forms.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define ORIG tuplehash[IP_CT_DIR_ORIGINAL].tuple

typedef struct task_struct task_t;

long out[64];
char buf[64];

SEC("kprobe/do_exit")
int core_read(struct pt_regs *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	task_t *tt = (task_t *)t;
	struct sock *sk = (struct sock *)ctx->si;
	struct nf_conn *ct = (struct nf_conn *)ctx->dx;
	struct file *f;

	out[0] = BPF_CORE_READ(t, pid);
	out[1] = BPF_CORE_READ(t, real_parent, tgid);
	out[2] = BPF_CORE_READ(t, mm, exe_file, f_inode, i_ino);
	out[3] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	out[4] = BPF_CORE_READ(ct, ORIG.dst.u3.ip);
	out[5] = BPF_CORE_READ(t, comm[2]);
	out[6] = BPF_CORE_READ(tt, tgid);
	out[7] = BPF_CORE_READ(sk, sk_socket, file, f_path.dentry, d_name.len);
	BPF_CORE_READ_INTO(&out[8], t, group_leader, pid);
	BPF_CORE_READ_STR_INTO(buf, t, mm, exe_file, f_path.dentry, d_iname);
	out[9] = BPF_CORE_READ_USER(t, mm, arg_start);
	BPF_CORE_READ_USER_INTO(&out[10], t, mm, env_start);
	BPF_CORE_READ_USER_STR_INTO(buf, t, mm, exe_file, f_path.dentry, d_iname);
	out[11] = BPF_PROBE_READ(t, parent, flags);
	BPF_PROBE_READ_INTO(&out[12], t, signal, nr_threads);
	bpf_core_read(&out[13], sizeof(out[13]), &t->start_time);
	bpf_core_read(&f, sizeof(f), &t->mm->exe_file);
	out[14] = (long)f;
	bpf_core_read_str(buf, sizeof(buf), &t->comm);
	bpf_core_read_user(&out[15], 8, &t->mm->arg_end);
	bpf_core_read_user_str(buf, sizeof(buf), &t->comm[1]);
	out[16] = BPF_CORE_READ(t, cred, euid.val);
	out[17] = BPF_CORE_READ(t, nsproxy, pid_ns_for_children, level);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// Relocations clang 16 emits for this file (checked by tests/test_source_oracle.py):
//@ byte_off struct cred.euid.val 0:5:0
//@ byte_off struct dentry.d_iname 0:6
//@ byte_off struct dentry.d_name.len 0:4:0:0:1
//@ byte_off struct file.f_inode 0:6
//@ byte_off struct file.f_path.dentry 0:10:1
//@ byte_off struct inode.i_ino 0:11
//@ byte_off struct mm_struct.arg_end 0:0:38
//@ byte_off struct mm_struct.arg_start 0:0:37
//@ byte_off struct mm_struct.env_start 0:0:39
//@ byte_off struct mm_struct.exe_file 0:0:50
//@ byte_off struct nf_conn.tuplehash[0].tuple.dst.u3.ip 0:4:0:1:1:0:1
//@ byte_off struct nsproxy.pid_ns_for_children 0:4
//@ byte_off struct pid_namespace.level 0:5
//@ byte_off struct pt_regs.dx 0:12
//@ byte_off struct pt_regs.si 0:13
//@ byte_off struct signal_struct.nr_threads 0:2
//@ byte_off struct sock.__sk_common.skc_daddr 0:0:0:1:0
//@ byte_off struct sock.sk_socket 0:26
//@ byte_off struct socket.file 0:3
//@ byte_off struct task_struct.comm 0:123
//@ byte_off struct task_struct.comm[1] 0:123:1
//@ byte_off struct task_struct.comm[2] 0:123:2
//@ byte_off struct task_struct.cred 0:121
//@ byte_off struct task_struct.flags 0:5
//@ byte_off struct task_struct.group_leader 0:95
//@ byte_off struct task_struct.mm 0:58
//@ byte_off struct task_struct.nsproxy 0:132
//@ byte_off struct task_struct.parent 0:92
//@ byte_off struct task_struct.pid 0:88
//@ byte_off struct task_struct.real_parent 0:91
//@ byte_off struct task_struct.signal 0:133
//@ byte_off struct task_struct.start_time 0:113
//@ byte_off struct task_struct.tgid 0:89
//@ byte_off typedef task_t.tgid 0:89
