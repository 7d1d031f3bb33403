"""Diagnostics over the protocol: pushed to VS Code, pulled by Neovim, equal to
``bpfls check``'s, with kernels, facts and codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from .lspclient import (
    AMD64,
    PRIMARY,
    ROOT,
    SAMPLE,
    close_doc,
    diagnostics,
    is_pull,
    open_doc,
    replace_all,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"),
              pytest.mark.filterwarnings("error::pytest_lsp.LspSpecificationWarning")]

EXAMPLE = ROOT / "examples" / "task_state.bpf.c"
CORPUS = sorted((ROOT / "tests" / "corpus").glob("*.bpf.c"))


def _check_json(path) -> list[dict]:
    args = [sys.executable, "-m", "bpfls", "check", str(path), "--format", "json",
            "--primary", PRIMARY, "-D__TARGET_ARCH_x86"]
    for n in AMD64:
        args += ["--kernel", f"{n}={SAMPLE / f'{n}.btf.xz'}"]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)["files"][0]["diagnostics"]


async def test_task_state_flagged_on_6x_only(client: LanguageClient):
    uri = EXAMPLE.as_uri()
    open_doc(client, uri, EXAMPLE.read_text())
    try:
        diags = await diagnostics(client, uri, lambda d: any(x.code == "field-missing"
                                                             for x in d))
    finally:
        close_doc(client, uri)
    [d] = [x for x in diags if x.code == "field-missing"]
    assert d.severity == lsp.DiagnosticSeverity.Error
    assert d.source == "bpfls"
    line = EXAMPLE.read_text().splitlines()[d.range.start.line]
    assert line[d.range.start.character:d.range.end.character] == "state"
    assert "6.1-amd64" in d.message and "6.12-amd64" in d.message
    assert "5.10-amd64" not in d.message
    assert d.data["kernels"] == ["6.1-amd64", "6.12-amd64"]
    facts = {r.message.split(":", 1)[0]: r.message for r in d.related_information}
    assert set(facts) == set(AMD64)
    assert "offset" in facts["5.10-amd64"]
    assert "no member 'state'" in facts["6.12-amd64"]
    assert all(r.location.uri == uri for r in d.related_information)


async def test_push_or_pull_by_client(client: LanguageClient):
    """Neovim advertises pull diagnostics and gets no publishDiagnostics; VS Code 1.65 does
    not and gets them pushed."""
    uri = (ROOT / "examples" / "task_state_fixed.bpf.c").as_uri()
    open_doc(client, uri, (ROOT / "examples" / "task_state_fixed.bpf.c").read_text())
    try:
        diags = await diagnostics(client, uri)
        assert not [d for d in diags if d.severity == lsp.DiagnosticSeverity.Error]
        if is_pull(client):
            assert uri not in client.diagnostics
        else:
            assert uri in client.diagnostics
    finally:
        close_doc(client, uri)


@pytest.mark.parametrize("path", [EXAMPLE, *CORPUS], ids=lambda p: p.name)
async def test_same_as_bpfls_check(client: LanguageClient, path, tmp_path):
    text = path.read_text()
    copy = tmp_path / path.name  # a snapshot: the corpus may be edited meanwhile
    copy.write_text(text)
    expected = sorted((d["code"], d["range"]["start"]["line"] - 1,
                       d["range"]["start"]["column"] - 1, d["message"])
                      for d in _check_json(copy) if d["path"] == str(copy))
    lines = text.splitlines()

    def got(diags: list[lsp.Diagnostic]) -> list[tuple]:
        # the files are ASCII: UTF-16 and UTF-8 columns are byte columns
        assert all(lines[d.range.start.line].isascii() for d in diags)
        return sorted((d.code, d.range.start.line, d.range.start.character, d.message)
                      for d in diags)
    uri = copy.as_uri()
    open_doc(client, uri, text)
    try:
        diags = await diagnostics(client, uri, lambda d: got(d) == expected, timeout=10)
    finally:
        close_doc(client, uri)
    assert got(diags) == expected


async def test_non_ascii_positions(client: LanguageClient):
    """Columns in the client's encoding (UTF-8 for Neovim, UTF-16 for VS Code) around
    characters of 2, 3 and 4 UTF-8 bytes (the last one two UTF-16 units)."""
    text = EXAMPLE.read_text().replace(
        "BPF_CORE_READ((struct task_struct___o *)prev, state)",
        "BPF_CORE_READ((struct task_struct___o *)prev, /* é€𝄞 */ state)")
    uri = (ROOT / "examples" / "nonascii.bpf.c").as_uri()
    open_doc(client, uri, text)
    try:
        diags = await diagnostics(client, uri, lambda d: any(x.code == "field-missing"
                                                             for x in d))
    finally:
        close_doc(client, uri)
    [d] = [x for x in diags if x.code == "field-missing"]
    line = text.splitlines()[d.range.start.line]
    i = line.index("*/ state") + 3
    utf8 = is_pull(client)  # Neovim offers utf-8 first
    unit = (lambda s: len(s.encode("utf-8"))) if utf8 else \
        (lambda s: len(s.encode("utf-16-le")) // 2)
    assert d.range.start.character == unit(line[:i])
    assert d.range.end.character == unit(line[:i + len("state")])


async def test_edit_updates_diagnostics(client: LanguageClient):
    uri = (ROOT / "examples" / "edited.bpf.c").as_uri()
    bad = EXAMPLE.read_text()
    open_doc(client, uri, bad)
    try:
        await diagnostics(client, uri, lambda d: any(x.code == "field-missing" for x in d))
        replace_all(client, uri, (ROOT / "examples" / "task_state_fixed.bpf.c").read_text(), 2)
        diags = await diagnostics(client, uri, lambda d: not any(x.code == "field-missing"
                                                                 for x in d))
        assert not [d for d in diags if d.severity == lsp.DiagnosticSeverity.Error]
    finally:
        close_doc(client, uri)


HEADER = """\
#pragma once
struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));

static __always_inline long old_state(struct task_struct *t)
{
    return BPF_CORE_READ((struct task_struct___o *)t, state);
}
"""

PROGRAM = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "common.h"

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    long state = old_state(prev);
    bpf_printk("%ld", state);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


async def test_diagnostics_in_an_included_header(client: LanguageClient, tmp_path):
    """What checking a program finds in a header it includes goes to the header: pushed
    under its URI, or as a related document of the pulled report; an open header included
    by an open program shows those, not what analysing it on its own would say."""
    (tmp_path / "common.h").write_text(HEADER)
    prog = tmp_path / "prog.bpf.c"
    prog.write_text(PROGRAM)
    [expected] = [d for d in _check_json(prog) if d["path"].endswith("common.h")]
    assert expected["code"] == "field-missing"
    line, col = expected["range"]["start"]["line"] - 1, expected["range"]["start"]["column"] - 1
    header_uri = (tmp_path / "common.h").as_uri()
    puri = prog.as_uri()
    client.diagnostics.pop(header_uri, None)
    open_doc(client, puri, PROGRAM)

    def in_header(items) -> bool:
        return [(d.code, d.range.start.line, d.range.start.character, d.message)
                for d in items] == [("field-missing", line, col, expected["message"])]
    if is_pull(client):
        rep = await client.text_document_diagnostic_async(
            lsp.DocumentDiagnosticParams(lsp.TextDocumentIdentifier(puri)))
        assert not rep.items
        assert in_header(rep.related_documents[header_uri].items)
    else:
        await diagnostics(client, header_uri, in_header)
        assert not client.diagnostics.get(puri)

    open_doc(client, header_uri, HEADER)
    await diagnostics(client, header_uri, in_header)
    close_doc(client, header_uri)
    close_doc(client, puri)
    if not is_pull(client):
        await diagnostics(client, header_uri, lambda d: d == [])
