"""Bad input: every malformed case gives BtfError (and exit code 2 from the CLI), never a
traceback, a hang or a memory blow-up. Includes a bounded hypothesis fuzz of the decoder."""

from __future__ import annotations

import gzip
import lzma
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bpfls.btf as B
from bpfls.btf import BtfError, Kind
from bpfls.btf.cnames import type_name
from bpfls.btf.dump_c import dump_c, render_c
from bpfls.btf.dump_json import dump_bpftool_json, dump_bpftool_raw
from bpfls.btf.files import decompress
from bpfls.btf.layout import render_layout

from btfbuild import BtfBuilder, sample_blob

GOOD = sample_blob()
HDR = struct.Struct("<HBBIIIII")


def with_header(**changes: int) -> bytes:
    fields = dict(zip(("magic", "version", "flags", "hdr_len", "type_off", "type_len",
                       "str_off", "str_len"), HDR.unpack_from(GOOD), strict=True))
    fields.update(changes)
    return HDR.pack(*fields.values()) + GOOD[24:]


def _cyclic_typedef() -> bytes:
    b = BtfBuilder()
    b.typedef("a", 2)
    b.typedef("b", 1)
    b.struct("s", 4, [("x", 1, 0, 0)])
    return b.build()


def _self_array() -> bytes:
    b = BtfBuilder()
    b.int_("int", 4, signed=True)
    b.array(2, 1, 4)  # element type is itself
    b.struct("s", 16, [("x", 2, 0, 0)])
    return b.build()


def _bad_member_type() -> bytes:
    b = BtfBuilder()
    b.int_("int", 4, signed=True)
    b.struct("s", 4, [("x", 9999, 0, 0)])
    return b.build()


def _bad_name_off() -> bytes:
    b = BtfBuilder()
    b.int_("int", 4, signed=True)
    b.raw_record([0x7FFFFF, 4 << 24 | 1, 4, 0x7FFFFFF, 1, 0])  # struct and member names bad
    return b.build()


def _vlen_past_end() -> bytes:
    b = BtfBuilder()
    b.int_("int", 4, signed=True)
    b.raw_record([b.s("s"), 4 << 24 | 500, 4, b.s("x"), 1, 0])
    return b.build()


def _truncated_record() -> bytes:
    b = BtfBuilder()
    b.int_("int", 4, signed=True)
    b.raw_record([b.s("x"), 1 << 24])  # header of an INT cut after 8 bytes
    return b.build()


def _unterminated() -> bytes:
    return GOOD[:-1] + b"x"


LOAD_ERRORS = {
    "empty": (b"", "empty file"),
    "bad magic": (b"\x00\x01" + GOOD[2:], "bad magic"),
    "text file": (b"hello world, this is not BTF\n", "bad magic"),
    "truncated header": (GOOD[:20], "truncated BTF header"),
    "bad version": (with_header(version=2), "unsupported BTF version 2"),
    "bad flags": (with_header(flags=1), "unsupported BTF flags"),
    "short hdr_len": (with_header(hdr_len=8), "bad header length 8"),
    "huge hdr_len": (with_header(hdr_len=1 << 30), "bad header length"),
    "types out of bounds": (with_header(type_len=1 << 20), "type section out of bounds"),
    "strings out of bounds": (with_header(str_len=1 << 20), "string section out of bounds"),
    "truncated file": (GOOD[:-40], "out of bounds"),
    "unaligned types": (with_header(type_off=2), "aligned"),
    "type_len not words": (with_header(type_len=HDR.unpack_from(GOOD)[5] - 2),
                           "multiple of 4|overlap"),
    "overlap": (with_header(str_off=4), "overlap"),
    "unterminated strings": (_unterminated(), "unterminated string table"),
    "strings without leading NUL": (with_header(str_off=HDR.unpack_from(GOOD)[6] + 1,
                                                str_len=HDR.unpack_from(GOOD)[7] - 1),
                                    "does not start with an empty string"),
    "vlen past end": (_vlen_past_end(), "runs past the end of the type section"),
    "truncated record": (_truncated_record(), "truncated type record|runs past the end"),
    "gzip garbage": (b"\x1f\x8b" + b"\xff" * 30, "corrupt gzip|truncated gzip"),
    "truncated gzip": (gzip.compress(GOOD)[:-12], "truncated gzip|corrupt gzip"),
    "xz garbage": (b"\xfd7zXZ\x00" + b"\x01" * 40, "corrupt xz"),
    "truncated xz": (lzma.compress(GOOD)[:-20], "truncated xz|corrupt xz"),
    "ELF garbage": (b"\x7fELF" + b"\x02\x01\x01" + b"\xff" * 60, "malformed ELF"),
}


@pytest.mark.parametrize("case", list(LOAD_ERRORS), ids=list(LOAD_ERRORS))
def test_bad_input_raises_btf_error(case: str, tmp_path: Path) -> None:
    data, pattern = LOAD_ERRORS[case]
    path = tmp_path / "bad.btf"
    path.write_bytes(data)
    with pytest.raises(BtfError, match=pattern) as exc:
        B.load(path)
    assert str(path) in str(exc.value)


def test_error_names_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "k.btf"
    path.write_bytes(with_header(type_len=1 << 20))
    with pytest.raises(BtfError) as exc:
        B.load(path)
    assert exc.value.path == str(path) and exc.value.offset == 8
    assert str(exc.value).startswith(f"{path}: offset 8: type section out of bounds")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(BtfError, match="no such file"):
        B.load(tmp_path / "nope.btf")
    with pytest.raises(BtfError, match="is a directory"):
        B.load(tmp_path)


LAZY_ERRORS = {
    "cyclic typedef": (_cyclic_typedef(), "too deep or cyclic"),
    "self array": (_self_array(), "too deep or cyclic|size overflows"),
    "member type out of range": (_bad_member_type(), "type id 9999 out of range"),
    "name offset out of range": (_bad_name_off(), "string offset .* out of range"),
}


@pytest.mark.parametrize("case", list(LAZY_ERRORS), ids=list(LAZY_ERRORS))
def test_corruption_found_on_use(case: str) -> None:
    """Loading is lazy, so some corruption is only met when the type is used: still BtfError."""
    data, pattern = LAZY_ERRORS[case]
    btf = B.load_bytes(data)
    with pytest.raises(BtfError, match=pattern):
        exercise(btf, strict=True)


def test_decompression_bomb_is_refused() -> None:
    bomb = lzma.compress(b"\0" * (4 << 20))
    with pytest.raises(BtfError, match="decompresses to more than"):
        decompress(bomb, "bomb.xz", "xz", limit=1 << 20)
    with pytest.raises(BtfError, match="decompresses to more than"):
        decompress(gzip.compress(b"\0" * (4 << 20)), "bomb.gz", "gzip", limit=1 << 20)


def test_elf_without_btf(tmp_path: Path) -> None:
    with pytest.raises(BtfError, match="no .BTF section"):
        B.load(sys.executable if os.path.exists(sys.executable) else "/bin/sh")


# -- the CLI: one line, exit code 2 -------------------------------------------------------------

CLI_CASES = ["bad magic", "truncated file", "unterminated strings", "vlen past end", "xz garbage"]


@pytest.mark.parametrize("case", CLI_CASES)
@pytest.mark.parametrize("sub", [["info"], ["show", "--", "struct task"], ["dump"]])
def test_cli_exit_code_2(case: str, sub: list[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.btf"
    path.write_bytes(LOAD_ERRORS[case][0])
    args = [sub[0], str(path), *sub[1:]]
    r = subprocess.run([sys.executable, "-m", "bpfls", "btf", *args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bpfls: error: ") and str(path) in lines[0]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("case", list(LAZY_ERRORS))
def test_cli_lazy_corruption_exit_2(case: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.btf"
    path.write_bytes(LAZY_ERRORS[case][0])
    r = subprocess.run([sys.executable, "-m", "bpfls", "btf", "show", str(path), "struct s"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.startswith("bpfls: error: ")


def test_cli_missing_file_and_unknown_type(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "bpfls", "btf", "info", str(tmp_path / "x")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no such file" in r.stderr
    good = tmp_path / "good.btf"
    good.write_bytes(GOOD)
    r = subprocess.run([sys.executable, "-m", "bpfls", "btf", "show", str(good), "struct nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no type 'struct nope'" in r.stderr


# -- fuzzing ------------------------------------------------------------------------------------

def exercise(btf: B.Btf, strict: bool = False) -> None:
    """Touch everything a user of the engine can touch. Only BtfError may come out."""
    errors = []
    for t in btf:
        try:
            _ = t.name
            kind = t.kind
            if kind in (Kind.STRUCT, Kind.UNION):
                for m in t.members:
                    btf[m.type_id]
                btf.align_of(t)
            elif kind in (Kind.ENUM, Kind.ENUM64):
                _ = t.values
            elif kind == Kind.FUNC_PROTO:
                _ = t.params
            elif kind == Kind.DATASEC:
                _ = t.secinfos
            elif kind == Kind.ARRAY:
                _ = t.array
            if kind not in (Kind.FUNC, Kind.FUNC_PROTO, Kind.FWD, Kind.DATASEC):
                btf.resolve(t)
            if kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ARRAY, Kind.TYPEDEF,
                        Kind.PTR, Kind.ENUM64):
                btf.size_of(t)
            type_name(btf, t)
            for extra in EXTRA_EXERCISERS:
                extra(btf, t)
        except BtfError as e:
            errors.append(e)
    btf.find("task")
    btf.find_all("x")
    for whole in (dump_bpftool_json, dump_bpftool_raw, dump_c):
        try:
            whole(btf)
        except BtfError as e:
            errors.append(e)
    if strict and not errors:
        raise AssertionError("expected a BtfError")
    if strict:
        raise errors[0]


def _render(btf: B.Btf, t: B.Type) -> None:
    if t.name and t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.TYPEDEF):
        render_c(btf, t)
        if t.kind != Kind.TYPEDEF:
            render_layout(btf, t)


#: Everything else that decodes BTF for users runs on the mutated input too.
EXTRA_EXERCISERS = [_render]


def _seed_blobs() -> list[bytes]:
    blobs = [sample_blob("<"), sample_blob(">")]
    shared = Path(__file__).resolve().parent.parent.parent / "shared" / "btf" / "split"
    mod = shared / "linux-7.1-distilled" / "btf_testmod.btf.base"
    if mod.exists():
        blobs.append(mod.read_bytes())
    return blobs


SEEDS = _seed_blobs()
FUZZ_EXAMPLES = int(os.environ.get("BPFLS_FUZZ_EXAMPLES", "300"))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seed=st.sampled_from(range(len(SEEDS))),
       edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(min_value=0)),
       word_edits=st.lists(st.tuples(st.integers(min_value=0),
                                     st.sampled_from([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF,
                                                      19 << 24 | 0xFFFF, 4 << 24 | 3, 1 << 31])),
                           max_size=4))
def test_fuzz_mutated_btf(seed: int, edits: list, cut: int | None, word_edits: list) -> None:
    data = bytearray(SEEDS[seed])
    for pos, val in edits:
        data[pos % len(data)] = val
    for pos, val in word_edits:
        p = (pos % (len(data) // 4)) * 4
        data[p:p + 4] = struct.pack("<I", val)
    if cut is not None:
        data = data[:cut % (len(data) + 1)]
    try:
        btf = B.load_bytes(bytes(data))
    except BtfError:
        return
    exercise(btf)
