"""initialize, initialized, shutdown, and the client's notice that its settings changed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from bpfls.lsp import convert
from bpfls.lsp.paths import fs_path
from bpfls.lsp.settings import merge_settings, unwrap

if TYPE_CHECKING:
    from bpfls.lsp.server import BpflsServer


def initialize(ls: BpflsServer, params: lsp.InitializeParams) -> None:
    ls.encoding = ls.position_encoding()
    ls.push = ls.cap("text_document.diagnostic") is None
    related = bool(ls.cap("text_document.publish_diagnostics.related_information", False)
                   or ls.cap("text_document.diagnostic.related_information", False))
    tags = (ls.cap("text_document.publish_diagnostics.tag_support.value_set", None)
            or ls.cap("text_document.diagnostic.tag_support.value_set", None) or [])
    ls.converter = convert.DiagnosticConverter(related_information=related, tags=tags)
    folders = params.workspace_folders or []
    ls.root_uri = folders[0].uri if folders else params.root_uri
    ls.root = (fs_path(ls.root_uri) if ls.root_uri else None) or params.root_path
    ls.init_options = params.initialization_options
    ls.log_handler.attach(asyncio.get_running_loop())

    # Start loading the kernels now when workspace/configuration cannot change them
    # (initializationOptions name both the kernels and the primary, or the client has no
    # workspace/configuration); otherwise once it has answered (see initialized).
    init = unwrap(ls.init_options) or {}
    if (init.get("kernels") and init.get("primary")) or not ls.cap(
            "workspace.configuration", False):
        ls.apply_settings(merge_settings(ls.init_options, None, ls.root))


def initialized(ls: BpflsServer, params: lsp.InitializedParams) -> None:
    ls.on_initialized()
    ls.request_configure()


def shutdown(ls: BpflsServer, params: None) -> None:
    ls.stop()


def did_change_configuration(ls: BpflsServer, params: lsp.DidChangeConfigurationParams) -> None:
    ls.pushed_settings = params.settings
    ls.request_configure()
