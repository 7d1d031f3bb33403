"""libbpf as the oracle: compile BPF C with clang and ask libbpf (through
``bpftool -d gen min_core_btf``) what every CO-RE relocation resolves to on a kernel."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_RELO = re.compile(r"prog '(?P<prog>[^']*)': relo #(?P<n>\d+): <(?P<kind>\w+)> \[(?P<id>\d+)\] "
                   r"(?P<spec>.*?)(?: = (?P<val>-?\d+))?"
                   r"(?: \((?P<access>[\d:]+)(?: @ offset (?P<off>\d+))?\))?$")
_CAND = re.compile(r"prog '(?P<prog>[^']*)': relo #(?P<n>\d+): (?P<what>matching|non-matching) "
                   r"candidate #\d+ <\w+> \[(?P<id>\d+)\] (?P<spec>.*?)(?: = (?P<val>-?\d+))?"
                   r"(?: \((?P<access>[\d:]+)(?: @ offset (?P<off>\d+))?\))?$")
_NONE = re.compile(r"prog '(?P<prog>[^']*)': relo #(?P<n>\d+): no matching targets found")
_ERR = re.compile(r"prog '(?P<prog>[^']*)': relo #(?P<n>\d+): (?P<msg>.*(?:ambiguity|failed|"
                  r"unsupported|unexpected|invalid).*)$")


@dataclass
class LibbpfRelo:
    prog: str
    index: int
    kind: str
    spec: str  # libbpf's human spec of the local access, e.g. "struct task_struct.pid"
    access: str | None  # None for type-based relocations
    local_offset: int | None
    local_value: int | None = None  # enum value kinds: the local enumerator's value
    resolved: bool = False
    target_spec: str | None = None
    target_offset: int | None = None
    target_value: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.spec)


def compile_bpf(clang: str, src: Path, include_dir: Path, out_dir: Path,
                defines: tuple[str, ...] = ("__TARGET_ARCH_x86",)) -> Path:
    obj = out_dir / (src.name.removesuffix(".c") + ".o")
    cmd = [clang, "-g", "-O2", "-target", "bpf", *[f"-D{d}" for d in defines],
           f"-I{include_dir}", "-c", str(src), "-o", str(obj)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return obj


def libbpf_relocations(bpftool: str, obj: Path, kernel_btf: Path) -> list[LibbpfRelo]:
    """Every CO-RE relocation of ``obj`` as libbpf resolves it against ``kernel_btf``."""
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([bpftool, "-d", "gen", "min_core_btf", str(kernel_btf),
                            str(Path(d) / "min.btf"), str(obj)],
                           capture_output=True, text=True)
    relos: dict[tuple[str, int], LibbpfRelo] = {}
    order: list[LibbpfRelo] = []
    for line in (r.stdout + r.stderr).splitlines():
        line = line.removeprefix("libbpf: ")
        m = _RELO.search(line)
        if m:
            key = (m["prog"], int(m["n"]))
            if key not in relos:
                rel = LibbpfRelo(m["prog"], int(m["n"]), m["kind"], m["spec"], m["access"],
                                 int(m["off"]) if m["off"] else None,
                                 int(m["val"]) if m["val"] else None)
                relos[key] = rel
                order.append(rel)
            continue
        m = _CAND.search(line)
        if m and m["what"] == "matching":
            rel = relos.get((m["prog"], int(m["n"])))
            if rel is not None:
                rel.resolved = True
                rel.target_spec = m["spec"]
                rel.target_offset = int(m["off"]) if m["off"] else None
                rel.target_value = int(m["val"]) if m["val"] else None
            continue
        m = _ERR.search(line)
        if m:
            rel = relos.get((m["prog"], int(m["n"])))
            if rel is not None:
                rel.errors.append(m["msg"])
    return order
