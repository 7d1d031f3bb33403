"""Kernel types for the editor commands "show kernel type" and "compare type across kernels":
list a kernel's named types, render one as C.

Pure functions over :class:`~bpfls.project.kernels.KernelSet`; the LSP exposes them as the
``bpfls.listKernels``, ``bpfls.listTypes`` and ``bpfls.renderType`` commands.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from bpfls.analysis.kernelindex import index_of, with_prefix
from bpfls.btf import BtfError
from bpfls.btf.btf import find_by_spec
from bpfls.btf.dump_c import render_c

if TYPE_CHECKING:
    from bpfls.btf import Btf
    from bpfls.project.kernels import KernelSet

TYPE_KINDS = ("struct", "union", "enum", "typedef")


class TypeViewError(Exception):
    """An unknown kernel or type (one line, shown to the user)."""


def list_kernels(kernels: KernelSet, loading: frozenset[str] = frozenset()) -> list[dict]:
    """Every configured kernel in configuration order: name, path, primary, loaded, error
    (``loading``: names still being loaded, reported without an error)."""
    out = []
    for k in kernels:
        out.append({"name": k.name, "path": k.path, "primary": k.name == kernels.primary,
                    "loaded": k.ok,
                    "error": None if k.ok or k.name in loading else k.error})
    return out


def _btf(kernels: KernelSet, kernel: str) -> Btf:
    k = kernels.get(kernel)
    if k is None:
        names = ", ".join(x.name for x in kernels) or "none"
        raise TypeViewError(f"unknown kernel {kernel!r} (configured: {names})")
    if k.btf is None:
        raise TypeViewError(f"kernel {kernel!r} is not loaded: {k.error or 'still loading'}")
    return k.btf


def list_types(kernels: KernelSet, kernel: str, prefix: str = "",
               limit: int | None = None) -> list[str]:
    """The named structs, unions, enums and typedefs of ``kernel`` whose name starts with
    ``prefix`` (case-sensitive), spelled ``struct task_struct``, sorted by the bare name."""
    idx = index_of(_btf(kernels, kernel))
    cap = limit if limit is not None and limit >= 0 else 1 << 30
    streams = []
    for kind in TYPE_KINDS:
        names, _ = with_prefix(idx.names(kind), prefix, cap)
        streams.append([(n, kind) for n in names])
    out: list[str] = []
    for name, kind in heapq.merge(*streams):
        if len(out) >= cap:
            break
        out.append(f"{kind} {name}")
    return out


def render_type(kernels: KernelSet, kernel: str, name: str) -> str:
    """The C definition of ``name`` (``struct task_struct`` or a bare ``task_struct``) in
    ``kernel``, with the names as the kernel has them."""
    btf = _btf(kernels, kernel)
    try:
        t = find_by_spec(btf, name)
        if t is None:
            raise TypeViewError(f"no type {name!r} in kernel {kernel!r}")
        return render_c(btf, t, real_names=True)
    except BtfError as e:
        raise TypeViewError(f"kernel {kernel!r}: {e}") from None
