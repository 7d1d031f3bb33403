"""The running kernel's verifier as an oracle: compile a BPF C program with clang and load each of
its programs alone (libbpf through ctypes over the system ``libbpf.so.1``: open the object, set
every other program's autoload off, ``bpf_object__load``), giving libbpf's error per program (0:
the verifier accepted it). Nothing is attached or pinned; each object is closed after its load.

:func:`available` says whether this machine can (clang, libbpf, the right to load programs); the
tests skip where it cannot. Needs no pytest.
"""

from __future__ import annotations

import ctypes
import subprocess
from functools import cache
from pathlib import Path

from shared_corpus import CLANG, CORPUS_DIR, find_tool

#: libbpf's headers: the shared corpus's (newer), else the system's (libbpf-dev)
LIBBPF_INCLUDE = next((d for d in (CORPUS_DIR / "libbpf", Path("/usr/include"))
                       if (d / "bpf" / "bpf_tracing.h").exists()), Path("/usr/include"))


@cache
def _lib() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL("libbpf.so.1")
    except OSError:
        return None
    vp = ctypes.c_void_p
    lib.bpf_object__open_file.restype = vp
    lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, vp]
    lib.bpf_object__next_program.restype = vp
    lib.bpf_object__next_program.argtypes = [vp, vp]
    lib.bpf_program__name.restype = ctypes.c_char_p
    lib.bpf_program__name.argtypes = [vp]
    lib.bpf_program__set_autoload.argtypes = [vp, ctypes.c_bool]
    lib.bpf_object__load.argtypes = [vp]
    lib.bpf_object__close.argtypes = [vp]
    lib.libbpf_set_print.argtypes = [vp]
    lib.libbpf_set_print(None)
    return lib


def _programs(lib: ctypes.CDLL, obj: Path) -> list[str]:
    o = lib.bpf_object__open_file(str(obj).encode(), None)
    if not o:
        return []
    names, p = [], None
    try:
        while p := lib.bpf_object__next_program(o, p):
            names.append(lib.bpf_program__name(p).decode())
    finally:
        lib.bpf_object__close(o)
    return names


def _load_one(lib: ctypes.CDLL, obj: Path, name: str) -> int:
    o = lib.bpf_object__open_file(str(obj).encode(), None)
    if not o:
        return -1
    p = None
    try:
        while p := lib.bpf_object__next_program(o, p):
            lib.bpf_program__set_autoload(p, lib.bpf_program__name(p).decode() == name)
        return int(lib.bpf_object__load(o))
    finally:
        lib.bpf_object__close(o)


def compile_program(src: Path, include: Path) -> Path:
    """``src`` compiled for BPF (``include``: where ``vmlinux.h`` is); CalledProcessError when
    clang rejects it."""
    out = src.with_suffix(".o")
    clang = find_tool(CLANG)
    assert clang is not None
    subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86",
                    f"-I{include}", f"-I{LIBBPF_INCLUDE}", "-c", str(src), "-o", str(out)],
                   check=True, capture_output=True, text=True)
    return out


def verdicts(obj: Path) -> dict[str, int]:
    """Program name → libbpf's error loading it alone (0: loaded)."""
    lib = _lib()
    assert lib is not None
    return {name: _load_one(lib, obj, name) for name in _programs(lib, obj)}


def available(workdir: Path, include: Path) -> str | None:
    """None when programs can be compiled and loaded here, else why not."""
    if find_tool(CLANG) is None:
        return f"no {CLANG}"
    if _lib() is None:
        return "no libbpf.so.1"
    if not (LIBBPF_INCLUDE / "bpf" / "bpf_tracing.h").exists():
        return "no libbpf headers"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return "the running kernel has no BTF"
    src = workdir / "probe.bpf.c"
    src.write_text('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
                   'SEC("kprobe/do_exit") int probe(void *ctx) { return 0; }\n'
                   'char LICENSE[] SEC("license") = "GPL";\n')
    try:
        obj = compile_program(src, include)
    except subprocess.CalledProcessError as e:
        return f"clang: {e.stderr[-200:]}"
    if verdicts(obj) != {"probe": 0}:
        return "cannot load BPF programs here"
    return None
