"""A 300-line program typed one character at a time (one didChange per character), with
hover and completion requested at the cursor along the way: the server answers every
request, logs no error, and ends with the diagnostics ``bpfls check`` gives for the text."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from .lspclient import (
    AMD64,
    PRIMARY,
    SAMPLE,
    close_doc,
    diagnostics,
    errors_shown,
    is_pull,
    log_errors,
    open_doc,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"),
              pytest.mark.filterwarnings("error::pytest_lsp.LspSpecificationWarning")]

HEAD = """\
// Typed one character at a time: état, naïve, ☕ and 𝄞 keep the columns honest.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));
struct task_struct___x { unsigned int __state; } __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
    if (bpf_core_field_exists(((struct task_struct___x *)t)->__state))
        return BPF_CORE_READ((struct task_struct___x *)t, __state);
    return BPF_CORE_READ((struct task_struct___o *)t, state);
}
"""

BLOCK = """
SEC("kprobe/do_unlinkat_{i}")
int BPF_KPROBE(prog_{i}, int dfd, struct filename *name)
{{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    int ppid = BPF_CORE_READ(task, real_parent, tgid);
    const char *fname = BPF_CORE_READ(name, name);  /* « {i} » */
    long st = {state};
    bpf_printk("%d %s %ld", ppid, fname, st);
    return 0;
}}
"""


def program(lines: int = 300) -> str:
    parts = [HEAD]
    i = 0
    while sum(p.count("\n") for p in parts) + BLOCK.count("\n") + 1 <= lines:
        # every fifth program reads the state unguarded (flagged on 6.1 and 6.12)
        state = ("BPF_CORE_READ((struct task_struct___o *)task, state)" if i % 5 == 4
                 else "task_state(task)")
        parts.append(BLOCK.format(i=i, state=state))
        i += 1
    parts.append('\nchar LICENSE[] SEC("license") = "GPL";\n')
    text = "".join(parts)
    return text + "\n" * (lines - text.count("\n"))


def _check(path) -> list[tuple]:
    args = [sys.executable, "-m", "bpfls", "check", str(path), "--format", "json",
            "--primary", PRIMARY, "-D__TARGET_ARCH_x86"]
    for n in AMD64:
        args += ["--kernel", f"{n}={SAMPLE / f'{n}.btf.xz'}"]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    diags = json.loads(out.stdout)["files"][0]["diagnostics"]
    return sorted((d["code"], d["range"]["start"]["line"] - 1, d["message"]) for d in diags)


async def test_type_a_program_one_character_at_a_time(client: LanguageClient, tmp_path):
    text = program(300)
    assert text.count("\n") == 300
    path = tmp_path / "typed.bpf.c"
    path.write_text(text)
    expected = _check(path)
    assert any(code == "field-missing" for code, _, _ in expected)

    utf8 = is_pull(client)  # Neovim negotiated UTF-8, VS Code speaks UTF-16

    def units(s: str) -> int:
        return len(s.encode("utf-8")) if utf8 else len(s.encode("utf-16-le")) // 2

    uri = path.as_uri()
    ident = lsp.TextDocumentIdentifier(uri)
    log_mark = len(log_errors(client))
    open_doc(client, uri, "", 0)
    line, col, version = 0, 0, 0
    answered = 0
    for n, ch in enumerate(text):
        version += 1
        pos = lsp.Position(line, col)
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(version=version, uri=uri),
            [lsp.TextDocumentContentChangePartial(lsp.Range(pos, pos), ch)]))
        if ch == "\n":
            line, col = line + 1, 0
        else:
            col += units(ch)
        if n % 97 == 0:
            cursor = lsp.Position(line, col)
            hover, completion = await asyncio.gather(
                client.text_document_hover_async(lsp.HoverParams(ident, cursor)),
                client.text_document_completion_async(lsp.CompletionParams(
                    ident, cursor, lsp.CompletionContext(
                        lsp.CompletionTriggerKind.TriggerCharacter, ch)
                    if ch in "->.,(\"/" and ch != "-" else None)))
            answered += 1
        if n % 1500 == 1499:  # let an analysis of the half-typed text run
            if utf8:
                await client.text_document_diagnostic_async(lsp.DocumentDiagnosticParams(ident))
            else:
                await asyncio.sleep(0.2)
    assert answered > 50

    def same(diags: list[lsp.Diagnostic]) -> bool:
        return sorted((d.code, d.range.start.line, d.message) for d in diags) == expected
    try:
        await diagnostics(client, uri, same, timeout=30)
    finally:
        close_doc(client, uri)
    assert log_errors(client)[log_mark:] == []
    assert not errors_shown(client)
