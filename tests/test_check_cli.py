"""`bpfls check` as CI runs it: exit codes, every format, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import SAMPLE_DIR

CORPUS = Path(__file__).parent / "corpus"
SCHEMA = Path(__file__).parent / "data" / "sarif-2.1.0-rtm.5.json"
K = [f"--kernel={n}={SAMPLE_DIR / f'{n}.btf.xz'}" for n in ("5.10-amd64", "6.12-amd64")]
PRIMARY = ["--primary", "6.12-amd64", "-D", "__TARGET_ARCH_x86"]


def check(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpfls", "check", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def _line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_clean_program_exits_0() -> None:
    r = check(str(CORPUS / "guard_state.bpf.c"), *K, *PRIMARY)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1].startswith("no problems in 1 file (6 CO-RE relocations")


def test_findings_exit_1_text_json_sarif_github() -> None:
    prog = CORPUS / "renames.bpf.c"
    line = _line_of(prog, "task_struct___o *)task, state")
    r = check(str(prog), *K, *PRIMARY)
    assert r.returncode == 1
    first = [x for x in r.stdout.splitlines() if ": error: " in x][0]
    assert f"renames.bpf.c:{line}:" in first and "[field-missing]" in first
    assert "6.12-amd64" in first and "5.10-amd64" not in first

    doc = json.loads(check(str(prog), *K, *PRIMARY, "--format", "json").stdout)
    diags = doc["files"][0]["diagnostics"]
    assert any(d["code"] == "field-missing" and d["range"]["start"]["line"] == line
               and d["kernels"] == ["6.12-amd64"] for d in diags)
    relos = doc["files"][0]["relocations"]
    state = [x for x in relos if x["spec"] == "struct task_struct___o.state"][0]
    assert state["results"]["5.10-amd64"]["resolved"] is True
    assert state["results"]["6.12-amd64"] == {"resolved": False, "offset": None, "size": None}

    sarif = json.loads(check(str(prog), *K, *PRIMARY, "--format", "sarif").stdout)
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(sarif)
    res = [x for x in sarif["runs"][0]["results"] if x["ruleId"] == "field-missing"]
    assert res[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == line

    gh = check(str(prog), *K, *PRIMARY, "--format", "github").stdout.splitlines()
    assert any(x.startswith("::error file=") and f",line={line}," in x for x in gh)


def test_fail_on_warning_and_info(tmp_path: Path) -> None:
    r = check(str(CORPUS / "guard_state.bpf.c"), *K, *PRIMARY, "--fail-on", "info")
    assert r.returncode == 0


def test_broken_kernel_reported_once_others_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.btf"
    bad.write_bytes(b"not btf at all")
    r = check(str(CORPUS / "renames.bpf.c"), *K, f"--kernel=broken={bad}", *PRIMARY)
    assert r.returncode == 2
    assert r.stderr.count("kernel 'broken'") == 1 and "bad magic" in r.stderr
    assert "[field-missing]" in r.stdout  # the good kernels were still checked


def test_usage_and_input_errors(tmp_path: Path) -> None:
    r = check(str(tmp_path / "missing.bpf.c"), *K, *PRIMARY)
    assert r.returncode == 2 and "missing.bpf.c" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout.splitlines()[-1].startswith("1 unreadable file in 1 file")
    r = check(str(CORPUS / "guard_state.bpf.c"), "--kernel", "nonsense")
    assert r.returncode == 2 and "expected NAME=PATH" in r.stderr
    r = check(str(CORPUS / "guard_state.bpf.c"), *K, "--primary", "nope")
    assert r.returncode == 2 and "--primary 'nope'" in r.stderr
    (tmp_path / "bpfls.toml").write_text("kernels = [")
    (tmp_path / "p.bpf.c").write_text("int x;\n")
    r = check(str(tmp_path / "p.bpf.c"))
    assert r.returncode == 2 and "invalid TOML" in r.stderr
    r = check()
    assert r.returncode == 2


@pytest.mark.parametrize("text", [
    "", "#include \"vmlinux.h\"\nSEC(\"kprobe/x\") int f(struct task_struct *t) { return t->",
    "int BPF_PROG(", "struct { int a; } *p; int g(void) { return BPF_CORE_READ(p, ",
    "\x00\xff garbage \n#if\n#endif\n#else", "#if defined(\n#elif 1 +\n",
])
def test_half_typed_c_never_crashes(tmp_path: Path, text: str) -> None:
    p = tmp_path / "half.bpf.c"
    p.write_bytes(text.encode())
    r = check(str(p), *K, *PRIMARY)
    assert r.returncode in (0, 1), r.stderr
    assert "Traceback" not in r.stderr


def test_readme_examples() -> None:
    ex = Path(__file__).resolve().parent.parent / "examples"
    r = check(str(ex / "task_state.bpf.c"), *K, *PRIMARY)
    assert r.returncode == 1
    assert ("task_state.bpf.c:14:64: error: 'state' is missing in struct task_struct (read as "
            "struct task_struct___o) on 6.12-amd64 (did you mean '__state'?)") in r.stdout
    assert check(str(ex / "task_state_fixed.bpf.c"), *K, *PRIMARY).returncode == 0


def test_primary_is_the_kernel_the_vmlinux_h_was_dumped_from(tmp_path: Path) -> None:
    """No primary chosen: the bundled kernel whose dump the program includes is its primary
    (a member only that kernel has is known); a chosen primary stays."""
    from bpfls.btf import load
    from bpfls.btf.dump_c import dump_c

    (tmp_path / "vmlinux.h").write_text(dump_c(load(SAMPLE_DIR / "5.10-amd64.btf.xz")))
    prog = tmp_path / "p.bpf.c"
    prog.write_text((CORPUS / "vmlinux_primary.bpf.c").read_text())
    for extra, primary in (((), "5.10-amd64"), (("--primary", "6.12-amd64"), "6.12-amd64")):
        r = check(str(prog), "-D", "__TARGET_ARCH_x86", "--format", "json", *extra)
        doc = json.loads(r.stdout)
        assert doc["files"][0]["primary"] == primary, r.stderr
        codes = {d["code"] for d in doc["files"][0]["diagnostics"]}
        assert "unknown-member" not in codes and "field-missing" in codes
    text = check(str(prog), "-D", "__TARGET_ARCH_x86").stdout
    assert "primary 5.10-amd64" in text.splitlines()[-1]


def test_jobs_give_the_output_of_one_process(tmp_path: Path) -> None:
    """Files checked in several processes (the first one here, then runs of consecutive
    files in each worker) print exactly what one process prints, in every format."""
    files = [str(p) for p in sorted(CORPUS.glob("*.bpf.c"))]
    files += [str(p) for p in sorted((CORPUS.parent / "fixtures" / "source").glob("*.bpf.c"))]
    assert len(files) > 10
    for fmt in ("text", "json"):
        one = check(*files, *K, *PRIMARY, "--format", fmt, "-j", "1")
        assert one.returncode == 1, one.stderr
        for jobs in ("2", "3"):
            many = check(*files, *K, *PRIMARY, "--format", fmt, "-j", jobs)
            assert (many.returncode, many.stdout, many.stderr) == \
                (one.returncode, one.stdout, one.stderr), (fmt, jobs)


def test_runs_keep_neighbours_together_and_end_together() -> None:
    from bpfls.cli.check_files import runs

    assert runs(2, 2) == [1, 1]
    sizes = runs(136, 2)
    assert sum(sizes) == 136 and sizes[0] == 16 and sizes[-4:] == [1, 1, 1, 1]
    assert sizes == sorted(sizes, reverse=True)
    assert max(runs(10_000, 8)) == 16
