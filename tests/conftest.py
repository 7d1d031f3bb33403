"""Shared fixtures: the bundled sample kernels, ../shared/btf, the shared corpus compiled once,
and the bpftool oracle."""

from __future__ import annotations

import lzma
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pytest
from shared_corpus import CLANG, CORPUS_DIR, TOOLS, SharedCorpus, build_corpus, find_tool

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "sample-btf"
SHARED_BTF = ROOT.parent / "shared" / "btf"
IN_CI = bool(os.environ.get("CI"))

# Keep the tests' BTF index cache out of the user's cache directory (subprocesses inherit it).
os.environ["BPFLS_CACHE_DIR"] = tempfile.mkdtemp(prefix="bpfls-test-cache-")


def sample_kernels() -> list[Path]:
    """Every bundled kernel BTF file (``sample-btf/*.btf.xz``)."""
    return sorted(SAMPLE_DIR.glob("*.btf.xz"))


def load_sample_kernels(names, primary: str = "6.12-amd64"):
    """A KernelSet of the named bundled kernels (every one must load)."""
    from bpfls.project.config import Config, KernelSpec
    from bpfls.project.kernels import load_kernels

    ks = load_kernels(Config(kernels=tuple(KernelSpec(n, str(SAMPLE_DIR / f"{n}.btf.xz"))
                                           for n in names), primary=primary))
    assert all(k.ok for k in ks), [k.error for k in ks.failed]
    return ks


@cache
def decompressed(path: Path) -> bytes:
    return lzma.decompress(path.read_bytes())


@pytest.fixture(scope="session")
def raw_sample(tmp_path_factory: pytest.TempPathFactory):
    """Return a function giving an uncompressed copy of a sample kernel (for bpftool)."""
    d = tmp_path_factory.mktemp("raw-btf")

    def get(path: Path) -> Path:
        out = d / path.name.removesuffix(".xz")
        if not out.exists():
            out.write_bytes(decompressed(path))
        return out

    return get


def _require_tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}")
                                  else None)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (.ci/run installs it)")
        pytest.skip(f"{name} not installed (apt-get install {name})")
    return path


@pytest.fixture(scope="session")
def bpftool() -> str:
    return _require_tool("bpftool")


@pytest.fixture(scope="session")
def shared_btf() -> Path:
    if not SHARED_BTF.is_dir():
        pytest.skip("../shared/btf is not present (it is not part of a fresh clone)")
    return SHARED_BTF


def require_tool(name: str) -> str:
    """Path of an external tool the test needs: skip without it, but fail in CI."""
    return _require_tool(name)


def run_bpftool(bpftool: str, *args: str) -> str:
    return subprocess.run([bpftool, *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def shared_corpus(tmp_path_factory: pytest.TempPathFactory, raw_sample) -> SharedCorpus:
    """The programs of ../shared/corpus compiled once with clang-16 against the 6.12-amd64
    sample kernel (its ``build.sh``, two jobs), and the raw sample kernels to judge them on."""
    if not CORPUS_DIR.is_dir():
        pytest.skip("../shared/corpus is not present (it is not part of a fresh clone)")
    tools = {name: find_tool(name) for name in TOOLS}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        reason = (f"the shared corpus needs {', '.join(missing)} "
                  f"(apt-get install {' '.join(TOOLS[m] for m in missing)})")
        if IN_CI:
            pytest.fail(f"{reason}; .ci/run installs them")
        pytest.skip(reason)
    kernels = {k.name.removesuffix(".btf.xz"): raw_sample(k) for k in sample_kernels()}
    return build_corpus(tmp_path_factory.mktemp("shared-corpus"), kernels,
                        cc=tools[CLANG], bpftool=tools["bpftool"])
