/* A project's own vmlinux.h: the kernel's dump (under another name, with its own include
 * guard and trailer), then definitions the project adds: flavors of types as older kernels
 * had them, and a member renamed by a macro. */
#ifndef __PROJECT_VMLINUX_H__
#define __PROJECT_VMLINUX_H__

#if defined(__TARGET_ARCH_x86)
#include "vmlinux_generated_x86.h"
#endif

/* task_struct before 5.14 */
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));

/* namespaces before 3.19 kept their inode number in proc_inum */
struct uts_namespace___v318 {
	unsigned int proc_inum;
} __attribute__((preserve_access_index));

/* the state member under the name this project uses */
#define task_run_state __state

#endif /* __PROJECT_VMLINUX_H__ */
