"""Which variables and parameters a function never reads, as clang's optimiser sees it.

A plain load whose value only goes into a variable nothing reads is dead code: clang removes
it, and with it the relocation of the field it loaded (``unsigned int fd = ctx->args[0];``
with ``fd`` never used again). A read is any later occurrence of the name, in the function's
text or in the bodies of the macros it uses, except as a whole argument of a call to a static
function of the program that itself never reads that parameter (clang inlines it or drops the
dead argument). Whatever cannot be told counts as a read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bpfls.source.macros import macro_identifiers
from bpfls.source.pptokens import IDENT, PUNCT

if TYPE_CHECKING:
    from bpfls.source.pptokens import Tok
    from bpfls.source.translation_unit import FunctionDef, TranslationUnit

#: how many calls deep a parameter is followed
MAX_DEPTH = 4


class Reads:
    """Answers "is this name read" for one translation unit (the macros' identifiers are
    remembered)."""

    def __init__(self, tu: TranslationUnit) -> None:
        self.tu = tu
        self._macro_idents: dict[str, frozenset[str]] = {}

    def macro_identifiers(self, name: str) -> frozenset[str]:
        """The identifiers macro ``name`` may expand to (:func:`bpfls.source.macros.
        macro_identifiers`, kept per name)."""
        got = self._macro_idents.get(name)
        if got is None:
            got = self._macro_idents[name] = frozenset(macro_identifiers(name, self.tu.macros))
        return got

    def read_in(self, name: str, toks: list[Tok], depth: int = 0) -> bool:
        """Whether ``toks`` read ``name``."""
        macros = self.tu.macros
        for i, t in enumerate(toks):
            if t.kind != IDENT:
                continue
            if t.text == name:
                if not self._dead_argument(toks, i, depth):
                    return True
            elif t.text in macros and name in self.macro_identifiers(t.text):
                return True
        return False

    def param_read(self, fd: FunctionDef, index: int, depth: int = 0) -> bool:
        """Whether function ``fd`` reads its parameter number ``index``."""
        if depth > MAX_DEPTH or index >= len(fd.params) or not fd.info.is_static or \
                fd.macro is not None:
            return True
        name = fd.params[index][0]
        body = fd.node.child_by_field_name("body")
        if not name or body is None:
            return True
        return self.read_in(name, fd.source.tokens(body.start_byte, body.end_byte), depth + 1)

    def _dead_argument(self, toks: list[Tok], i: int, depth: int) -> bool:
        """``toks[i]`` is a whole argument of a call to a program function that never reads
        that parameter."""
        if i == 0 or i + 1 >= len(toks) or toks[i - 1].text not in ("(", ",") or \
                toks[i + 1].text not in (",", ")"):
            return False
        nesting = 0
        commas = 0
        j = i - 1
        while j >= 0:
            t = toks[j]
            if t.kind == PUNCT and t.text in ")]}":
                nesting += 1
            elif t.kind == PUNCT and t.text in "([{":
                if nesting == 0:
                    break
                nesting -= 1
            elif t.text == "," and nesting == 0:
                commas += 1
            j -= 1
        if j <= 0 or toks[j].text != "(" or toks[j - 1].kind != IDENT:
            return False
        fd = self.tu.functions.get(toks[j - 1].text)
        return fd is not None and not self.param_read(fd, commas, depth)
