"""Resolving every CO-RE relocation of a compiled BPF object, as libbpf would load it."""

from __future__ import annotations

import os
from collections.abc import Sequence

from bpfls.btf import Btf
from bpfls.core.ext import BtfExtInfo, ObjectRelo, read_ext
from bpfls.core.patch import check_insn
from bpfls.core.resolve import CoreResolver, Resolution


def resolve_object(obj: str | os.PathLike[str] | BtfExtInfo, target: Btf,
                   modules: Sequence[Btf] = (), *, patch: bool = True
                   ) -> list[tuple[ObjectRelo, Resolution]]:
    """Resolve the relocations of ``obj`` (a path or :func:`bpfls.core.ext.read_ext` result)
    on ``target`` in ``.BTF.ext`` order with libbpf's pruning.

    ``patch``: also apply the instruction checks of ``bpf_core_patch_insn``
    (:func:`bpfls.core.patch.check_insn`). Unlike libbpf, resolution goes on after a hard
    error, so every relocation gets a verdict; libbpf would stop at the first ``"error"``.
    """
    info = obj if isinstance(obj, BtfExtInfo) else read_ext(obj)
    resolver = CoreResolver(target, modules)
    out = []
    for o in info.relocations:
        res = resolver.resolve(o)
        insn = o.insn
        if patch and insn is not None:
            res = check_insn(res, insn)
        out.append((o, res))
    return out
