"""Output formats of ``bpfls check``: text, json, sarif, github."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from bpfls import __version__
from bpfls.analysis.diagnostics import CODES, Diagnostic, Severity
from bpfls.analysis.report import COMPILED, OBJECT, FileReport, ProgramReport, ProgramResult
from bpfls.project.kernels import KernelSet

INFO_URI = "https://github.com/bpfls/bpfls"


def _display_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _sorted(diags: Sequence[Diagnostic]) -> list[Diagnostic]:
    return sorted(diags, key=lambda d: (d.path, d.range.start, d.code))


def format_text(reports: Sequence[FileReport], kernels: KernelSet) -> str:
    """``path:line:col: severity: message [code]`` (1-based), then a summary line."""
    lines = []
    counts = {s: 0 for s in Severity}
    for rep in reports:
        for d in _sorted(rep.diagnostics):
            counts[d.severity] += 1
            p = d.range.start
            lines.append(f"{_display_path(d.path)}:{p.line + 1}:{p.column + 1}: "
                         f"{d.severity.value}: {d.message} [{d.code}]")
            if "source_line" in d.data:  # an object's source that is not here
                lines.append(f"    {d.data['source_line'].strip()}")
    nrel = sum(len(r.relocations) for r in reports)
    loaded = ", ".join(k.name for k in kernels.loaded)
    parts = [f"{counts[s]} {s.value}{'s' if counts[s] != 1 else ''}"
             for s in (Severity.ERROR, Severity.WARNING, Severity.INFO) if counts[s]]
    unread = sum(1 for r in reports if r.error)
    if unread:
        parts.append(f"{unread} unreadable file{'s' if unread != 1 else ''}")
    summary = ", ".join(parts) if parts else "no problems"
    notes = [f"{n} {what[0] if n == 1 else what[1]}" for what, n in _how(reports).items() if n]
    lines.append(f"{summary} in {len(reports)} file{'s' if len(reports) != 1 else ''} "
                 f"({nrel} CO-RE relocation{'s' if nrel != 1 else ''} checked against "
                 f"{loaded or 'no kernels'}; primary {_primary(reports, kernels) or 'none'}"
                 + "".join(f"; {n}" for n in notes) + ")")
    return "\n".join(lines) + "\n"


def _primary(reports: Sequence[FileReport], kernels: KernelSet) -> str | None:
    """The primary kernel the sources were read with, when they all agree (their vmlinux.h
    may pick it), else the configured one."""
    seen = {r.primary for r in reports if r.primary is not None}
    return seen.pop() if len(seen) == 1 else kernels.primary


def _how(reports: Sequence[FileReport]) -> dict[tuple[str, str], int]:
    """How the files were judged, beside the default (predicted from the source), and how
    many parts of them bpfls could not follow."""
    return {
        ("compiled with clang", "compiled with clang"):
            sum(1 for r in reports if r.mode == COMPILED),
        ("BPF object", "BPF objects"): sum(1 for r in reports if r.mode == OBJECT),
        ("part not analysed", "parts not analysed"):
            sum(1 for r in reports for d in r.diagnostics if d.code == "analysis-incomplete"),
    }


def _pos(line: int, col: int) -> dict:
    return {"line": line + 1, "column": col + 1}


def format_json(reports: Sequence[FileReport], kernels: KernelSet) -> str:
    """Lines and columns are 1-based, as in the text format."""
    out = {
        "version": 1,
        "kernels": [{"name": k.name, "path": k.path, **({"error": k.error} if k.error else {})}
                    for k in kernels],
        "primary": kernels.primary,
        "files": [],
    }
    for rep in reports:
        f = {"path": rep.path, "mode": rep.mode, "diagnostics": [], "relocations": [],
             "programs": [_program_json(p) for p in rep.programs]}
        if rep.primary is not None:
            f["primary"] = rep.primary
        if rep.error:
            f["error"] = rep.error
        if rep.drift is not None:
            f["drift"] = {side: [{"kind": e.kind, "spec": e.spec, "path": e.path,
                                  "line": e.line + 1} for e in getattr(rep.drift, side)]
                          for side in ("predicted_not_emitted", "emitted_not_predicted")}
        for d in _sorted(rep.diagnostics):
            f["diagnostics"].append({
                "code": d.code, "severity": d.severity.value, "message": d.message,
                "path": d.path,
                "range": {"start": _pos(d.range.start.line, d.range.start.column),
                          "end": _pos(d.range.end.line, d.range.end.column)},
                "kernels": list(d.kernels),
                "facts": [{"kernel": x.kernel, "text": x.text} for x in d.facts],
            })
        for r in rep.relocations:
            f["relocations"].append({
                "kind": r.kind, "spec": r.spec, "path": r.path,
                "range": {"start": _pos(r.range.start.line, r.range.start.column),
                          "end": _pos(r.range.end.line, r.range.end.column)},
                "guarded": r.guarded, "reachable": r.reachable,
                "results": {k: {"resolved": v.resolved, "offset": v.offset, "size": v.size}
                            for k, v in r.results.items()},
            })
        out["files"].append(f)
    return json.dumps(out, indent=2) + "\n"


def _program_json(p: ProgramReport) -> dict:
    out = {"name": p.name, "section": p.section, "kind": p.kind, "target": p.target,
           "range": {"start": _pos(p.range.start.line, p.range.start.column),
                     "end": _pos(p.range.end.line, p.range.end.column)},
           "results": {k: {"ok": r.ok, "code": r.code, "reason": r.reason}
                       for k, r in p.results.items()}}
    if p.alternative:
        out["alternative"] = p.alternative
    return out


#: a matrix cell: loads and attaches, fails (with the code), BTF cannot tell, loads with a
#: warning (with the code)
OK_MARK, FAIL_MARK, UNKNOWN_MARK, WARN_MARK = "✓", "✗", "?", "!"


def _cell(r: ProgramResult | None) -> str:
    if r is None:
        return "-"
    if r.ok is None:
        return UNKNOWN_MARK
    if r.ok:
        return f"{WARN_MARK} {r.code}" if r.code else OK_MARK
    return f"{FAIL_MARK} {r.code}" if r.code else FAIL_MARK


def format_matrix(reports: Sequence[FileReport], kernels: KernelSet) -> str:
    """The program × kernel table: a row per program (under its file), a column per loaded
    kernel; ✓ loads and attaches, ✗ code fails, ? BTF cannot tell, ! code loads with a
    warning."""
    names = [k.name for k in kernels.loaded]
    rows: list[list[str]] = []
    for rep in reports:
        if not rep.programs:
            continue
        rows.append([f"{_display_path(rep.path)}:"])
        for p in rep.programs:
            rows.append([f"  {p.name}", p.section, *(_cell(p.results.get(n)) for n in names)])
    header = ["program", "section", *names]
    if not rows:
        return "no programs\n"
    width = [max(len(r[i]) for r in [header, *rows] if len(r) > i and len(r) > 1)
             for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        if len(r) == 1:
            lines.append(r[0])
            continue
        lines.append("  ".join(c.ljust(width[i]) for i, c in enumerate(r)).rstrip())
    lines.append(f"{OK_MARK} loads and attaches, {FAIL_MARK} fails (code), {UNKNOWN_MARK} BTF "
                 f"cannot tell, {WARN_MARK} loads with a warning (code)")
    return "\n".join(lines) + "\n"


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note",
                Severity.HINT: "note"}


def _uri(path: str) -> str:
    p = _display_path(path)
    return p.replace(os.sep, "/")


def format_sarif(reports: Sequence[FileReport], kernels: KernelSet) -> str:
    used = sorted({d.code for r in reports for d in r.diagnostics})
    rules = [{
        "id": c,
        "name": "".join(w.capitalize() for w in c.split("-")),
        "shortDescription": {"text": CODES[c].title},
        "fullDescription": {"text": CODES[c].description},
        "defaultConfiguration": {"level": _SARIF_LEVEL[CODES[c].severity]},
        "helpUri": f"{INFO_URI}#{c}",
    } for c in used if c in CODES]
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for rep in reports:
        for d in _sorted(rep.diagnostics):
            s, e = d.range.start, d.range.end
            res = {
                "ruleId": d.code,
                "level": _SARIF_LEVEL[d.severity],
                "message": {"text": d.message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": _uri(d.path)},
                    "region": {"startLine": s.line + 1, "startColumn": s.column + 1,
                               "endLine": e.line + 1, "endColumn": e.column + 1},
                }}],
                "partialFingerprints": {
                    "bpflsDiagnostic/v1": f"{d.code}:{_uri(d.path)}:{d.message}"},
            }
            if d.code in index:
                res["ruleIndex"] = index[d.code]
            if d.kernels:
                res["properties"] = {"kernels": list(d.kernels)}
            results.append(res)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "bpfls", "version": __version__,
                                "informationUri": INFO_URI, "rules": rules}},
            "results": results,
            "properties": {"kernels": [k.name for k in kernels.loaded],
                           "primary": kernels.primary},
        }],
    }
    return json.dumps(doc, indent=2) + "\n"


def _gh_escape(s: str, prop: bool = False) -> str:
    s = s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        s = s.replace(":", "%3A").replace(",", "%2C")
    return s


_GH_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice",
             Severity.HINT: "notice"}


def format_github(reports: Sequence[FileReport], kernels: KernelSet) -> str:
    """GitHub Actions workflow commands: one ``::error file=...`` line per diagnostic."""
    lines = []
    for rep in reports:
        for d in _sorted(rep.diagnostics):
            if d.severity == Severity.HINT:
                continue
            s, e = d.range.start, d.range.end
            props = (f"file={_gh_escape(_uri(d.path), True)},line={s.line + 1},"
                     f"col={s.column + 1},endLine={e.line + 1},endColumn={e.column + 1},"
                     f"title={_gh_escape('bpfls ' + d.code, True)}")
            lines.append(f"::{_GH_LEVEL[d.severity]} {props}::{_gh_escape(d.message)}")
    return "\n".join(lines) + ("\n" if lines else "")


FORMATTERS = {"text": format_text, "json": format_json, "sarif": format_sarif,
              "github": format_github}
