"""The headers a program of ``tests/corpus/`` is built with (its ``//!`` lines).

``//! include: DIR`` puts ``corpus/DIR`` (the program's own headers) first on the include path;
``//! vmlinux: KERNEL`` builds it against that sample kernel's ``vmlinux.h`` instead of the
primary's (with the primary left to the default, so that the header picks it). Beside each
``vmlinux.h`` is ``vmlinux_generated_x86.h``: the same dump under another include guard, with
the ``__ksym`` and kfunc-prototype trailer newer bpftool writes.
"""

from __future__ import annotations

import re
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
DIRECTIVE = re.compile(r"^//!\s*(?P<key>[\w-]+):\s*(?P<value>\S+)\s*$", re.M)
#: what newer bpftool appends to a dump (kept out of its fingerprint)
TRAILER = """
#ifndef __ksym
#define __ksym __attribute__((section(".ksyms")))
#endif

#ifndef __weak
#define __weak __attribute__((weak))
#endif

#ifndef BPF_NO_KFUNC_PROTOTYPES
#define BPF_NO_KFUNC_PROTOTYPES
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __weak __ksym;
extern void bpf_task_release(struct task_struct *p) __weak __ksym;
#endif
"""


def directives(prog: Path) -> dict[str, str]:
    return {m["key"]: m["value"] for m in DIRECTIVE.finditer(prog.read_text())}


def write_headers(inc: Path, dump: str) -> Path:
    """``inc/vmlinux.h`` (``dump``: a kernel's ``format c`` header) and its renamed copy."""
    inc.mkdir(parents=True, exist_ok=True)
    (inc / "vmlinux.h").write_text(dump)
    guarded = dump.replace("__VMLINUX_H__", "__VMLINUX_GENERATED_X86_H__")
    end = guarded.rindex("#endif")
    (inc / "vmlinux_generated_x86.h").write_text(guarded[:end] + TRAILER + guarded[end:])
    return inc


def include_dirs(prog: Path, vmlinux_dir) -> list[Path]:
    """The program's include path in search order; ``vmlinux_dir(kernel)`` gives the
    directory of a kernel's headers (``None``: the primary's)."""
    d = directives(prog)
    own = [CORPUS / d["include"]] if "include" in d else []
    return own + [vmlinux_dir(d.get("vmlinux"))]


def chooses_primary(prog: Path) -> bool:
    """Does the program's vmlinux.h choose its primary kernel (``//! vmlinux:``)?"""
    return "vmlinux" in directives(prog)
