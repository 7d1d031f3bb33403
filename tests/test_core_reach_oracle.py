"""The kernel's verifier as the oracle for :mod:`bpfls.core.reach`.

Each program of the reach fixtures and of the corpus is loaded alone through libbpf (the
others' autoload off), with CO-RE relocated against each sample kernel's BTF
(``btf_custom_path``) and the verifier's log at level 2, which lists every instruction the
verifier visits. Then, for :func:`bpfls.core.objects.judge` on the same kernel:

- a load that succeeds visited exactly the instructions the model reaches (apart from the
  known cases below, where the model reaches more and says why);
- a load that fails on a poisoned relocation ("failed to resolve CO-RE relocation") names one
  the model reaches, and everything it visited the model reaches too;
- a load that fails for another reason first (an attach target, a helper, a direct access the
  running kernel refuses at another kernel's offsets) says nothing about poisons: skipped;
- every call and callback libbpf links leads where :mod:`bpfls.core.objfile` says.

The verifier is the running kernel's; whether it checks global functions lazily is read
from its own BTF (``/sys/kernel/btf/vmlinux``).
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest

from bpfls.btf import load
from bpfls.core.objects import judge
from bpfls.core.objfile import read_object
from bpfls.core.reach import checks_globals_lazily

from conftest import SAMPLE_DIR, require_tool
from coreoracle import Libbpf, ProgramLoad, compile_objects, libbpf_or_skip, visited

ROOT = Path(__file__).parent
SOURCES = (sorted((ROOT / "fixtures" / "reach").glob("*.bpf.c"))
           + sorted((ROOT / "corpus").glob("*.bpf.c"))
           + sorted((ROOT / "corpus" / "rejected").glob("*.bpf.c")))
KERNELS = ["5.10-amd64", "6.1-amd64", "6.12-amd64", "6.12-arm64"]
RUNNING = Path("/sys/kernel/btf/vmlinux")

#: (source, program) → why the model reaches instructions the verifier does not visit
KNOWN_MORE = {
    ("macros.bpf.c", "on_readv"):
        "BPF_KSYSCALL branches on LINUX_HAS_SYSCALL_WRAPPER, a .kconfig value libbpf takes "
        "from the running kernel and the verifier reads from the frozen map: unknown to the "
        "model",
    ("macros.bpf.c", "on_unlink"): "as on_readv (BPF_KPROBE_SYSCALL)",
    ("usdt.bpf.c", "on_setjmp"):
        "usdt.bpf.h branches on LINUX_HAS_BPF_COOKIE, a .kconfig value: unknown to the model",
}
_LINKED = re.compile(r"prog '([^']*)': insn #(\d+) relocated, imm -?\d+ points to subprog "
                     r"'([^']*)'")


@pytest.fixture(scope="module")
def objects() -> dict[str, Path]:
    clang = require_tool("clang-16")
    return compile_objects(clang, SOURCES, SAMPLE_DIR / "6.12-amd64.btf.xz")


@pytest.fixture(scope="module")
def verifier(objects) -> Libbpf:
    """libbpf through ctypes, where this machine lets it load BPF programs."""
    lib = libbpf_or_skip()
    if not RUNNING.exists():
        pytest.skip("the running kernel has no BTF (/sys/kernel/btf/vmlinux)")
    probe = lib.load_program(objects["calls.bpf.c"], RUNNING, "helper_guard")
    if not probe.loaded:
        reason = errno.errorcode.get(-probe.rc, str(probe.rc))
        pytest.skip(f"this machine does not load BPF programs ({reason})")
    return lib


@pytest.fixture(scope="module")
def kernels(raw_sample) -> dict[str, tuple]:
    return {k: (load(SAMPLE_DIR / f"{k}.btf.xz"), raw_sample(SAMPLE_DIR / f"{k}.btf.xz"))
            for k in KERNELS}


def _linked(obj, load_: ProgramLoad) -> list[tuple[str, str, str]]:
    """(caller, callee as libbpf linked it, callee as the object reader says) per call."""
    out = []
    for m in _LINKED.finditer(load_.log):
        caller = obj.function(m[1])
        site = obj.sites[(caller.section, caller.start + int(m[2]))]
        out.append((m[1], m[3], site.target.name if site.target else None))
    return out


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_reach_equals_what_the_verifier_visits(src: Path, objects, kernels, verifier) -> None:
    path = objects[src.name]
    obj = read_object(path)
    lazy = checks_globals_lazily(load(RUNNING))
    compared = 0
    more: set[str] = set()
    for name, (btf, raw) in kernels.items():
        for prog in obj.programs:
            if not prog.autoload:
                continue
            load_ = verifier.load_program(path, raw, prog.name)
            for caller, theirs, ours in _linked(obj, load_):
                assert theirs == ours, (src.name, name, caller)
            if not load_.relocated:
                continue  # libbpf refused the object before the verifier (a hard error)
            j = judge(obj, btf, programs={prog.name}, lazy_globals=lazy)
            ours = j.reach.by_program[prog.name]
            seen = visited(obj, load_)
            where = (src.name, name, prog.name)
            assert seen <= ours, (where, sorted(seen - ours))  # never misses one
            if load_.loaded:
                if seen != ours:  # the model reaches more: a poison there is a false alarm
                    assert (src.name, prog.name) in KNOWN_MORE, (where, sorted(ours - seen))
                    more.add(prog.name)
                else:
                    assert not j.reach.poisons & ours, where
                compared += 1
            elif load_.poison is not None:
                reached = {v.resolution.local_spec_log for v in j.verdicts
                           if v.fails_load and prog.name in _programs(j, v)}
                assert load_.poison in reached, (where, load_.poison, reached)
                compared += 1
    known = {p for s, p in KNOWN_MORE if s == src.name}
    assert more == known, ("KNOWN_MORE is out of date", src.name, known - more)
    if src.parent.name == "reach":
        assert compared, src.name


def _programs(j, v) -> set[str]:
    loc = (v.relo.section, v.relo.insn_off // 8)
    return set(j.reach.programs_at(loc))
