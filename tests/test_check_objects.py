"""`bpfls check` on BPF objects (judged as they are) and with `--compile` (the source compiled
with clang, its object judged), and the checks that used to pass silently."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bpfls.btf import load
from bpfls.btf.dump_c import dump_c
from bpfls.core.ext import read_ext

from conftest import SAMPLE_DIR, require_tool
from corpus_headers import chooses_primary, include_dirs, write_headers

CORPUS = Path(__file__).parent / "corpus"
PRIMARY = "6.12-amd64"
K = [f"--kernel={n}={SAMPLE_DIR / f'{n}.btf.xz'}" for n in ("5.10-amd64", "6.12-amd64")]
ARGS = [*K, "--primary", PRIMARY, "-D", "__TARGET_ARCH_x86"]
#: the multiarch headers some programs reach through libbpf's headers (<asm/errno.h>)
EXTRA = [f"-I{d}" for d in sorted(glob.glob("/usr/include/*-linux-gnu"))
         if os.path.exists(os.path.join(d, "asm", "errno.h"))]


def check(*args: str, cwd: Path | None = None,
          env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpfls", "check", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def clang() -> str:
    path = require_tool("clang-16")
    if not Path("/usr/include/bpf/bpf_helpers.h").exists():
        pytest.skip("libbpf's headers (libbpf-dev) are not installed")
    return path


@pytest.fixture(scope="module")
def vmlinux(tmp_path_factory) -> Path:
    inc = tmp_path_factory.mktemp("inc")
    return write_headers(inc, dump_c(load(SAMPLE_DIR / f"{PRIMARY}.btf.xz")))


@pytest.fixture(scope="module")
def vmlinux_dirs(tmp_path_factory, vmlinux: Path):
    """A kernel's name (None: the primary) → the directory of its vmlinux.h."""
    made: dict[str | None, Path] = {None: vmlinux, PRIMARY: vmlinux}

    def get(kernel: str | None) -> Path:
        if kernel not in made:
            made[kernel] = write_headers(tmp_path_factory.mktemp("inc"),
                                         dump_c(load(SAMPLE_DIR / f"{kernel}.btf.xz")))
        return made[kernel]
    return get


def build(clang: str, src: Path, inc: Path | list[Path], out: Path) -> Path:
    obj = out / (src.name.removesuffix(".c") + ".o")
    incs = [f"-I{d}" for d in (inc if isinstance(inc, list) else [inc])]
    subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", *incs,
                    *EXTRA, "-c", str(src), "-o", str(obj)], check=True, capture_output=True)
    return obj


def report(r: subprocess.CompletedProcess[str]) -> dict:
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return json.loads(r.stdout)


def errors(doc: dict) -> set[tuple[str, int, tuple[str, ...]]]:
    return {(d["code"], d["range"]["start"]["line"], tuple(d["kernels"]))
            for f in doc["files"] for d in f["diagnostics"] if d["severity"] == "error"}


# -- objects ---------------------------------------------------------------------------------

def test_an_object_is_judged_as_an_object(clang, vmlinux, tmp_path) -> None:
    """An object (by its content, whatever its name) is judged from its own relocations,
    with the source check's codes, kernels and lines."""
    prog = CORPUS / "renames.bpf.c"
    obj = build(clang, prog, vmlinux, tmp_path)
    renamed = tmp_path / "renames.data"
    shutil.copy(obj, renamed)
    from_source = report(check(str(prog), *ARGS, "--format", "json"))
    for path in (obj, renamed):
        doc = report(check(str(path), *ARGS, "--format", "json"))
        (f,) = doc["files"]
        assert f["mode"] == "object" and len(f["relocations"]) == 8
        assert {d["path"] for d in f["diagnostics"]} == {str(prog)}
        assert errors(doc) == errors(from_source)
    text = check(str(obj), *ARGS).stdout.splitlines()[-1]
    assert "(8 CO-RE relocations checked" in text and "1 BPF object" in text


INLINED_TWICE = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

long out[2];

static __always_inline long old_state(struct task_struct *t)
{
	return t->__state + t->state___x;
}

SEC("tp_btf/sched_switch")
int first(u64 *ctx)
{
	out[0] = old_state((struct task_struct *)ctx[1]);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int second(u64 *ctx)
{
	out[1] = old_state((struct task_struct *)ctx[0]);
	return 0;
}
"""


def test_an_access_inlined_twice_is_said_once(clang, vmlinux, tmp_path) -> None:
    """A function inlined into two programs puts two copies of its relocations in the object:
    a finding about them is one diagnostic at their line, naming its kernels."""
    src = tmp_path / "twice.bpf.c"
    # a member only the flavor names: missing on every kernel
    src.write_text(INLINED_TWICE.replace("t->state___x", "((struct task_struct___x *)t)->state")
                   .replace("#include <bpf/bpf_helpers.h>\n",
                            "#include <bpf/bpf_helpers.h>\nstruct task_struct___x { long state; }"
                            " __attribute__((preserve_access_index));\n"))
    obj = build(clang, src, vmlinux, tmp_path)
    assert len([r for r in read_ext(obj).relocations if r.access_str]) >= 4  # two copies
    doc = report(check(str(obj), *ARGS, "--format", "json"))
    found = [(d["code"], d["range"]["start"]["line"], d["message"])
             for d in doc["files"][0]["diagnostics"] if d["severity"] == "error"]
    assert found and len(found) == len(set(found)), found


def test_object_errors_are_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + (247).to_bytes(2, "little") +
                    b"truncated")
    r = check(str(bad), *ARGS)
    assert r.returncode == 2
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("bpfls: error:")]
    assert "bad.o" in line and "truncated" not in line.split("bad.o", 1)[1][:0] + "x"
    assert "Traceback" not in r.stderr


def test_a_c_file_named_like_an_object_is_read_as_c(tmp_path) -> None:
    src = tmp_path / "prog.o"
    src.write_text((CORPUS / "renames.bpf.c").read_text())
    doc = report(check(str(src), *ARGS, "--format", "json"))
    assert doc["files"][0]["mode"] == "predicted" and doc["files"][0]["relocations"]


# -- --compile -------------------------------------------------------------------------------

def test_compile_judges_what_clang_emits(clang, tmp_path) -> None:
    doc = report(check(str(CORPUS / "renames.bpf.c"), *ARGS, *EXTRA, "--compile",
                       "--format", "json"))
    (f,) = doc["files"]
    assert f["mode"] == "compiled" and len(f["relocations"]) == 8
    assert f["drift"] == {"predicted_not_emitted": [], "emitted_not_predicted": []}
    predicted = report(check(str(CORPUS / "renames.bpf.c"), *ARGS, "--format", "json"))
    assert errors(doc) == errors(predicted)  # placed on the same tokens
    text = check(str(CORPUS / "renames.bpf.c"), *ARGS, *EXTRA, "--compile").stdout
    assert "1 compiled with clang" in text.splitlines()[-1]


DRIFT = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

static inline long arg(struct task_struct *t, int i)
{
	switch (i) {
	case 0: return BPF_CORE_READ(t, pid);
	case 1: return BPF_CORE_READ(t, tgid);
	}
	return 0;
}

SEC("raw_tp/sched_switch")
int prog(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	return arg(t, 0);
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_compile_lists_the_prediction_drift(clang, tmp_path) -> None:
    """clang inlines the small function, folds the constant argument and emits only `pid`;
    the prediction, which folds the arguments of `__always_inline` functions only, has both."""
    src = tmp_path / "drift.bpf.c"
    src.write_text(DRIFT)
    doc = report(check(str(src), *ARGS, "--compile", "--format", "json"))
    (f,) = doc["files"]
    assert f["mode"] == "compiled"
    assert [(e["kind"], e["spec"], e["line"]) for e in f["drift"]["predicted_not_emitted"]] \
        == [("byte_off", "struct task_struct.tgid", 9)]
    assert f["drift"]["emitted_not_predicted"] == []
    assert [r["spec"] for r in f["relocations"]] == ["struct task_struct.pid"]


def test_compile_error_keeps_the_prediction(clang, tmp_path) -> None:
    src = tmp_path / "broken.bpf.c"
    src.write_text((CORPUS / "renames.bpf.c").read_text() + "\nint oops = ;\n")
    r = check(str(src), *ARGS, *EXTRA, "--compile", "--format", "json")
    doc = report(r)
    (f,) = doc["files"]
    assert f["mode"] == "predicted" and "drift" not in f
    (err,) = [d for d in f["diagnostics"] if d["code"] == "compile-error"]
    assert err["message"].startswith("clang: expected expression")
    assert err["range"]["start"]["line"] == len(src.read_text().splitlines())
    assert any(d["code"] == "field-missing" for d in f["diagnostics"])


def test_compile_without_clang_is_a_usage_error(tmp_path) -> None:
    env = {**os.environ, "BPFLS_CLANG": str(tmp_path / "no-such-clang")}
    r = check(str(CORPUS / "renames.bpf.c"), *ARGS, "--compile", env=env)
    assert r.returncode == 2 and "no clang with the BPF target" in r.stderr


def test_compile_from_bpfls_toml(clang, tmp_path) -> None:
    src = tmp_path / "renames.bpf.c"
    shutil.copy(CORPUS / "renames.bpf.c", src)
    kernels = "\n".join(f'"{n}" = "{SAMPLE_DIR / f"{n}.btf.xz"}"'
                        for n in ("5.10-amd64", "6.12-amd64"))
    (tmp_path / "bpfls.toml").write_text(
        f'primary = "{PRIMARY}"\ncompile = "always"\ndefines = ["__TARGET_ARCH_x86"]\n'
        f"[kernels]\n{kernels}\n")
    doc = report(check(str(src), "--format", "json"))
    assert doc["files"][0]["mode"] == "compiled"
    (tmp_path / "bpfls.toml").write_text('compile = "sometimes"\n')
    r = check(str(src))
    assert r.returncode == 2 and "'compile' must be one of auto, always, never" in r.stderr


# -- never a silent pass -----------------------------------------------------------------------

def test_no_primary_and_no_vmlinux_h_fails_loudly(tmp_path) -> None:
    """Kernels given without a primary, and no vmlinux.h on the include path: the program's
    kernel types are unknown. That is said, and the check does not pass."""
    src = tmp_path / "checks.bpf.c"
    shutil.copy(CORPUS / "checks.bpf.c", src)
    r = check(str(src), *K, "-D", "__TARGET_ARCH_x86")
    assert r.returncode == 2
    assert "no primary kernel and no vmlinux.h on the include path" in r.stderr
    assert "[analysis-incomplete]" in r.stdout and "1 part not analysed" in r.stdout
    assert not r.stdout.splitlines()[-1].startswith("no problems")


def test_uses_of_core_that_give_no_relocation_are_reported(tmp_path) -> None:
    src = tmp_path / "opaque.bpf.c"
    src.write_text('#include "vmlinux.h"\n#include <bpf/bpf_core_read.h>\n'
                   "#define READ(p) BPF_CORE_READ(p, pid)\n"
                   'SEC("raw_tp/x") int prog(void *ctx)\n{\n'
                   "\treturn READ(((struct unknown_thing *)ctx));\n}\n")
    doc = report(check(str(src), *ARGS, "--format", "json"))
    codes = [d["code"] for d in doc["files"][0]["diagnostics"]]
    assert "analysis-incomplete" in codes or "unknown-type" in codes
    assert doc["files"][0]["relocations"] == []


def test_a_projects_libbpf_copy_is_not_the_programs_use_of_core(tmp_path) -> None:
    """CO-RE macros in the code of a libbpf header found on the include path (a project's own
    copy of libbpf) are not the program's: a program that uses none is no silent pass."""
    (tmp_path / "bpf").mkdir()
    (tmp_path / "bpf" / "bpf_core_read.h").write_text(
        "static inline int uses_core(void *p)\n"
        "{\n\treturn __builtin_preserve_field_info(*(int *)p, 2);\n}\n")
    src = tmp_path / "plain.bpf.c"
    src.write_text('#include "vmlinux.h"\n#include <bpf/bpf_core_read.h>\n'
                   'SEC("raw_tp/x") int prog(void *ctx)\n{\n\treturn 0;\n}\n')
    doc = report(check(str(src), *ARGS, "-I", str(tmp_path), "--format", "json"))
    codes = [d["code"] for d in doc["files"][0]["diagnostics"]]
    assert "analysis-incomplete" not in codes, doc


#: programs whose relocations clang places (with the source's help) on the predicted lines;
#: elsewhere clang merges identical relocations, puts a header's on the header's own lines
#: (usdt.bpf.h) or gives a relocation the line of an earlier statement
SAME_LINES = ("checks", "container_of", "guard_state", "macros", "read_macros", "renames")
ALL_KERNELS = ("5.10-amd64", "6.1-amd64", "6.12-amd64", "6.12-arm64")


#: what only the source shows: a program macro's parameters (inlined away in the object), the
#: loads through kernel pointers held as numbers, and which conditions read a value the
#: loader sets (in the object, a call under one is a helper-missing like any reachable call)
SOURCE_ONLY = frozenset({"signature-mismatch", "argument-out-of-range", "kernel-pointer-deref",
                         "depends-on-config"})
#: what programs name in the kernel: placed on the SEC or the call as written in the source,
#: on the line clang's line info gives in an object (a call inside a program macro's body:
#: the macro's line)
NAMED = frozenset({"helper-missing", "kfunc-missing", "attach-target-unverified",
                   "attach-target-missing", "attach-target-unknown", "program-type-missing",
                   "map-type-missing", "map-flag-missing", "depends-on-config"})


@pytest.mark.parametrize("prog", sorted(CORPUS.glob("*.bpf.c")) +
                         sorted((CORPUS / "rejected").glob("*.bpf.c")),
                         ids=lambda p: p.name)
def test_objects_are_judged_like_their_sources(prog: Path, clang, vmlinux_dirs,
                                              tmp_path) -> None:
    """Every corpus program, compiled: the object's errors and warnings (codes and kernels;
    lines too where clang's line info allows) are those of the source check, guards
    included (decided on the object's control flow)."""
    k = [f"--kernel={n}={SAMPLE_DIR / f'{n}.btf.xz'}" for n in ALL_KERNELS]
    incs = include_dirs(prog, vmlinux_dirs)
    primary = [] if chooses_primary(prog) else ["--primary", PRIMARY]
    args = [*k, *primary, "-D", "__TARGET_ARCH_x86", *[f"-I{d}" for d in incs], *EXTRA]
    obj = build(clang, prog, incs, tmp_path)

    def found(doc: dict, with_line: bool) -> set:
        return {(d["code"], tuple(d["kernels"])) + ((d["range"]["start"]["line"],)
                                                     if with_line and d["code"] not in
                                                     NAMED else ())
                for f in doc["files"] for d in f["diagnostics"]
                if d["severity"] in ("error", "warning") and d["code"] not in SOURCE_ONLY}

    src = report(check(str(prog), *args, "--format", "json"))
    got = report(check(str(obj), *args, "--format", "json"))
    with_line = prog.name.removesuffix(".bpf.c") in SAME_LINES
    assert found(got, with_line) == found(src, with_line)
