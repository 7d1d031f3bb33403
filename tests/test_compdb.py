"""Include paths and macros from compile_commands.json / compile_flags.txt, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bpfls.project.compdb import CompileDbError, find_compile_flags, parse_flags
from bpfls.project.config import ConfigError, default_kernels, effective_config, with_compile_flags

from conftest import SAMPLE_DIR


def test_parse_flags_every_spelling(tmp_path: Path) -> None:
    f = parse_flags(["clang", "-g", "-O2", "-target", "bpf", "-Iinc", "-I", "/abs",
                     "-isystem", "sys", "-iquote", "q", "--include-directory=idd",
                     "-DA", "-D", "B=2", "-DC=x y", "-UDEBUG", "-U", "E", "-c", "p.c",
                     "-o", "p.o"], tmp_path)
    assert f.include == (str(tmp_path / "inc"), "/abs", str(tmp_path / "sys"),
                         str(tmp_path / "q"), str(tmp_path / "idd"))
    assert f.defines == ("A", "B=2", "C=x y")
    assert f.undefines == ("DEBUG", "E")


def test_compile_commands_entry_for_the_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "build").mkdir()
    db = [
        {"directory": str(tmp_path), "file": "src/other.bpf.c",
         "command": "clang -Iother -DOTHER -c src/other.bpf.c"},
        {"directory": str(tmp_path), "file": "src/prog.bpf.c",
         "arguments": ["clang", "-Iinc", "-D__TARGET_ARCH_arm64", "-c", "src/prog.bpf.c"]},
    ]
    # clangd also looks in build/ beside each parent directory
    (tmp_path / "build" / "compile_commands.json").write_text(json.dumps(db))
    f = find_compile_flags(src / "prog.bpf.c")
    assert f is not None and f.include == (str(tmp_path / "inc"),)
    assert f.defines == ("__TARGET_ARCH_arm64",)
    assert f.source == str(tmp_path / "build" / "compile_commands.json")
    # a file the database does not list borrows an entry of its directory
    g = find_compile_flags(src / "new.bpf.c")
    assert g is not None and g.include == (str(tmp_path / "other"),)


def test_compile_flags_txt_relative_to_its_directory(tmp_path: Path) -> None:
    (tmp_path / "compile_flags.txt").write_text("-I\ninclude\n-DX=1\n-xc\n")
    f = find_compile_flags(tmp_path / "a" / "b" / "p.bpf.c")
    assert f is not None and f.include == (str(tmp_path / "include"),)
    assert f.defines == ("X=1",)


def test_merge_order_and_bad_database(tmp_path: Path) -> None:
    (tmp_path / "compile_flags.txt").write_text("-Idb\n-DLEVEL=1\n")
    cfg = effective_config(tmp_path / "p.c", include=[str(tmp_path / "cli")],
                           defines=["LEVEL=2"])
    merged = with_compile_flags(cfg, tmp_path / "p.c")
    assert merged.include == (str(tmp_path / "cli"), str(tmp_path / "db"))
    assert merged.defines == ("LEVEL=1", "LEVEL=2")  # the configured one wins
    assert merged.compile_flags == str(tmp_path / "compile_flags.txt")
    (tmp_path / "compile_flags.txt").unlink()
    (tmp_path / "compile_commands.json").write_text("[{")
    with pytest.raises(ConfigError, match="compile_commands.json: invalid JSON"):
        with_compile_flags(cfg, tmp_path / "p.c")


def test_default_kernels_follow_the_target_arch(tmp_path: Path) -> None:
    specs, primary = default_kernels("amd64")
    names = {k.name for k in specs} - {"host"}
    assert names == {"5.10-amd64", "6.1-amd64", "6.12-amd64"} and primary == "6.12-amd64"
    specs, primary = default_kernels("arm64")
    assert [k.name for k in specs if k.name != "host"] == ["6.12-arm64"]
    assert primary == "6.12-arm64"
    (tmp_path / "compile_flags.txt").write_text("-D__TARGET_ARCH_arm64\n")
    assert effective_config(tmp_path / "p.c").primary == "6.12-arm64"


PROG = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "compat.h"

SEC("raw_tp/sched_switch")
int prog(void *ctx)
{
    struct task_struct *t = (void *)bpf_get_current_task();
#ifdef OLD_KERNELS
    return BPF_CORE_READ(t, STATE_FIELD);
#else
    return 0;
#endif
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_check_uses_the_compile_database(tmp_path: Path) -> None:
    """The header and the macro that make the unguarded read exist only in the compile
    database: without it the program is clean, with it the read is reported."""
    (tmp_path / "src").mkdir()
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "compat.h").write_text("#define STATE_FIELD state\n")
    prog = tmp_path / "src" / "prog.bpf.c"
    prog.write_text(PROG)
    kernels = [f"--kernel={n}={SAMPLE_DIR / f'{n}.btf.xz'}" for n in ("5.10-amd64", "6.12-amd64")]
    args = [sys.executable, "-m", "bpfls", "check", str(prog), *kernels,
            "--primary", "5.10-amd64", "--format", "json"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    codes = {d["code"] for d in json.loads(r.stdout)["files"][0]["diagnostics"]}
    assert "include-not-found" in codes
    (tmp_path / "compile_commands.json").write_text(json.dumps([{
        "directory": str(tmp_path / "src"), "file": "prog.bpf.c",
        "arguments": ["clang", "-g", "-O2", "-target", "bpf", "-I../include", "-DOLD_KERNELS",
                      "-D__TARGET_ARCH_x86", "-c", "prog.bpf.c"]}]))
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    diags = json.loads(r.stdout)["files"][0]["diagnostics"]
    missing = [d for d in diags if d["code"] == "field-missing"]
    assert len(missing) == 1 and missing[0]["kernels"] == ["6.12-amd64"]
    assert missing[0]["range"]["start"]["line"] == 11
    assert "include-not-found" not in {d["code"] for d in diags}


def test_check_with_a_database_given_elsewhere(tmp_path: Path) -> None:
    """``-p``: the database lives in a build directory that is no parent of the source (a
    directory or the file itself is given); its entry decides the file's flags."""
    (tmp_path / "src").mkdir()
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "compat.h").write_text("#define STATE_FIELD state\n")
    prog = tmp_path / "src" / "prog.bpf.c"
    prog.write_text(PROG)
    build = tmp_path / "out" / "build"
    build.mkdir(parents=True)
    (build / "compile_commands.json").write_text(json.dumps([{
        "directory": str(tmp_path / "src"), "file": str(prog),
        "arguments": ["clang", "-I../include", "-DOLD_KERNELS", "-D__TARGET_ARCH_x86", "-c",
                      "prog.bpf.c"]}]))
    kernels = [f"--kernel={n}={SAMPLE_DIR / f'{n}.btf.xz'}" for n in ("5.10-amd64", "6.12-amd64")]
    for given in (build, build / "compile_commands.json"):
        r = subprocess.run([sys.executable, "-m", "bpfls", "check", str(prog), *kernels,
                            "--primary", "5.10-amd64", "--format", "json", "-p", str(given)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 1, r.stdout + r.stderr
        diags = json.loads(r.stdout)["files"][0]["diagnostics"]
        assert [d["kernels"] for d in diags if d["code"] == "field-missing"] == [["6.12-amd64"]]
    f = find_compile_flags(prog, build)
    assert f is not None and f.defines == ("OLD_KERNELS", "__TARGET_ARCH_x86")
    with pytest.raises(CompileDbError, match="holds no compile_commands.json"):
        find_compile_flags(prog, tmp_path / "include")
