"""Byte-exact reimplementations of ``bpftool btf dump file F format raw`` (plain and ``-j``).

The reference is bpftool v7.1.0 (libbpf 1.1), ``dump_btf_type()`` in ``src/btf.c`` and its
``json_writer.c``. Its output quirks are reproduced on purpose:

* names: offset 0 prints ``(anon)``; an offset outside the string section prints ``(invalid)``
  (libbpf 1.1 does not validate name offsets); a non-zero offset of an empty string prints ``''``;
* strings are written as raw bytes: invalid UTF-8 and control characters pass through;
* JSON escaping covers only ``\\t \\n \\r \\f \\b "`` and the backslash, which json_writer
  writes as ``\\n`` (a long-standing typo in bpftool's copy); ``'`` is not escaped;
* ENUM values are ``__s32``: plain text prints ``%u``/``%d``, JSON prints an unsigned value
  through ``jsonw_uint_field`` after sign extension to 64 bits (``-1`` -> 18446744073709551615);
* ENUM64 plain text appends ``ULL``/``LL``; JSON signed values are the two's-complement ``s64``;
* VAR linkage is ``static``/``global``/``extern``, FUNC linkage (vlen) the same, anything else
  ``(unknown)``; a VAR's plain text has a comma: ``type_id=N, linkage=L``;
* DATASEC plain text annotates each variable with ``(KIND 'name')`` when its type id exists
  (type id 0 is ``(UNKNOWN '(anon)')``); JSON does not;
* INT encodings other than 0/SIGNED/CHAR/BOOL print ``UNKN``; a member's ``bitfield_size`` is
  printed only when non-zero, and only read when the struct's kind_flag is set;
* split BTF dumps only its own types, names resolved through the base.

The results are ``str``; bytes that are not valid UTF-8 are carried as surrogate escapes, so
``text.encode("utf-8", "surrogateescape")`` is exactly bpftool's stdout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import repeat

from bpfls.btf.btf import Btf

__all__ = ["dump_bpftool_bytes", "dump_bpftool_json", "dump_bpftool_raw"]

_KIND_STR = ("UNKNOWN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
             "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT",
             "DECL_TAG", "TYPE_TAG", "ENUM64")
_INT_ENC = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}
_LINKAGE = ("static", "global", "extern")

_JSON_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", "\b": "\\b",
                 "\\": "\\n", '"': '\\"'}
_JSON_TABLE = str.maketrans(_JSON_ESCAPES)


def _s32(v: int) -> int:
    return v - 0x1_0000_0000 if v & 0x8000_0000 else v


def _linkage(v: int) -> str:
    return _LINKAGE[v] if v < 3 else "(unknown)"


def _int_enc(v: int) -> str:
    return _INT_ENC.get((v >> 24) & 0x0F, "UNKN")


def _string_reader(btf: Btf) -> Callable[[int], str]:
    """Name at a string offset as bpftool's ``btf_str()`` shows it (raw, surrogate-escaped)."""
    chain = []
    b: Btf | None = btf
    while b is not None:
        chain.append((b.start_str_off, b._strs))
        b = b.base

    def read(off: int) -> str:
        if not off:
            return "(anon)"
        for start, strs in chain:
            if off >= start:
                rel = off - start
                if rel >= len(strs):
                    return "(invalid)"
                end = strs.find(b"\0", rel)
                if end < 0:  # pragma: no cover - string sections end with NUL
                    end = len(strs)
                return strs[rel:end].decode("utf-8", "surrogateescape")
        return "(invalid)"  # pragma: no cover - the last link starts at 0

    return read


class _Names(dict[int, str]):
    """Cache of names by string offset, filled on first use."""

    def __init__(self, read: Callable[[int], str], json: bool) -> None:
        super().__init__()
        self._read = read
        self._json = json

    def __missing__(self, off: int) -> str:
        s = self._read(off)
        if self._json:
            s = '"' + s.translate(_JSON_TABLE) + '"'
        self[off] = s
        return s


def _type_label(btf: Btf, names: _Names, tid: int) -> str | None:
    """`` (KIND 'name')`` for a DATASEC variable, when the id exists (libbpf's type_cnt)."""
    if tid >= btf.end_id:
        return None
    if tid == 0:
        return " (UNKNOWN '(anon)')"
    t = btf[tid]
    return f" ({_KIND_STR[(t.info >> 24) & 0x1F]} '{names[t.name_off]}')"


# -- the variable-length part of a record, decoded once for both formats -----------------------

def _members(w: list[int], p: int, vlen: int, kflag: int) -> Iterable[tuple[int, int, int, int]]:
    """(name offset, type id, bits_offset, bitfield_size) of each STRUCT/UNION member; the offset
    word is split into offset and bitfield size only when kind_flag is set, as bpftool reads it."""
    end = p + 3 * vlen
    offsets = w[p + 2:end:3]
    if kflag:
        return zip(w[p:end:3], w[p + 1:end:3], [v & 0xFFFFFF for v in offsets],
                   [v >> 24 for v in offsets], strict=True)
    return zip(w[p:end:3], w[p + 1:end:3], offsets, repeat(0, vlen), strict=True)


def _pairs(w: list[int], p: int, vlen: int) -> Iterable[tuple[int, int]]:
    """The two words of each of ``vlen`` two-word records (FUNC_PROTO params, ENUM values)."""
    end = p + 2 * vlen
    return zip(w[p:end:2], w[p + 1:end:2], strict=True)


def _triples(w: list[int], p: int, vlen: int) -> Iterable[tuple[int, int, int]]:
    """The three words of each of ``vlen`` three-word records (DATASEC variables)."""
    end = p + 3 * vlen
    return zip(w[p:end:3], w[p + 1:end:3], w[p + 2:end:3], strict=True)


def _enum64_values(w: list[int], p: int, vlen: int, signed: int) -> list[tuple[int, int]]:
    """(name offset, value) of each ENUM64 value: ``hi:lo``, an ``s64`` when the enum is
    signed."""
    out = []
    for q in range(p, p + 3 * vlen, 3):
        v = (w[q + 2] << 32) | w[q + 1]
        if signed and v >> 63:
            v -= 1 << 64
        out.append((w[q], v))
    return out


# -- the two formats ------------------------------------------------------------------------------

def dump_bpftool_json(btf: Btf) -> str:
    """Exactly the stdout of ``bpftool -j btf dump file F format raw`` (split: ``-B BASE``)."""
    w = btf._w.tolist()
    offs = btf._offs.tolist()
    names = _Names(_string_reader(btf), json=True)
    out: list[str] = []
    app = out.append
    kinds = _KIND_STR
    tid = btf.start_id - 1
    sep = ""
    for o in offs:
        tid += 1
        info = w[o + 1]
        kind = (info >> 24) & 0x1F
        app(f'{sep}{{"id":{tid},"kind":"{kinds[kind]}","name":{names[w[o]]}')
        sep = ","
        x = w[o + 2]
        vlen = info & 0xFFFF
        if kind == 4 or kind == 5:  # STRUCT, UNION
            app(f',"size":{x},"vlen":{vlen},"members":[')
            app(",".join([f'{{"name":{names[n]},"type_id":{t},"bits_offset":{off},'
                          f'"bitfield_size":{bsz}}}' if bsz else
                          f'{{"name":{names[n]},"type_id":{t},"bits_offset":{off}}}'
                          for n, t, off, bsz in _members(w, o + 3, vlen, info >> 31)]))
            app("]}")
        elif kind == 13:  # FUNC_PROTO
            app(f',"ret_type_id":{x},"vlen":{vlen},"params":[')
            app(",".join([f'{{"name":{names[n]},"type_id":{t}}}'
                          for n, t in _pairs(w, o + 3, vlen)]))
            app("]}")
        elif kind in (2, 8, 9, 10, 11, 18):  # PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG
            app(f',"type_id":{x}}}')
        elif kind == 1:  # INT
            v = w[o + 3]
            app(f',"size":{x},"bits_offset":{(v >> 16) & 0xFF},"nr_bits":{v & 0xFF},'
                f'"encoding":"{_int_enc(v)}"}}')
        elif kind == 3:  # ARRAY
            app(f',"type_id":{w[o + 3]},"index_type_id":{w[o + 4]},"nr_elems":{w[o + 5]}}}')
        elif kind == 6:  # ENUM
            signed = info >> 31
            app(f',"encoding":"{"SIGNED" if signed else "UNSIGNED"}","size":{x},'
                f'"vlen":{vlen},"values":[')
            vals = []
            for n, v in _pairs(w, o + 3, vlen):
                if v & 0x8000_0000:
                    # __s32: jsonw_int_field gives the negative value, jsonw_uint_field its
                    # sign extension to 64 bits
                    v = v - 0x1_0000_0000 if signed else v | 0xFFFF_FFFF_0000_0000
                vals.append(f'{{"name":{names[n]},"val":{v}}}')
            app(",".join(vals))
            app("]}")
        elif kind == 19:  # ENUM64
            signed = info >> 31
            app(f',"encoding":"{"SIGNED" if signed else "UNSIGNED"}","size":{x},'
                f'"vlen":{vlen},"values":[')
            app(",".join([f'{{"name":{names[n]},"val":{v}}}'
                          for n, v in _enum64_values(w, o + 3, vlen, signed)]))
            app("]}")
        elif kind == 12:  # FUNC
            app(f',"type_id":{x},"linkage":"{_linkage(vlen)}"}}')
        elif kind == 14:  # VAR
            app(f',"type_id":{x},"linkage":"{_linkage(w[o + 3])}"}}')
        elif kind == 15:  # DATASEC
            app(f',"size":{x},"vlen":{vlen},"vars":[')
            app(",".join([f'{{"type_id":{t},"offset":{off},"size":{size}}}'
                          for t, off, size in _triples(w, o + 3, vlen)]))
            app("]}")
        elif kind == 7:  # FWD
            app(f',"fwd_kind":"{"union" if info >> 31 else "struct"}"}}')
        elif kind == 16:  # FLOAT
            app(f',"size":{x}}}')
        elif kind == 17:  # DECL_TAG
            app(f',"type_id":{x},"component_idx":{_s32(w[o + 3])}}}')
        else:  # pragma: no cover - the loader rejects unknown kinds
            app("}")
    return '{"types":[' + "".join(out) + "]}\n"


def dump_bpftool_raw(btf: Btf) -> str:
    """Exactly the stdout of ``bpftool btf dump file F format raw`` (split: ``-B BASE``)."""
    w = btf._w.tolist()
    offs = btf._offs.tolist()
    names = _Names(_string_reader(btf), json=False)
    out: list[str] = []
    app = out.append
    kinds = _KIND_STR
    tid = btf.start_id - 1
    for o in offs:
        tid += 1
        info = w[o + 1]
        kind = (info >> 24) & 0x1F
        app(f"[{tid}] {kinds[kind]} '{names[w[o]]}'")
        x = w[o + 2]
        vlen = info & 0xFFFF
        if kind == 4 or kind == 5:  # STRUCT, UNION
            app(f" size={x} vlen={vlen}")
            app("".join([f"\n\t'{names[n]}' type_id={t} bits_offset={off} bitfield_size={bsz}"
                         if bsz else f"\n\t'{names[n]}' type_id={t} bits_offset={off}"
                         for n, t, off, bsz in _members(w, o + 3, vlen, info >> 31)]))
            app("\n")
        elif kind == 13:  # FUNC_PROTO
            app(f" ret_type_id={x} vlen={vlen}")
            app("".join([f"\n\t'{names[n]}' type_id={t}" for n, t in _pairs(w, o + 3, vlen)]))
            app("\n")
        elif kind in (2, 8, 9, 10, 11, 18):  # PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG
            app(f" type_id={x}\n")
        elif kind == 1:  # INT
            v = w[o + 3]
            app(f" size={x} bits_offset={(v >> 16) & 0xFF} nr_bits={v & 0xFF} "
                f"encoding={_int_enc(v)}\n")
        elif kind == 3:  # ARRAY
            app(f" type_id={w[o + 3]} index_type_id={w[o + 4]} nr_elems={w[o + 5]}\n")
        elif kind == 6:  # ENUM
            signed = info >> 31
            app(f" encoding={'SIGNED' if signed else 'UNSIGNED'} size={x} vlen={vlen}")
            app("".join([f"\n\t'{names[n]}' val={_s32(v) if signed else v}"
                         for n, v in _pairs(w, o + 3, vlen)]))
            app("\n")
        elif kind == 19:  # ENUM64
            signed = info >> 31
            suffix = "LL" if signed else "ULL"
            app(f" encoding={'SIGNED' if signed else 'UNSIGNED'} size={x} vlen={vlen}")
            app("".join([f"\n\t'{names[n]}' val={v}{suffix}"
                         for n, v in _enum64_values(w, o + 3, vlen, signed)]))
            app("\n")
        elif kind == 12:  # FUNC
            app(f" type_id={x} linkage={_linkage(vlen)}\n")
        elif kind == 14:  # VAR
            app(f" type_id={x}, linkage={_linkage(w[o + 3])}\n")
        elif kind == 15:  # DATASEC
            app(f" size={x} vlen={vlen}")
            for t, off, size in _triples(w, o + 3, vlen):
                app(f"\n\ttype_id={t} offset={off} size={size}")
                label = _type_label(btf, names, t)
                if label:
                    app(label)
            app("\n")
        elif kind == 7:  # FWD
            app(f" fwd_kind={'union' if info >> 31 else 'struct'}\n")
        elif kind == 16:  # FLOAT
            app(f" size={x}\n")
        elif kind == 17:  # DECL_TAG
            app(f" type_id={x} component_idx={_s32(w[o + 3])}\n")
        else:  # pragma: no cover - the loader rejects unknown kinds
            app("\n")
    return "".join(out)


def dump_bpftool_bytes(btf: Btf, json: bool = False) -> bytes:
    """The dump as the bytes bpftool writes (names that are not UTF-8 come out unchanged)."""
    text = dump_bpftool_json(btf) if json else dump_bpftool_raw(btf)
    return text.encode("utf-8", "surrogateescape")
