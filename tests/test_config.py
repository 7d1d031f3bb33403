"""bpfls.toml, command-line overrides, defaults and kernel loading with broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bpfls.project.config import ConfigError, effective_config, find_config, load_config_file
from bpfls.project.kernels import load_kernels

ROOT = Path(__file__).resolve().parent.parent


def write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_project_file(tmp_path: Path) -> None:
    cfg_file = write(tmp_path / "bpfls.toml", f"""
primary = "6.1"
include = ["include"]
defines = ["__TARGET_ARCH_x86", "DEBUG=1"]
[kernels]
"5.10" = "{ROOT}/sample-btf/5.10-amd64.btf.xz"
"6.1" = "btf/6.1.btf.xz"
[kernels."mod"]
path = "btf/mod.btf"
base = "6.1"
[severity]
read-size-mismatch = "error"
""")
    src = write(tmp_path / "src" / "deep" / "prog.bpf.c", "")
    assert find_config(src) == cfg_file
    cfg = effective_config(src)
    assert cfg.primary == "6.1" and cfg.source == str(cfg_file)
    assert [k.name for k in cfg.kernels] == ["5.10", "6.1", "mod"]
    assert cfg.kernel("6.1").path == str(tmp_path / "btf" / "6.1.btf.xz")
    assert cfg.kernel("mod").base == "6.1"
    assert cfg.include == (str(tmp_path / "include"),)
    assert cfg.severity == {"read-size-mismatch": "error"}

    ks = load_kernels(cfg)
    assert ks.get("5.10").ok
    assert not ks.get("6.1").ok and "no such file" in ks.get("6.1").error
    assert not ks.get("mod").ok and "base kernel '6.1' did not load" in ks.get("mod").error
    assert ks.primary_btf is None and len(ks.loaded) == 1


@pytest.mark.parametrize("text,msg", [
    ("primary = 3", "'primary' must be a kernel name"),
    ('primary = "x"\n[kernels]\n"a" = "a.btf"', "primary 'x' is not a configured kernel"),
    ('[kernels]\n"a" = 1', "must be a path"),
    ('[kernels.a]\npath = "p"\nbase = "zz"', "base 'zz' is not a configured kernel"),
    ('[severity]\nfoo = "loud"', "must be one of"),
    ("colour = 1", "unknown setting 'colour'"),
    ("kernels = [", "invalid TOML"),
])
def test_bad_config(tmp_path: Path, text: str, msg: str) -> None:
    f = write(tmp_path / "bpfls.toml", text)
    with pytest.raises(ConfigError, match=msg) as e:
        load_config_file(f)
    assert str(f) in str(e.value)


def test_defaults_are_the_sample_kernels(tmp_path: Path) -> None:
    cfg = effective_config(tmp_path)
    names = [k.name for k in cfg.kernels]
    # the sample kernels of this machine's architecture (x86 programs read pt_regs the x86 way)
    assert {"5.10-amd64", "6.1-amd64", "6.12-amd64"} <= set(names) or names[:1] == ["6.12-arm64"]
    assert cfg.primary in ("6.12-amd64", "6.12-arm64")
    assert cfg.primary_default  # a program's vmlinux.h may pick another
    ks = load_kernels(cfg)
    assert all(k.ok for k in ks if k.name != "host")
    assert ks.primary_default
    assert not effective_config(tmp_path, primary=cfg.primary).primary_default
    write(tmp_path / "bpfls.toml", f'primary = "{cfg.primary}"\n')
    assert not effective_config(tmp_path).primary_default


def test_a_programs_vmlinux_h_picks_the_default_primary() -> None:
    from dataclasses import replace

    from bpfls.project.kernels import Kernel, KernelSet

    btf = object()
    ks = KernelSet((Kernel("a", "a", btf), Kernel("b", "b", btf), Kernel("bad", "x", None, "e")),
                   "b", primary_default=True)
    assert ks.for_program("a").primary == "a"
    assert ks.for_program(None) is ks and ks.for_program("b") is ks
    assert ks.for_program("bad") is ks and ks.for_program("zz") is ks  # not loaded, unknown
    chosen = replace(ks, primary_default=False)
    assert chosen.for_program("a") is chosen
    assert replace(ks, primary=None, primary_default=False).for_program("a").primary == "a"


def test_cli_overrides(tmp_path: Path) -> None:
    k = str(ROOT / "sample-btf" / "5.10-amd64.btf.xz")
    cfg = effective_config(tmp_path, kernels=[("old", k), ("new", k)], primary="new",
                           include=[str(tmp_path)], defines=["X=1"])
    assert [x.name for x in cfg.kernels] == ["old", "new"] and cfg.primary == "new"
    assert cfg.defines == ("X=1",) and cfg.include == (str(tmp_path),)
    with pytest.raises(ConfigError, match="--primary 'zz'"):
        effective_config(tmp_path, kernels=[("old", k)], primary="zz")
