"""The BTF engine: lazy, validated decoding of kernel, module and object BTF.

Entry point: :func:`load`. This package never imports the LSP stack. Its modules:

- reading: :mod:`~bpfls.btf.files` (raw, ELF and compressed files), :mod:`~bpfls.btf.btf` (the
  :class:`Btf` container and its lookups), :mod:`~bpfls.btf.model` (the typed view of a record),
  :mod:`~bpfls.btf.kinds`, :mod:`~bpfls.btf.nameindex` and :mod:`~bpfls.btf.cache` (the hashed
  name tables and the on-disk index), :mod:`~bpfls.btf.relocate` (module BTF over a distilled
  base), :mod:`~bpfls.btf.extract` (``.BTF`` out of kernel images and packages);
- writing: :mod:`~bpfls.btf.cnames` (C type names and declarators), :mod:`~bpfls.btf.dump_c`
  (bpftool's ``format c`` header), :mod:`~bpfls.btf.layout` (pahole's layout view),
  :mod:`~bpfls.btf.dump_json` (bpftool's raw and JSON dumps), :mod:`~bpfls.btf.diff`,
  :mod:`~bpfls.btf.dump_fingerprint` (is a header a kernel's ``format c`` dump?).
"""

from __future__ import annotations

import os

from bpfls.btf.btf import Btf
from bpfls.btf.errors import BtfError
from bpfls.btf.files import BtfBlob, blob_from_bytes, read_blob
from bpfls.btf.kinds import Kind
from bpfls.btf.model import ArrayInfo, EnumValue, Member, Param, Type, VarSecInfo
from bpfls.btf.relocate import relocate

__all__ = ["ArrayInfo", "Btf", "BtfError", "EnumValue", "Kind", "Member", "Param", "Type",
           "VarSecInfo", "load", "load_bytes"]


def load(path: str | os.PathLike[str], base: Btf | str | os.PathLike[str] | None = None, *,
         use_cache: bool = True) -> Btf:
    """Load BTF from ``path``: raw BTF, an ELF file's ``.BTF``, or a gzip/xz/zstd file of either.

    ``base`` (a :class:`Btf` or a path) makes ``path`` split BTF over it, as for kernel modules.
    A module ELF that carries a distilled base (``.BTF.base``) is read over that base when no
    ``base`` is given, and relocated onto ``base`` (as libbpf's ``btf__relocate`` does) when one
    is. ``use_cache`` allows the on-disk index cache (see :mod:`bpfls.btf.cache`).
    """
    p = os.fspath(path)
    blob = read_blob(p)
    if base is not None and not isinstance(base, Btf):
        base = load(base, use_cache=use_cache)
    return _from_blob(blob, base, p, use_cache=use_cache)


def load_bytes(data: bytes, base: Btf | None = None, name: str = "<bytes>") -> Btf:
    """Like :func:`load`, from bytes in memory."""
    blob = blob_from_bytes(data, name)
    return _from_blob(blob, base, name, use_cache=False)


def _from_blob(blob: BtfBlob, base: Btf | None, name: str, *, use_cache: bool) -> Btf:
    if blob.distilled_base is not None:
        distilled = Btf(blob.distilled_base, path=f"{name}[.BTF.base]", origin="ELF .BTF.base")
        module = Btf(blob.data, base=distilled, path=name, origin=blob.origin)
        if base is None:
            return module
        return relocate(module, base)
    return Btf(blob.data, base=base, path=name, origin=blob.origin, use_cache=use_cache,
               cache_key=blob.cache_key)
