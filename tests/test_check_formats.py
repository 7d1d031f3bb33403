"""`bpfls check` output formats on a fixed report: text, json, SARIF (schema-validated), github."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from bpfls.analysis.diagnostics import Diagnostic, KernelFact, Severity
from bpfls.analysis.report import FileReport, KernelResult, RelocationReport
from bpfls.cli.formats import format_github, format_json, format_sarif, format_text
from bpfls.project.kernels import Kernel, KernelSet
from bpfls.source.positions import Range

SCHEMA = Path(__file__).parent / "data" / "sarif-2.1.0-rtm.5.json"


@pytest.fixture()
def report(tmp_path: Path) -> tuple[list[FileReport], KernelSet]:
    path = str(tmp_path / "prog.bpf.c")
    diag = Diagnostic(
        code="field-missing", severity=Severity.ERROR,
        message="'state' is missing in struct task_struct on 6.1, 6.12: use __state, or guard "
                "with bpf_core_field_exists(), 50% sure",
        path=path, range=Range.of(9, 26, 9, 31), kernels=("6.1", "6.12"),
        facts=(KernelFact("6.1", "no member 'state'"),))
    hint = Diagnostic(code="constant-check", severity=Severity.HINT, message="always true",
                      path=path, range=Range.of(3, 4, 3, 10))
    relo = RelocationReport("byte_off", "struct task_struct.state", path,
                            Range.of(9, 26, 9, 31), guarded=False, reachable=True,
                            results={"5.10": KernelResult(True, 16, 8),
                                     "6.1": KernelResult(False)})
    kernels = KernelSet((Kernel("5.10", "/k/5.10.btf", None), Kernel("6.1", "/k/6.1.btf", None,
                                                                     "bad magic")), "6.1")
    return [FileReport(path, [hint, diag], [relo])], kernels


def test_text(report) -> None:
    reports, ks = report
    out = format_text(reports, ks).splitlines()
    assert out[0].endswith("prog.bpf.c:4:5: hint: always true [constant-check]")
    assert out[1].endswith("prog.bpf.c:10:27: error: 'state' is missing in struct task_struct "
                           "on 6.1, 6.12: use __state, or guard with bpf_core_field_exists(), "
                           "50% sure [field-missing]")
    assert out[2].startswith("1 error in 1 file (1 CO-RE relocation checked against")


def test_json(report) -> None:
    reports, ks = report
    doc = json.loads(format_json(reports, ks))
    assert doc["version"] == 1 and doc["primary"] == "6.1"
    assert doc["kernels"][1] == {"name": "6.1", "path": "/k/6.1.btf", "error": "bad magic"}
    f = doc["files"][0]
    d = f["diagnostics"][1]
    assert d["code"] == "field-missing" and d["kernels"] == ["6.1", "6.12"]
    assert d["range"] == {"start": {"line": 10, "column": 27}, "end": {"line": 10, "column": 32}}
    r = f["relocations"][0]
    assert r["kind"] == "byte_off" and r["spec"] == "struct task_struct.state"
    assert r["results"] == {"5.10": {"resolved": True, "offset": 16, "size": 8},
                            "6.1": {"resolved": False, "offset": None, "size": None}}


def test_sarif_is_valid(report) -> None:
    reports, ks = report
    doc = json.loads(format_sarif(reports, ks))
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(doc)
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["constant-check",
                                                                 "field-missing"]
    res = run["results"][1]
    assert res["ruleId"] == "field-missing" and res["level"] == "error"
    region = res["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (10, 27)


def test_sarif_schema_catches_mistakes(report) -> None:
    """The validation above can fail: a broken document is rejected."""
    reports, ks = report
    doc = json.loads(format_sarif(reports, ks))
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(doc)


def test_github(report) -> None:
    reports, ks = report
    lines = format_github(reports, ks).splitlines()
    assert len(lines) == 1  # hints are not annotated
    assert lines[0].startswith("::error file=")
    assert ",line=10,col=27,endLine=10,endColumn=32,title=bpfls field-missing::" in lines[0]
    assert lines[0].endswith("50%25 sure")
