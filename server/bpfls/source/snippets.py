"""Text the relocation walker makes and parses: macro expansions and re-read arguments, spelled
out as the body of a function so that tree-sitter parses them as statements (each token keeps
where it came from, see :class:`~bpfls.source.exprtypes.SnippetSource`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bpfls.source.cparse import parse
from bpfls.source.exprtypes import SnippetSource, snippet_from_tokens

if TYPE_CHECKING:
    from tree_sitter import Node, Tree

    from bpfls.source.pptokens import Tok
    from bpfls.source.preprocess import FileUnit

_PREFIX = b"void __bpfls_expansion(void) { "
_SUFFIX = b" ; }"
#: parse trees by snippet text, shared by every analysis (the same expansions recur)
_TREES: dict[bytes, Tree] = {}


def parse_snippet(code: bytes) -> Tree:
    """The parse tree of ``code`` (remembered)."""
    tree = _TREES.get(code)
    if tree is None:
        if len(_TREES) > 8192:
            _TREES.clear()
        tree = _TREES[code] = parse(code)
    return tree


def snippet_body(unit: FileUnit, toks: list[Tok], fallback: tuple[int, int], *,
                 parenthesised: bool = False) -> tuple[SnippetSource, Node | None]:
    """``toks`` as the body of a function (inside parentheses when ``parenthesised``: then
    ``a[2]`` is no declaration): the snippet and the body's compound statement (``None`` when
    it does not parse as one). ``fallback`` is the origin of tokens that have none."""
    snip = snippet_from_tokens(unit, toks, _PREFIX + b"(" if parenthesised else _PREFIX,
                               b")" + _SUFFIX if parenthesised else _SUFFIX, fallback)
    root = parse_snippet(snip.code).root_node
    for c in root.named_children:
        if c.type == "function_definition":
            return snip, c.child_by_field_name("body")
    return snip, None
