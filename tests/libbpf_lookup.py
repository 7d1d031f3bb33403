"""libbpf's own BTF lookups, through ctypes over the system ``libbpf.so.1``: the oracle for
attach targets and helpers.

:class:`Libbpf` opens a kernel's BTF (``btf__parse_raw``; a ``.gz`` or ``.xz`` file is
decompressed to a temporary raw file first) and answers with libbpf's functions
(``btf__find_by_name_kind``, ``btf__type_by_id``, ``btf__type_cnt``, ``btf__name_by_offset``,
``btf__free``); enumerators are read from ``struct btf_type`` and the ``struct btf_enum``
array after it, laid out by hand.

The rules are libbpf's (``libbpf.c``, v1.1):

- the section table: a program whose section matches ``tp_btf+``, ``fentry+``, ``fmod_ret+``,
  ``fexit+``, ``fentry.s+``, ``fmod_ret.s+``, ``fexit.s+``, ``lsm+``, ``lsm.s+``,
  ``lsm_cgroup+``, ``iter+`` or ``iter.s+`` (``SEC_ATTACH_BTF``; ``X+`` is ``X`` or ``X/...``, a
  leading ``?`` set aside) has its attach target looked up at load time
  (``libbpf_find_attach_btf_id``): the name after the first ``/``, with the prefix and kind of
  ``btf_get_kernel_prefix_kind``: ``btf_trace_`` ``TYPEDEF`` for ``tp_btf``, ``bpf_lsm_``
  ``FUNC`` for ``lsm``/``lsm_cgroup``, ``bpf_iter_`` ``FUNC`` for ``iter``, the plain name as a
  ``FUNC`` otherwise. A section of such a kind without ``/`` has no target until user space
  sets one: nothing to look up. A ``module:function`` target (newer libbpf) is looked up
  by its function's name (only vmlinux BTF here). ``freplace`` targets a function of another
  BPF program (its ``attach_prog_fd``), not of the kernel: not looked up here.
- ``raw_tp/`` and ``raw_tracepoint/`` are attached by name at run time; their BTF evidence
  is the same ``btf_trace_<name>`` ``TYPEDEF`` (:data:`EVIDENCE`), reported apart;
- a helper ``bpf_<name>`` needs ``BPF_FUNC_<name>`` in ``enum bpf_func_id``;
- an ``extern ... __ksym`` (``bpf_object__resolve_ksyms_btf_id``, ``find_ksym_btf_id``): a
  function needs a ``FUNC`` of its name, a typed variable a ``VAR`` (vmlinux first, then the
  modules: only vmlinux here); an untyped one (``const void``) comes from ``/proc/kallsyms``,
  not BTF. A weak one that is missing resolves to 0 and does not fail the load;
- a map type ``BPF_MAP_TYPE_X`` is looked for in ``enum bpf_map_type`` (libbpf itself probes
  the running kernel; the enumerator is the BTF side of the same fact).
"""

from __future__ import annotations

import ctypes
import gzip
import lzma
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

LIBBPF = "/usr/lib/x86_64-linux-gnu/libbpf.so.1"

BTF_KIND_ENUM, BTF_KIND_TYPEDEF, BTF_KIND_FUNC, BTF_KIND_VAR, BTF_KIND_ENUM64 = 6, 8, 12, 14, 19
KIND_NAMES = {BTF_KIND_TYPEDEF: "TYPEDEF", BTF_KIND_FUNC: "FUNC", BTF_KIND_ENUM: "ENUM",
              BTF_KIND_VAR: "VAR"}

#: libbpf's SEC_ATTACH_BTF sections (prefix → (name prefix, kind))
ATTACH_BTF: dict[str, tuple[str, int]] = {
    "tp_btf": ("btf_trace_", BTF_KIND_TYPEDEF),
    "fentry": ("", BTF_KIND_FUNC), "fmod_ret": ("", BTF_KIND_FUNC),
    "fexit": ("", BTF_KIND_FUNC), "fentry.s": ("", BTF_KIND_FUNC),
    "fmod_ret.s": ("", BTF_KIND_FUNC), "fexit.s": ("", BTF_KIND_FUNC),
    "lsm": ("bpf_lsm_", BTF_KIND_FUNC), "lsm.s": ("bpf_lsm_", BTF_KIND_FUNC),
    "lsm_cgroup": ("bpf_lsm_", BTF_KIND_FUNC),
    "iter": ("bpf_iter_", BTF_KIND_FUNC), "iter.s": ("bpf_iter_", BTF_KIND_FUNC),
}
#: sections attached by name at run time whose BTF evidence follows the same rule
EVIDENCE: dict[str, tuple[str, int]] = {
    "raw_tp": ("btf_trace_", BTF_KIND_TYPEDEF),
    "raw_tracepoint": ("btf_trace_", BTF_KIND_TYPEDEF),
}


class _BtfType(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("info", ctypes.c_uint32),
                ("size_or_type", ctypes.c_uint32)]


class _BtfEnum(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("val", ctypes.c_int32)]


class _BtfEnum64(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("val_lo32", ctypes.c_uint32),
                ("val_hi32", ctypes.c_uint32)]


@dataclass(frozen=True)
class Target:
    """What libbpf looks up for a section: the BTF name and kind (``evidence``: a run-time
    attach whose BTF trace this is, not a load-time lookup)."""

    kind: str  # the section's kind: "fentry", "tp_btf", "raw_tp", ...
    name: str  # the name after the kind's "/"
    btf_name: str
    btf_kind: int
    evidence: bool = False


def attach_target(section: str) -> Target | None:
    """The BTF lookup libbpf does for a program of ``section`` (``None``: none)."""
    sec = section.removeprefix("?")
    kind, slash, rest = sec.partition("/")
    if not slash or not rest:
        return None
    for table, evidence in ((ATTACH_BTF, False), (EVIDENCE, True)):
        if kind in table:
            prefix, btf_kind = table[kind]
            name = rest.split(":", 1)[1] if ":" in rest and not evidence else rest
            return Target(kind, rest, prefix + name, btf_kind, evidence)
    return None


def helper_enumerator(helper: str) -> str:
    """``bpf_map_lookup_elem`` → ``BPF_FUNC_map_lookup_elem``."""
    return "BPF_FUNC_" + helper.removeprefix("bpf_")


def raw_copy(path: Path, into: Path) -> Path:
    """``path`` as raw BTF: itself, or decompressed into ``into`` (``.gz``, ``.xz``)."""
    if path.suffix not in (".gz", ".xz"):
        return path
    out = into / path.name.removesuffix(path.suffix)
    if not out.exists():
        opener = gzip.open if path.suffix == ".gz" else lzma.open
        with opener(path, "rb") as f:
            data = f.read()
        out.write_bytes(data)
    return out


class Libbpf:
    """The system libbpf's BTF functions."""

    def __init__(self, path: str = LIBBPF) -> None:
        lib = ctypes.CDLL(path)
        lib.btf__parse_raw.restype = ctypes.c_void_p
        lib.btf__parse_raw.argtypes = [ctypes.c_char_p]
        lib.btf__parse.restype = ctypes.c_void_p
        lib.btf__parse.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        lib.btf__free.argtypes = [ctypes.c_void_p]
        lib.btf__free.restype = None
        lib.btf__find_by_name_kind.restype = ctypes.c_int32
        lib.btf__find_by_name_kind.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                               ctypes.c_uint32]
        lib.btf__type_by_id.restype = ctypes.POINTER(_BtfType)
        lib.btf__type_by_id.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.btf__type_cnt.restype = ctypes.c_uint32
        lib.btf__type_cnt.argtypes = [ctypes.c_void_p]
        lib.btf__name_by_offset.restype = ctypes.c_char_p
        lib.btf__name_by_offset.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.libbpf_get_error.restype = ctypes.c_long
        lib.libbpf_get_error.argtypes = [ctypes.c_void_p]
        self.lib = lib

    def open(self, path: Path) -> KernelBtf:
        """A kernel's BTF (raw, ``.gz`` or ``.xz``)."""
        with tempfile.TemporaryDirectory(prefix="libbpf-btf-") as tmp:
            raw = raw_copy(Path(path), Path(tmp))
            handle = self.lib.btf__parse_raw(os.fsencode(raw))
        if not handle or self.lib.libbpf_get_error(handle):
            raise OSError(f"libbpf could not parse {path}")
        return KernelBtf(self, handle, str(path))


class KernelBtf:
    """One kernel's BTF as libbpf parsed it."""

    def __init__(self, libbpf: Libbpf, handle: int, path: str) -> None:
        self.lib = libbpf.lib
        self.handle = handle
        self.path = path
        self._enums: dict[str, dict[str, int] | None] = {}

    def close(self) -> None:
        if self.handle:
            self.lib.btf__free(self.handle)
            self.handle = 0

    def __enter__(self) -> KernelBtf:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def find(self, name: str, kind: int) -> int | None:
        """``btf__find_by_name_kind``: the type id, ``None`` when absent."""
        tid = self.lib.btf__find_by_name_kind(self.handle, name.encode(), kind)
        return tid if tid > 0 else None

    def type_count(self) -> int:
        return self.lib.btf__type_cnt(self.handle)

    def name_of(self, type_id: int) -> str:
        t = self.lib.btf__type_by_id(self.handle, type_id)
        return self._name(t.contents.name_off) if t else ""

    def kind_of(self, type_id: int) -> int:
        t = self.lib.btf__type_by_id(self.handle, type_id)
        return (t.contents.info >> 24) & 0x1F if t else 0

    def _name(self, off: int) -> str:
        raw = self.lib.btf__name_by_offset(self.handle, off)
        return raw.decode() if raw else ""

    def enumerators(self, enum: str) -> dict[str, int] | None:
        """The enumerators of ``enum <name>`` (``ENUM`` or ``ENUM64``), name → value;
        ``None`` when the kernel has no such enum."""
        if enum in self._enums:
            return self._enums[enum]
        out: dict[str, int] | None = None
        for kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
            tid = self.find(enum, kind)
            if tid is None:
                continue
            t = self.lib.btf__type_by_id(self.handle, tid)
            vlen = t.contents.info & 0xFFFF
            base = ctypes.cast(t, ctypes.c_void_p).value + ctypes.sizeof(_BtfType)
            out = {}
            if kind == BTF_KIND_ENUM:
                vals = ctypes.cast(base, ctypes.POINTER(_BtfEnum * vlen)).contents
                for v in vals:
                    out[self._name(v.name_off)] = v.val
            else:
                vals64 = ctypes.cast(base, ctypes.POINTER(_BtfEnum64 * vlen)).contents
                for v in vals64:
                    out[self._name(v.name_off)] = v.val_hi32 << 32 | v.val_lo32
            break
        self._enums[enum] = out
        return out

    # -- libbpf's rules ------------------------------------------------------------------------

    def target_found(self, section: str) -> bool | None:
        """Does the kernel have what libbpf looks up for ``section``? ``None``: libbpf looks
        nothing up in the kernel's BTF for it."""
        t = attach_target(section)
        if t is None:
            return None
        return self.find(t.btf_name, t.btf_kind) is not None

    def helper_found(self, helper: str) -> bool:
        """Is ``BPF_FUNC_<name>`` in the kernel's ``enum bpf_func_id``?"""
        values = self.enumerators("bpf_func_id") or {}
        return helper_enumerator(helper) in values

    def ksym_found(self, name: str, function: bool, typed: bool = True) -> bool | None:
        """Is the ksym in the kernel's BTF (a ``FUNC``, or a ``VAR`` for a typed variable)?
        ``None`` for an untyped variable (kallsyms, not BTF)."""
        if not function and not typed:
            return None
        return self.find(name, BTF_KIND_FUNC if function else BTF_KIND_VAR) is not None

    def map_type_found(self, enumerator: str) -> bool:
        """Is ``BPF_MAP_TYPE_X`` in the kernel's ``enum bpf_map_type``?"""
        return enumerator in (self.enumerators("bpf_map_type") or {})
