"""Relocating module BTF from its distilled base onto the real kernel BTF.

A module built with a distilled base (its ``.BTF.base`` section, libbpf's ``btf__distill_base``)
refers to a small set of named base types (structs, unions, enums, ints, floats, fwds) by ids
of that distilled base. To read it over a full vmlinux, as libbpf's ``btf__relocate`` does, each
distilled type is mapped to the one matching vmlinux type (same name and kind; same size where
names repeat; ints and enums also by size and encoding), every type reference and name offset of
the module is rewritten, and a new split BTF is built over vmlinux.
"""

from __future__ import annotations

import struct
import sys

from bpfls.btf.btf import Btf
from bpfls.btf.errors import BtfError
from bpfls.btf.kinds import Kind
from bpfls.btf.model import Type

#: Kinds whose third header word is a type id (FUNC_PROTO: the return type).
_REF_KINDS = frozenset({Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT,
                        Kind.FUNC, Kind.VAR, Kind.DECL_TAG, Kind.TYPE_TAG, Kind.FUNC_PROTO})


def _candidates(dist: Type, target: Btf) -> list[Type]:
    kind = dist.kind
    found = target.find_all(dist.name)
    if kind == Kind.FWD:
        want = Kind.UNION if dist.kflag else Kind.STRUCT
        return [t for t in found
                if t.kind == want or (t.kind == Kind.FWD and t.kflag == dist.kflag)]
    if kind == Kind.INT:
        return [t for t in found if t.kind == Kind.INT and t.size == dist.size
                and t.int_encoding == dist.int_encoding]
    if kind == Kind.FLOAT:
        return [t for t in found if t.kind == Kind.FLOAT and t.size == dist.size]
    if kind in (Kind.ENUM, Kind.ENUM64):
        return [t for t in found if t.kind in (Kind.ENUM, Kind.ENUM64) and t.size == dist.size]
    if kind in (Kind.STRUCT, Kind.UNION):
        same = [t for t in found if t.kind == kind]
        if len(same) > 1 and dist.size:
            same = [t for t in same if t.size == dist.size]
        return same
    raise BtfError(f"distilled base type {kind.name} [{dist.id}] '{dist.name}' is not a named "
                   "struct, union, enum, int, float or fwd", dist.btf.path, None, dist.id)


def map_distilled_base(dist_base: Btf, target: Btf) -> dict[int, int]:
    """Distilled base type id → target type id (0 → 0)."""
    id_map = {0: 0}
    for dist in dist_base:
        cands = _candidates(dist, target)
        if not cands:
            raise BtfError(f"distilled base type {dist.kind.name} '{dist.name}' [{dist.id}] "
                           f"(size {dist.size if dist.kind != Kind.FWD else 0}) has no match "
                           f"in {target.path}", dist_base.path, None, dist.id)
        if len(cands) > 1:
            ids = ", ".join(str(t.id) for t in cands[:4])
            raise BtfError(f"distilled base type '{dist.name}' [{dist.id}] has several "
                           f"candidates of the same size in {target.path} (ids {ids})",
                           dist_base.path, None, dist.id)
        id_map[dist.id] = cands[0].id
    return id_map


def relocate(split: Btf, target: Btf) -> Btf:
    """``split`` (read over its distilled base) re-based onto the full kernel BTF ``target``."""
    dist_base = split.base
    if dist_base is None:
        raise BtfError("relocation needs split BTF over a distilled base", split.path)
    id_map = map_distilled_base(dist_base, target)
    shift = target.end_id - split.start_id

    def tid(t: int) -> int:
        if t >= split.start_id:
            return t + shift
        return id_map[t] if t in id_map else _bad_ref(split, t)

    # strings: the module's own keep their order after the target's table; strings that lived
    # in the distilled base are looked up in the target, or appended when it lacks them.
    strs = bytearray(split._strs)
    str_shift = target.end_str_off - split.start_str_off
    appended: dict[int, int] = {}

    def soff(off: int) -> int:
        if off >= split.start_str_off:
            return off + str_shift
        if off == 0:
            return 0
        got = appended.get(off)
        if got is None:
            text = dist_base.str_at(off)
            hits = target._str_offsets_all(text)
            if hits:
                got = hits[0]
            else:
                got = target.end_str_off + len(strs)
                strs.extend(text.encode() + b"\0")
            appended[off] = got
        return got

    w = list(split._w)
    for t in split:
        o = t._o
        kind = t.kind
        w[o] = soff(w[o])
        x = o + 3
        if kind in _REF_KINDS:
            w[o + 2] = tid(w[o + 2])
        if kind == Kind.ARRAY:
            w[x] = tid(w[x])
            w[x + 1] = tid(w[x + 1])
        elif kind in (Kind.STRUCT, Kind.UNION):
            for i in range(t.vlen):
                w[x + 3 * i] = soff(w[x + 3 * i])
                w[x + 3 * i + 1] = tid(w[x + 3 * i + 1])
        elif kind == Kind.ENUM:
            for i in range(t.vlen):
                w[x + 2 * i] = soff(w[x + 2 * i])
        elif kind == Kind.ENUM64:
            for i in range(t.vlen):
                w[x + 3 * i] = soff(w[x + 3 * i])
        elif kind == Kind.FUNC_PROTO:
            for i in range(t.vlen):
                w[x + 2 * i] = soff(w[x + 2 * i])
                w[x + 2 * i + 1] = tid(w[x + 2 * i + 1])
        elif kind == Kind.DATASEC:
            for i in range(t.vlen):
                w[x + 3 * i] = tid(w[x + 3 * i])
    order = "<" if sys.byteorder == "little" else ">"
    types = struct.pack(f"{order}{len(w)}I", *w)
    hdr = struct.pack(f"{order}HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    return Btf(hdr + types + bytes(strs), base=target, path=split.path,
               origin=f"{split.origin}, relocated from its distilled base")


def _bad_ref(split: Btf, t: int) -> int:
    raise BtfError(f"type id {t} refers to neither the distilled base nor the module",
                   split.path, None, t)
