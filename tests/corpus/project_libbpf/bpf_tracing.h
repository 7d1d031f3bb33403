/* A project's own bpf_tracing.h, newer than the system's libbpf: it adds the sixth kprobe
 * argument (x86) on top of the system's header, as later libbpf versions do. Programs that
 * include "project_libbpf/bpf_tracing.h" get these macros, and so does bpfls. */
#ifndef PROJECT_BPF_TRACING_H
#define PROJECT_BPF_TRACING_H

#include <bpf/bpf_tracing.h>

#if defined(bpf_target_x86) && !defined(PT_REGS_PARM6)
#define PT_REGS_PARM6(x) (__PT_REGS_CAST(x)->r9)
#define PT_REGS_PARM6_CORE(x) BPF_CORE_READ(__PT_REGS_CAST(x), r9)
#define ___bpf_kprobe_args6(x, args...) ___bpf_kprobe_args5(args), (void *)PT_REGS_PARM6(ctx)
#endif
#define PROJECT_TRACING_VERSION 2

#endif
