"""Engine results → protocol objects (positions through the document's encoding)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lsprotocol import types as lsp

from bpfls.analysis.diagnostics import Diagnostic, Severity
from bpfls.analysis.report import PREDICTED
from bpfls.lsp.documents import Snapshot
from bpfls.lsp.paths import path_to_uri
from bpfls.source.positions import Range

SOURCE = "bpfls"

_SEVERITY = {
    Severity.ERROR: lsp.DiagnosticSeverity.Error,
    Severity.WARNING: lsp.DiagnosticSeverity.Warning,
    Severity.INFO: lsp.DiagnosticSeverity.Information,
    Severity.HINT: lsp.DiagnosticSeverity.Hint,
}

#: codes whose range is code that has no effect (shown faded when the client can)
_UNNECESSARY = {"unreachable-relocation"}

_COMPLETION_KIND = {
    "field": lsp.CompletionItemKind.Field,
    "struct": lsp.CompletionItemKind.Struct,
    "union": lsp.CompletionItemKind.Struct,
    "enum": lsp.CompletionItemKind.Enum,
    "typedef": lsp.CompletionItemKind.TypeParameter,
    "enumerator": lsp.CompletionItemKind.EnumMember,
    "function": lsp.CompletionItemKind.Function,
    "tracepoint": lsp.CompletionItemKind.Event,
    "program-type": lsp.CompletionItemKind.Module,
    "keyword": lsp.CompletionItemKind.Keyword,
    "macro": lsp.CompletionItemKind.Constant,
    "variable": lsp.CompletionItemKind.Variable,
    "file": lsp.CompletionItemKind.File,
}


def lsp_range(snap: Snapshot, r: Range) -> lsp.Range:
    (sl, sc), (el, ec) = snap.range_to_client(r)
    return lsp.Range(lsp.Position(sl, sc), lsp.Position(el, ec))


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


class DiagnosticConverter:
    """Engine diagnostics → protocol diagnostics, shaped by what the client supports."""

    def __init__(self, related_information: bool = True, tags: Sequence[int] = (),
                 data: bool = True) -> None:
        self.related_information = related_information
        self.tags = set(tags)
        self.data = data

    def convert(self, d: Diagnostic, snap: Snapshot, uri: str,
                source: str = PREDICTED) -> lsp.Diagnostic:
        """``source``: how the diagnostic was found, ``"predicted"`` (from the source) or
        ``"compiled"`` (from clang's object), given in ``data.source``."""
        rng = lsp_range(snap, d.range)
        message = d.message
        if d.kernels and not all(k in message for k in d.kernels) and \
                "every configured kernel" not in message:
            message += f" (on {', '.join(d.kernels)})"
        related = None
        if d.facts and self.related_information:
            related = [lsp.DiagnosticRelatedInformation(lsp.Location(uri, rng),
                                                        f"{f.kernel}: {f.text}")
                       for f in d.facts]
        tags = None
        if d.code in _UNNECESSARY and lsp.DiagnosticTag.Unnecessary in self.tags:
            tags = [lsp.DiagnosticTag.Unnecessary]
        data = None
        if self.data:
            extra = {} if related is not None or not d.facts else {
                "facts": [{"kernel": f.kernel, "text": f.text} for f in d.facts]}
            data = _jsonable({**d.data, "kernels": list(d.kernels), **extra,
                              "source": source})
        return lsp.Diagnostic(range=rng, message=message, severity=_SEVERITY[d.severity],
                              code=d.code, source=SOURCE, tags=tags,
                              related_information=related, data=data)


def markup(value: str, formats: Sequence[str]) -> lsp.MarkupContent | str:
    """Markdown when the client takes it, else plain text (a bare string when the client
    named no format at all)."""
    if lsp.MarkupKind.Markdown in formats:
        return lsp.MarkupContent(lsp.MarkupKind.Markdown, value)
    if lsp.MarkupKind.PlainText in formats:
        return lsp.MarkupContent(lsp.MarkupKind.PlainText, value)
    return value


def hover(info, snap: Snapshot, formats: Sequence[str]) -> lsp.Hover | None:
    if info is None or not getattr(info, "markdown", None):
        return None
    rng = lsp_range(snap, info.range) if getattr(info, "range", None) is not None else None
    return lsp.Hover(contents=markup(info.markdown, formats), range=rng)


def _entry_doc(e) -> tuple[str | None, str | None]:
    """(detail, documentation) of a completion entry, the kernels it is missing on noted."""
    detail = e.detail or None
    doc = e.documentation
    missing = tuple(getattr(e, "missing_on", ()) or ())
    if missing:
        note = f"missing on {', '.join(missing)}"
        detail = f"{detail} ({note})" if detail else note
        doc = f"{doc}\n\n*{note}*" if doc else f"*{note}*"
    return detail, doc


def completion(result, snap: Snapshot, formats: Sequence[str],
               resolve_key: str | None = None,
               edit_range_default: bool = False) -> lsp.CompletionList:
    """``resolve_key``: leave documentation out (completionItem/resolve brings it), each
    item's ``data`` naming the result and its index. ``edit_range_default``: the client
    takes the range being completed once for the list (``itemDefaults.editRange``)."""
    if result is None:
        return lsp.CompletionList(is_incomplete=False, items=[])
    replace = getattr(result, "replace_range", None)
    rng = lsp_range(snap, replace) if replace is not None else None
    shared = rng is not None and edit_range_default
    items = []
    for i, e in enumerate(result.items):
        detail, doc = _entry_doc(e)
        new_text = e.insert_text if e.insert_text is not None else e.label
        item = lsp.CompletionItem(
            label=e.label,
            kind=_COMPLETION_KIND.get(e.kind, lsp.CompletionItemKind.Text),
            detail=detail,
            documentation=markup(doc, formats) if doc and resolve_key is None else None,
            sort_text=e.sort_text,
            filter_text=e.filter_text,
            data={"r": resolve_key, "i": i} if resolve_key is not None and doc else None,
        )
        if shared:
            item.text_edit_text = new_text if new_text != e.label else None
        elif rng is not None:
            item.text_edit = lsp.TextEdit(rng, new_text)
        else:
            item.insert_text = e.insert_text
        items.append(item)
    defaults = lsp.CompletionItemDefaults(edit_range=rng) if shared else None
    return lsp.CompletionList(is_incomplete=bool(result.is_incomplete), items=items,
                              item_defaults=defaults)


def resolve_completion(item: lsp.CompletionItem, entries, formats: Sequence[str]
                       ) -> lsp.CompletionItem:
    """Fill in the documentation left out of a completion list (see ``completion``)."""
    data = item.data if isinstance(item.data, dict) else {}
    i = data.get("i")
    if entries is None or not isinstance(i, int) or not 0 <= i < len(entries) \
            or entries[i].label != item.label:
        return item
    _, doc = _entry_doc(entries[i])
    if doc:
        item.documentation = markup(doc, formats)
    return item


def location(loc, snapshot_of: Callable[[str], Snapshot | None]) -> lsp.Location | None:
    snap = snapshot_of(loc.path)
    if snap is None:
        return None
    return lsp.Location(path_to_uri(loc.path), lsp_range(snap, loc.range))


def code_action(action, snapshot_of: Callable[[str], Snapshot | None],
                diagnostic: Callable[[Diagnostic], lsp.Diagnostic | None]) -> lsp.CodeAction:
    changes: dict[str, list[lsp.TextEdit]] = {}
    for e in action.edits:
        snap = snapshot_of(e.path)
        if snap is None:
            continue
        changes.setdefault(path_to_uri(e.path), []).append(
            lsp.TextEdit(lsp_range(snap, e.range), e.new_text))
    diags = [x for x in (diagnostic(d) for d in action.diagnostics) if x is not None]
    return lsp.CodeAction(title=action.title, kind=action.kind or lsp.CodeActionKind.QuickFix,
                          diagnostics=diags or None,
                          is_preferred=True if action.preferred else None,
                          edit=lsp.WorkspaceEdit(changes=changes))
