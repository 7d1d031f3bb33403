"""What the client said about itself at initialize, in the terms the server uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lsprotocol import types as lsp
from pygls.capabilities import get_capability

from bpfls.lsp.documents import UTF8, UTF16, UTF32
from bpfls.lsp.paths import fs_path

_ENCODINGS = {lsp.PositionEncodingKind.Utf8: UTF8, lsp.PositionEncodingKind.Utf16: UTF16,
              lsp.PositionEncodingKind.Utf32: UTF32}


def encoding_of(kind: str | None) -> str:
    """The documents' encoding for a negotiated ``PositionEncodingKind`` (UTF-16 when none
    was negotiated)."""
    return _ENCODINGS.get(kind, UTF16) if kind is not None else UTF16


@dataclass(frozen=True)
class ClientFacts:
    """The client's position encoding, workspace, settings and the capabilities the server
    acts on (the defaults: before initialize)."""

    #: how the client counts characters in a line (documents.UTF8, UTF16 or UTF32)
    encoding: str = UTF16
    #: diagnostics are published (the client does not pull them with textDocument/diagnostic)
    push: bool = True
    #: the workspace folder (its path, and its URI for workspace/configuration)
    root: str | None = None
    root_uri: str | None = None
    #: initializationOptions, the first source of the settings
    init_options: Any = None
    #: workspace/configuration requests are answered
    configuration: bool = False
    #: workspace/diagnostic/refresh asks a pulling client to pull again
    diagnostic_refresh: bool = False
    #: window/workDoneProgress/create is supported
    work_done_progress: bool = False
    #: diagnostics may carry related information, and these tags
    related_information: bool = False
    diagnostic_tags: tuple[int, ...] = ()
    #: markup kinds the client renders in hovers, and in completion documentation
    hover_formats: tuple[str, ...] = ()
    documentation_formats: tuple[str, ...] = ()
    #: completionItem/resolve may fill in the documentation left out of a list
    resolve_documentation: bool = False
    #: a completion list may give its edit range once (itemDefaults.editRange)
    shared_edit_range: bool = False
    #: code actions may be answered as CodeAction literals, and marked preferred
    code_action_literals: bool = False
    preferred_code_actions: bool = False

    @classmethod
    def from_initialize(cls, params: lsp.InitializeParams, encoding: str) -> ClientFacts:
        """The facts of an initialize request; ``encoding`` is the one negotiated."""
        caps = params.capabilities

        def cap(field: str, default: Any = None) -> Any:
            try:
                return get_capability(caps, field, default)
            except Exception:  # noqa: BLE001 - a missing path is a missing capability
                return default
        folders = params.workspace_folders or []
        root_uri = folders[0].uri if folders else params.root_uri
        return cls(
            encoding=encoding,
            push=cap("text_document.diagnostic") is None,
            root=(fs_path(root_uri) if root_uri else None) or params.root_path,
            root_uri=root_uri,
            init_options=params.initialization_options,
            configuration=bool(cap("workspace.configuration", False)),
            diagnostic_refresh=bool(cap("workspace.diagnostics.refresh_support", False)),
            work_done_progress=bool(cap("window.work_done_progress", False)),
            related_information=bool(
                cap("text_document.publish_diagnostics.related_information", False)
                or cap("text_document.diagnostic.related_information", False)),
            diagnostic_tags=tuple(
                cap("text_document.publish_diagnostics.tag_support.value_set", None)
                or cap("text_document.diagnostic.tag_support.value_set", None) or ()),
            hover_formats=tuple(cap("text_document.hover.content_format", None) or ()),
            documentation_formats=tuple(cap(
                "text_document.completion.completion_item.documentation_format", None) or ()),
            resolve_documentation="documentation" in (cap(
                "text_document.completion.completion_item.resolve_support.properties", None)
                or ()),
            shared_edit_range="editRange" in (cap(
                "text_document.completion.completion_list.item_defaults", None) or ()),
            code_action_literals=bool(cap(
                "text_document.code_action.code_action_literal_support", None)),
            preferred_code_actions=bool(cap(
                "text_document.code_action.is_preferred_support", False)),
        )
