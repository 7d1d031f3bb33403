"""Hashed name tables (bpfls.btf.nameindex): the same answers as scanning the string table, on
real kernels, split BTF and damaged tables; stored with the index cache and keyed by content."""

from __future__ import annotations

import struct
from array import array
from pathlib import Path
from zlib import crc32

import pytest

import bpfls.btf as B
from bpfls.btf import Kind, nameindex

from btfbuild import BtfBuilder
from conftest import decompressed, sample_kernels

KERNELS = sample_kernels()


def _all_enumerators(btf: B.Btf) -> dict[str, list[tuple[int, int]]]:
    """name → (enum id, index) of every enumerator, decoded the slow way, in order."""
    out: dict[str, list[tuple[int, int]]] = {}
    for t in btf:
        if t.kind in (Kind.ENUM, Kind.ENUM64):
            for i, v in enumerate(t.values):
                out.setdefault(v.name, []).append((t.id, i))
    return out


@pytest.mark.parametrize("path", KERNELS, ids=[p.name for p in KERNELS])
def test_tables_agree_with_the_scan(path: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPFLS_CACHE_DIR", str(tmp_path))
    raw = tmp_path / "k.btf"
    raw.write_bytes(decompressed(path))
    scan = B.load(raw, use_cache=False)
    built = B.load(raw)  # writes the cache
    cached = B.load(raw)  # reads it back
    assert scan._names is None and built._names is not None and cached._names is not None
    assert cached._names.arrays() == built._names.arrays()
    assert cached._names.flavored == built._names.flavored == nameindex.flavored_strings(
        scan._strs)
    names = sorted({t.name for t in scan if t.name})
    for name in names + ["", "no_such_type", "task_struct___x"]:
        assert cached._ids_named(name) == scan._ids_named(name), name
    enums = _all_enumerators(scan)
    for name, where in enums.items():
        assert cached.enumerators_named(name) == tuple(where), name
    assert cached.enumerators_named("NO_SUCH_VALUE") == ()
    assert scan._names is None  # type lookups without tables keep scanning
    assert scan.enumerators_named(next(iter(enums))) == tuple(next(iter(enums.values())))
    assert scan._names is not None  # enumerator lookups build the tables in memory


def test_split_btf_names_in_the_base_table() -> None:
    bb = BtfBuilder()
    i32 = bb.int_("int", 4, signed=True)
    bb.struct("task", 4, [("pid", i32, 0, 0)])
    bb.enum("state", 4, [("RUNNING", 0), ("STOPPED", 4)])
    base = B.load_bytes(bb.build())
    sb = BtfBuilder(str_start=base.end_str_off, id_start=base.end_id)
    sb.struct("mod_state", 4, [("x", i32, 0, 0)])
    # names written as offsets into the base's string table
    sb.words += [base._strs.index(b"task\0"), (4 << 24) | 0, 8]  # struct task (again), size 8
    sb.words += [0, (6 << 24) | 1, 4, base._strs.index(b"STOPPED\0"), 9]  # enum { STOPPED = 9 }
    sb.next_id += 2
    split = B.load_bytes(sb.build(), base=base)
    scan_ids = {n: split._ids_named(n) for n in ("task", "mod_state", "int", "x", "")}
    tables = nameindex.build(split)
    split._names = tables
    split._find_cache.clear()
    for n, ids in scan_ids.items():
        assert split._ids_named(n) == ids, n
    assert split._ids_named("task") == (base.find("task").id, split.end_id - 2)
    assert split.enumerators_named("STOPPED") == ((base.find("state").id, 1),
                                                  (split.end_id - 1, 0))
    assert split.enumerators_named("RUNNING") == ((base.find("state").id, 0),)


def test_names_that_do_not_start_a_string() -> None:
    """A type whose name offset points into another string is not found by that suffix (the
    scan's rule); an enumerator's name is the string at its offset, wherever it points."""
    b = BtfBuilder()
    b.int_("int", 4, signed=True)
    whole = b.s("xtask")
    b.words += [whole + 1, (4 << 24) | 0, 4]  # struct named "task" by a suffix offset
    b.words += [0, (6 << 24) | 1, 4, whole + 1, 7]  # enum { task = 7 } likewise
    b.next_id += 2
    btf = B.load_bytes(b.build())
    assert btf._ids_named("task") == ()
    btf._names = nameindex.build(btf)
    btf._find_cache.clear()
    assert btf._ids_named("task") == ()
    assert btf.enumerators_named("task") == ((3, 0),)
    assert btf[3].values[0].name == "task"


def test_damaged_tables_cannot_give_a_wrong_answer() -> None:
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)
    b.struct("task", 4, [("pid", i32, 0, 0)])
    b.enum("color", 4, [("RED", 0), ("BLUE", 1)])
    btf = B.load_bytes(b.build())
    good = nameindex.build(btf)
    # every key claims every id (as colliding names would), plus ids out of range
    k_task, k_blue = crc32(b"task"), crc32(b"BLUE")
    bad = nameindex.NameTables(
        array("I", [k_task] * 5), array("I", [0, 1, 2, 3, 99]),
        array("I", [k_blue] * 4), array("I", [2, 3, 3, 42]), array("I", [0, 0, 1, 0]))
    btf._names = bad
    assert btf._ids_named("task") == (2,)
    assert btf.enumerators_named("BLUE") == ((3, 1),)
    assert btf.enumerators_named("RED") == ()  # its key is missing: a miss, not a wrong hit
    assert nameindex.from_bytes(nameindex.to_bytes(good)).arrays() == good.arrays()
    raw = nameindex.to_bytes(good)
    assert nameindex.from_bytes(raw[:-4]) is None
    assert nameindex.from_bytes(b"") is None


def test_cache_entries_follow_the_kernel_content(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Replacing a kernel file is a new cache key; stale or damaged tables are rewritten."""
    monkeypatch.setenv("BPFLS_CACHE_DIR", str(tmp_path))
    path = KERNELS[0] if KERNELS else pytest.skip("no sample kernels")
    data = decompressed(path)
    raw = tmp_path / "k.btf"
    raw.write_bytes(data)
    first = B.load(raw)
    ts = first.find("task_struct", "struct")
    assert ts is not None
    # the same size of kernel, with task_struct renamed in the string table
    off = data.index(b"\0task_struct\0", struct.unpack_from("<I", data, 16)[0] + 24) + 1
    changed = data[:off] + b"tusk_struct" + data[off + len(b"task_struct"):]
    raw.write_bytes(changed)
    second = B.load(raw)
    assert second.find("task_struct", "struct") is None
    assert second.find("tusk_struct", "struct").id == ts.id
    entries = sorted((tmp_path / "btf").glob("*.idx"))
    assert len(entries) == 2
    # an entry of the previous format (no name tables) or with damaged tables is rewritten
    for entry in entries:
        blob = entry.read_bytes()
        entry.write_bytes(blob[:8] + struct.pack("<I", 1) + blob[12:])
    assert B.load(raw).find("tusk_struct", "struct").id == ts.id
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:-4])
    again = B.load(raw)
    assert again._names is not None and again.find("tusk_struct", "struct").id == ts.id
    assert max(e.stat().st_size for e in entries) > 100_000
    assert B.load(raw).enumerators_named("TASK_COMM_LEN") == first.enumerators_named(
        "TASK_COMM_LEN")
