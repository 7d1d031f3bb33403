"""libbpf as the oracle for whole programs: compile BPF C with clang and read, from libbpf's own
log (``bpftool -d gen min_core_btf``, parsed by :mod:`coreoracle`), what every CO-RE relocation
is and whether it resolves on a kernel."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from coreoracle import parse_log, run_bpftool

# "<byte_off> [2] struct pt_regs.di (0:14 @ offset 112)", "<enumval_value> [7] enum e::V = 43"
_LOCAL_SPEC = re.compile(r"<(?P<kind>\w+)> \[\d+\] (?P<spec>.*?)(?: = (?P<val>-?\d+))?"
                         r"(?: \((?P<access>[\d:]+)(?: @ offset (?P<off>[\d.]+))?\))?$")
_TARGET_OFF = re.compile(r"@ offset (\d+)")


@dataclass
class LibbpfRelo:
    prog: str
    index: int
    kind: str
    spec: str  # libbpf's human spec of the local access, e.g. "struct task_struct.pid"
    access: str | None  # None for type-based relocations
    resolved: bool = False
    target_offset: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.spec)


def compile_bpf(clang: str, src: Path, include_dir: Path, out_dir: Path,
                defines: tuple[str, ...] = ("__TARGET_ARCH_x86",),
                extra: tuple[str, ...] = ()) -> Path:
    obj = out_dir / (src.name.removesuffix(".c") + ".o")
    cmd = [clang, "-g", "-O2", "-target", "bpf", *[f"-D{d}" for d in defines],
           f"-I{include_dir}", *extra, "-c", str(src), "-o", str(obj)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return obj


def relocations_from_log(log: str) -> list[LibbpfRelo]:
    out = []
    for r in parse_log(log):
        m = _LOCAL_SPEC.match(r.local_spec or "")
        if m is None:
            continue
        target = next((spec for _, matched, spec in r.candidates if matched), None)
        off = _TARGET_OFF.search(target or "")
        out.append(LibbpfRelo(r.prog, r.index, m["kind"], m["spec"], m["access"],
                              resolved=r.matched, target_offset=int(off[1]) if off else None,
                              errors=[r.error] if r.error else []))
    return out


def libbpf_relocations(bpftool: str, obj: Path, kernel_btf: Path) -> list[LibbpfRelo]:
    """Every CO-RE relocation of ``obj`` as libbpf resolves it against ``kernel_btf``."""
    with tempfile.TemporaryDirectory() as d:
        _, log = run_bpftool(bpftool, kernel_btf, obj, Path(d) / "min.btf")
    return relocations_from_log(log)
