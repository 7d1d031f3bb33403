"""Hover, completion, go to definition and quick fixes over the protocol, with their content
and positions in the client's encoding."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from .lspclient import ROOT, close_doc, diagnostics, is_pull, open_doc

pytestmark = [pytest.mark.asyncio(loop_scope="session"),
              pytest.mark.filterwarnings("error::pytest_lsp.LspSpecificationWarning")]

EXAMPLE = ROOT / "examples" / "task_state.bpf.c"
# a comment with characters of 2, 3 and 4 UTF-8 bytes before the tokens asked about
TEXT = EXAMPLE.read_text().replace(
    "int ppid = BPF_CORE_READ(next, real_parent, tgid);",
    "int ppid = /* é€𝄞 */ BPF_CORE_READ(next, real_parent, tgid);")


def _units(client: LanguageClient, s: str) -> int:
    if is_pull(client):  # Neovim: UTF-8 negotiated
        return len(s.encode("utf-8"))
    return len(s.encode("utf-16-le")) // 2


def _at(client: LanguageClient, needle: str, offset: int = 0) -> lsp.Position:
    for i, line in enumerate(TEXT.splitlines()):
        if needle in line:
            return lsp.Position(i, _units(client, line[:line.index(needle) + offset]))
    raise AssertionError(needle)


@pytest_asyncio.fixture(loop_scope="session")
async def doc(client: LanguageClient):
    uri = (ROOT / "examples" / "features.bpf.c").as_uri()
    open_doc(client, uri, TEXT)
    await diagnostics(client, uri, lambda d: any(x.code == "field-missing" for x in d))
    yield lsp.TextDocumentIdentifier(uri)
    close_doc(client, uri)


async def test_hover_member_on_every_kernel(client: LanguageClient, doc):
    h = await client.text_document_hover_async(
        lsp.HoverParams(doc, _at(client, "real_parent", 4)))
    assert h is not None and h.contents.kind == lsp.MarkupKind.Markdown
    text = h.contents.value
    assert "real_parent" in text and "struct task_struct" in text
    assert all(k in text for k in ("5.10-amd64", "6.1-amd64", "6.12-amd64"))
    assert h.range.start == _at(client, "real_parent")
    assert h.range.end == _at(client, "real_parent", len("real_parent"))


async def test_completion_members_with_kernels_missing(client: LanguageClient, doc):
    after = "BPF_CORE_READ(next, "
    pos = _at(client, after, len(after))
    res = await client.text_document_completion_async(lsp.CompletionParams(
        doc, pos, lsp.CompletionContext(lsp.CompletionTriggerKind.TriggerCharacter, ",")))
    items = {i.label: i for i in res.items}
    assert {"real_parent", "pid", "tgid", "__state"} <= set(items)
    assert items["real_parent"].kind == lsp.CompletionItemKind.Field
    assert "5.10-amd64" in items["__state"].detail  # missing there
    assert "missing" not in (items["pid"].detail or "")
    edit = items["real_parent"].text_edit
    if res.item_defaults is not None and res.item_defaults.edit_range is not None:
        assert edit is None and res.item_defaults.edit_range.start == pos  # Neovim
    else:
        assert edit.range.start == pos and edit.new_text == "real_parent"
    # documentation: in the list, or through completionItem/resolve when the client says so
    item = items["__state"]
    if item.documentation is None:
        item = await client.completion_item_resolve_async(item)
    doc = item.documentation.value if hasattr(item.documentation, "value") else \
        item.documentation
    assert "missing on 5.10-amd64" in doc


async def test_completion_continues_after_a_space(client: LanguageClient, doc):
    """`BPF_CORE_READ(next, ` typed with the usual space: the space asks again (clients close
    the list the "," opened) and gets the members; a space anywhere else gets nothing."""
    after = "BPF_CORE_READ(next, "
    res = await client.text_document_completion_async(lsp.CompletionParams(
        doc, _at(client, after, len(after)),
        lsp.CompletionContext(lsp.CompletionTriggerKind.TriggerCharacter, " ")))
    assert {"real_parent", "pid", "tgid"} <= {i.label for i in res.items}
    line = next(ln for ln in TEXT.splitlines() if " = " in ln and "BPF_CORE_READ" not in ln)
    head = line[:line.index(" = ") + 3]
    res = await client.text_document_completion_async(lsp.CompletionParams(
        doc, _at(client, head, len(head)),
        lsp.CompletionContext(lsp.CompletionTriggerKind.TriggerCharacter, " ")))
    assert list(res.items) == []


async def test_completion_trigger_characters(client: LanguageClient):
    caps = client.init_result.capabilities
    assert set(caps.completion_provider.trigger_characters) == {">", ".", ",", "(", '"', "/",
                                                                " "}
    enc = caps.position_encoding
    assert enc == (lsp.PositionEncodingKind.Utf8 if is_pull(client)
                   else lsp.PositionEncodingKind.Utf16)


async def test_definition_local_and_kernel_types(client: LanguageClient, doc):
    [loc] = await client.text_document_definition_async(
        lsp.DefinitionParams(doc, _at(client, "task_struct___o *)prev", 2)))
    assert loc.uri == doc.uri
    assert TEXT.splitlines()[loc.range.start.line].startswith("struct task_struct___o {")

    locs = await client.text_document_definition_async(
        lsp.DefinitionParams(doc, _at(client, "task_struct *prev", 2)))
    assert locs
    header = Path(locs[0].uri.removeprefix("file://"))
    assert header.suffix == ".h" and header.exists()
    line = header.read_text().splitlines()[locs[0].range.start.line]
    assert "struct task_struct" in line


async def test_quick_fix_applied_clears_the_diagnostic(client: LanguageClient, doc):
    diags = await diagnostics(client, doc.uri, lambda d: any(x.code == "field-missing"
                                                             for x in d))
    [d] = [x for x in diags if x.code == "field-missing"]
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        doc, d.range, lsp.CodeActionContext([d], only=[lsp.CodeActionKind.QuickFix])))
    assert actions
    # the kernels reach the engine: the fixes that need them (the renamed member) are offered
    assert any("__state" in a.title for a in actions), [a.title for a in actions]
    fix = next(a for a in actions if a.is_preferred) if any(a.is_preferred
                                                            for a in actions) else actions[0]
    assert fix.kind == lsp.CodeActionKind.QuickFix
    assert any(x.code == "field-missing" for x in fix.diagnostics or [])
    edits = fix.edit.changes[doc.uri]
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(version=2, uri=doc.uri),
        [lsp.TextDocumentContentChangePartial(e.range, e.new_text)
         for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character),
                         reverse=True)]))
    await diagnostics(client, doc.uri, lambda d: not any(x.code == "field-missing"
                                                         for x in d))
    # nothing asked for outside quick fixes
    assert not await client.text_document_code_action_async(lsp.CodeActionParams(
        doc, d.range, lsp.CodeActionContext([d], only=[lsp.CodeActionKind.Refactor])))


async def _command(client: LanguageClient, name: str, *args):
    return await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=name, arguments=list(args)))


async def test_kernel_type_commands(client: LanguageClient):
    commands = client.init_result.capabilities.execute_command_provider.commands
    assert {"bpfls.listKernels", "bpfls.listTypes", "bpfls.renderType"} <= set(commands)
    ks = await _command(client, "bpfls.listKernels")
    assert [k["name"] for k in ks] == ["5.10-amd64", "6.1-amd64", "6.12-amd64"]
    assert [k["primary"] for k in ks] == [False, False, True]
    assert all(k["loaded"] and not k["error"] for k in ks)

    names = await _command(client, "bpfls.listTypes",
                           {"kernel": "6.12-amd64", "prefix": "task_st", "limit": 20})
    assert "struct task_struct" in names and len(names) <= 20
    new = (await _command(client, "bpfls.renderType",
                          {"kernel": "6.12-amd64", "name": "struct task_struct"}))["text"]
    old = (await _command(client, "bpfls.renderType",
                          {"kernel": "5.10-amd64", "name": "task_struct"}))["text"]
    assert "__state;" in new and "__state;" not in old and " state;" in old
    for bad in ({"kernel": "nope", "name": "struct task_struct"},
                {"kernel": "6.12-amd64", "name": "struct no_such_type"}, "not an object"):
        with pytest.raises(Exception, match="nope|no_such_type|object"):
            await _command(client, "bpfls.renderType", bad)
