"""`bpfls btf info|find|show` end to end, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from btfbuild import BtfBuilder, sample_blob


def bpfls(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpfls", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture()
def clash(tmp_path: Path) -> Path:
    """Two different `struct node`s: bpftool renames the second one node___2."""
    b = BtfBuilder()
    i = b.int_("int", 4, signed=True)
    b.struct("node", 4, [("a", i, 0, 0)])
    b.struct("node", 8, [("b", i, 0, 0), ("c", i, 32, 0)])
    b.struct("holder", 12, [("one", 2, 0, 0), ("two", 3, 32, 0)])
    p = tmp_path / "clash.btf"
    p.write_bytes(b.build())
    return p


def test_info(tmp_path: Path) -> None:
    p = tmp_path / "k.btf"
    p.write_bytes(sample_blob(">"))
    r = bpfls("btf", "info", str(p))
    assert r.returncode == 0
    assert "byte order:  big-endian" in r.stdout
    assert "types:       21 (ids 1..21)" in r.stdout
    assert "  ENUM64             1" in r.stdout


def test_find(tmp_path: Path) -> None:
    p = tmp_path / "k.btf"
    p.write_bytes(sample_blob())
    r = bpfls("btf", "find", str(p), "ta*")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["[5] STRUCT struct task", "[9] TYPEDEF task_t",
                                     "[19] DECL_TAG tag"]
    r = bpfls("btf", "find", str(p), "task", "--kind", "typedef")
    assert r.stdout.splitlines() == ["[9] TYPEDEF task_t"]
    assert bpfls("btf", "find", str(p), "nothing_like_it").returncode == 1
    assert bpfls("btf", "find", str(p), "x", "--kind", "blob").returncode == 2


def test_show_formats_and_real_names(clash: Path) -> None:
    c = bpfls("btf", "show", str(clash), "struct holder", "--format", "c")
    assert c.returncode == 0
    assert c.stdout == "struct holder {\n\tstruct node one;\n\tstruct node___2 two;\n};\n"
    real = bpfls("btf", "show", str(clash), "struct holder", "--format", "c", "--real-names")
    assert real.stdout == "struct holder {\n\tstruct node one;\n\tstruct node two;\n};\n"
    layout = bpfls("btf", "show", str(clash), "struct holder")
    assert "/*     4     8 */" in layout.stdout and "size: 12" in layout.stdout


def test_show_takes_the_names_a_dump_gives(clash: Path) -> None:
    """``node___2``, as the bpftool dump (and so vmlinux.h) calls the second ``struct node``:
    shown under that name with --format c, in the BTF's own with --real-names."""
    c = bpfls("btf", "show", str(clash), "struct node___2", "--format", "c")
    assert c.returncode == 0, c.stderr
    assert c.stdout == "struct node___2 {\n\tint b;\n\tint c;\n};\n"
    assert bpfls("btf", "show", str(clash), "node___2", "--format", "c").stdout == c.stdout
    real = bpfls("btf", "show", str(clash), "struct node___2", "--format", "c", "--real-names")
    assert real.stdout == "struct node {\n\tint b;\n\tint c;\n};\n"
    missing = bpfls("btf", "show", str(clash), "struct node___3")
    assert missing.returncode != 0 and "no type 'struct node___3'" in missing.stderr
    assert bpfls("btf", "show", str(clash), "union node___2").returncode != 0
