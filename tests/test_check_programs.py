"""The program x kernel report in ``bpfls check``'s output: the JSON ``programs`` list, the
``--matrix`` table, and ``[alternatives]`` in bpfls.toml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bpfls.analysis.report import FileReport, ProgramReport, ProgramResult
from bpfls.cli.formats import format_json, format_matrix
from bpfls.project.config import ConfigError, parse_config
from bpfls.project.kernels import Kernel, KernelSet
from bpfls.source.positions import Range

from conftest import SAMPLE_DIR

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture()
def reports(tmp_path: Path) -> tuple[list[FileReport], KernelSet]:
    path = str(tmp_path / "prog.bpf.c")
    progs = [
        ProgramReport("on_open", "fentry/do_sys_openat2", "fentry", "do_sys_openat2", path,
                      Range.of(4, 4, 4, 11),
                      {"5.10": ProgramResult(False, "attach-target-missing",
                                             "no FUNC do_sys_openat2"),
                       "6.1": ProgramResult(True)}, alternative="open"),
        ProgramReport("kp", "kprobe/do_sys_openat2", "kprobe", "do_sys_openat2", path,
                      Range.of(9, 4, 9, 6),
                      {"5.10": ProgramResult(None, "attach-target-unverified", "no FUNC"),
                       "6.1": ProgramResult(True, "signature-mismatch", "int vs long")}),
    ]
    kernels = KernelSet((Kernel("5.10", "/k/5.10.btf", object()),  # type: ignore[arg-type]
                         Kernel("6.1", "/k/6.1.btf", object())), "6.1")  # type: ignore[arg-type]
    return [FileReport(path, programs=progs)], kernels


def test_json_programs(reports) -> None:
    doc = json.loads(format_json(*reports))
    progs = doc["files"][0]["programs"]
    assert [p["name"] for p in progs] == ["on_open", "kp"]
    p = progs[0]
    assert (p["section"], p["kind"], p["target"], p["alternative"]) == \
        ("fentry/do_sys_openat2", "fentry", "do_sys_openat2", "open")
    assert p["results"]["5.10"] == {"ok": False, "code": "attach-target-missing",
                                    "reason": "no FUNC do_sys_openat2"}
    assert p["results"]["6.1"] == {"ok": True, "code": None, "reason": ""}
    assert progs[1]["results"]["5.10"]["ok"] is None
    assert p["range"]["start"] == {"line": 5, "column": 5}


def test_matrix(reports) -> None:
    out = format_matrix(*reports).splitlines()
    header = out[0].split()
    assert header == ["program", "section", "5.10", "6.1"]
    assert out[1].endswith("prog.bpf.c:")
    row = out[2]
    assert row.split()[:2] == ["on_open", "fentry/do_sys_openat2"]
    assert "✗ attach-target-missing" in row and row.rstrip().endswith("✓")
    # the cells line up under their kernel's column
    assert row.index("✗") == out[0].index("5.10")
    assert out[0].index("6.1") == row.index("✓")
    kp = out[3]
    assert "?" in kp and "! signature-mismatch" in kp
    assert "✓ loads and attaches" in out[-1]


def test_matrix_without_programs() -> None:
    ks = KernelSet((), None)
    assert format_matrix([FileReport("x.bpf.c")], ks) == "no programs\n"


def test_alternatives_config(tmp_path: Path) -> None:
    cfg = parse_config({"alternatives": {"groups": [["a", "b"], ["c", "d", "e"]]}}, "t",
                       tmp_path)
    assert cfg.alternatives == (("a", "b"), ("c", "d", "e"))
    assert parse_config({}, "t", tmp_path).alternatives == ()
    for bad in ({"groups": [["a"]]}, {"groups": "a"}, {"groups": [["a", 1]]}, {"other": 1},
                [["a", "b"]]):
        with pytest.raises(ConfigError):
            parse_config({"alternatives": bad}, "t", tmp_path)


def test_cli_matrix_and_json_programs(tmp_path: Path) -> None:
    """--matrix runs end to end (the table's rows come from the source model's programs)."""
    prog = CORPUS / "guard_state.bpf.c"
    ks = [f"--kernel={n}={SAMPLE_DIR / f'{n}.btf.xz'}" for n in ("5.10-amd64", "6.12-amd64")]
    args = [sys.executable, "-m", "bpfls", "check", str(prog), *ks, "--primary", "6.12-amd64"]
    r = subprocess.run([*args, "--matrix"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(("no programs", "program "))
    doc = json.loads(subprocess.run([*args, "--format", "json"], capture_output=True, text=True,
                                    timeout=300).stdout)
    assert isinstance(doc["files"][0]["programs"], list)
