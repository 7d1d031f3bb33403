"""The documented CI recipe (docs/github-workflow.yml, .pre-commit-hooks.yaml) run as written."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "docs" / "github-workflow.yml"
EXAMPLE = "examples/task_state.bpf.c"


def _run_steps() -> list[str]:
    """The `run:` commands of the workflow that call bpfls check, in order."""
    return [m.group(1).strip() for m in re.finditer(r"^\s+run: (bpfls check .*)$",
                                                     WORKFLOW.read_text(), re.M)]


def _bash(command: str, sources: str) -> subprocess.CompletedProcess[str]:
    # `bpfls` as the workflow's install step provides it: this interpreter's package
    script = f'bpfls() {{ {shlex.quote(sys.executable)} -m bpfls "$@"; }}\n{command}\n'
    env = dict(os.environ, BPF_SOURCES=sources)
    return subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def _line_of(needle: str) -> int:
    for i, line in enumerate((ROOT / EXAMPLE).read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_workflow_annotations_and_sarif_point_at_the_renamed_field(tmp_path: Path) -> None:
    steps = _run_steps()
    assert len(steps) == 2 and "--format github" in steps[0] and "--format sarif" in steps[1]
    line = _line_of("prev, state)")
    col = (ROOT / EXAMPLE).read_text().splitlines()[line - 1].index("state);") + 1

    gh = _bash(steps[0], EXAMPLE)
    assert gh.returncode == 1, gh.stderr  # the step fails the job
    errors = [ln for ln in gh.stdout.splitlines() if ln.startswith("::error ")]
    assert len(errors) == 1, gh.stdout
    props = dict(kv.split("=", 1) for kv in errors[0][len("::error "):].split("::")[0].split(","))
    assert props["file"] == EXAMPLE and props["line"] == str(line) and props["col"] == str(col)
    assert props["title"] == "bpfls field-missing"
    assert "'state' is missing in struct task_struct" in errors[0]
    assert "did you mean '__state'?" in errors[0]

    sarif_step = steps[1].replace("> bpfls.sarif", f"> {tmp_path / 'bpfls.sarif'}")
    sr = _bash(sarif_step, EXAMPLE)
    assert sr.returncode == 0, sr.stderr  # findings do not stop the upload step
    sarif = json.loads((tmp_path / "bpfls.sarif").read_text())
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "field-missing" and result["level"] == "error"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == EXAMPLE
    assert (loc["region"]["startLine"], loc["region"]["startColumn"]) == (line, col)


def test_workflow_on_the_fixed_program_and_on_a_broken_setup(tmp_path: Path) -> None:
    steps = _run_steps()
    fixed = "examples/task_state_fixed.bpf.c"
    assert _bash(steps[0], fixed).returncode == 0
    assert _bash(steps[0], fixed).stdout.strip() == ""
    # a configuration error is not a finding: the SARIF step fails too
    (tmp_path / "bpfls.toml").write_text('[kernels]\n"gone" = "missing.btf"\n')
    prog = tmp_path / "p.bpf.c"
    prog.write_text((ROOT / EXAMPLE).read_text())
    sarif_step = steps[1].replace("> bpfls.sarif", f"> {tmp_path / 'bpfls.sarif'}")
    broken = _bash(sarif_step, str(prog))
    assert broken.returncode != 0 and "missing.btf" in broken.stderr


def test_pre_commit_hook_definition_runs() -> None:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    hook = dict(re.findall(r"^[- ] (\w+): (.*)$", text, re.M))
    for key in ("id", "name", "entry", "language"):
        assert key in hook, key
    assert hook["id"] == "bpfls-check" and hook["language"] == "python"
    assert re.search(hook["files"], EXAMPLE) and not re.search(hook["files"], "user.c")
    argv = shlex.split(hook["entry"])
    assert argv[0] == "bpfls"
    r = subprocess.run([sys.executable, "-m", "bpfls", *argv[1:], EXAMPLE], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and f"{EXAMPLE}:{_line_of('prev, state)')}:" in r.stdout
