"""Integer constant expressions over tokens: ``#if`` conditions, array sizes, enumerator values,
bitfield widths and constant subscripts.

Arithmetic is C's on 64-bit ``intmax_t``/``uintmax_t`` (the preprocessor's types), with the
usual promotion to unsigned when either operand is unsigned.
"""

from __future__ import annotations

from collections.abc import Callable

from bpfls.source.pptokens import CHAR, IDENT, NUMBER, PUNCT, STRING, Tok, matching_paren

MASK = (1 << 64) - 1


class EvalError(Exception):
    pass


def _wrap(v: int, u: bool) -> tuple[int, bool]:
    v &= MASK
    if not u and v >= 1 << 63:
        v -= 1 << 64
    return v, u


def parse_int_literal(text: str) -> tuple[int, bool]:
    """Value and unsignedness of a C integer literal (``0x10UL``, ``017``, ``0b1``, ``1'000``)."""
    s = text.replace("'", "")
    low = s.lower()
    end = len(low)
    while end and low[end - 1] in "ul":
        end -= 1
    suffix = low[end:]
    body = low[:end]
    try:
        if body.startswith(("0x",)):
            v = int(body[2:], 16)
        elif body.startswith("0b"):
            v = int(body[2:], 2)
        elif len(body) > 1 and body.startswith("0"):
            v = int(body[1:], 8)
        else:
            v = int(body, 10)
    except ValueError:
        raise EvalError(f"not an integer constant: {text}") from None
    unsigned = "u" in suffix or v > (1 << 63) - 1
    return _wrap(v, unsigned)


_ESC = {"n": 10, "t": 9, "r": 13, "0": 0, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92, "'": 39,
        '"': 34, "?": 63, "e": 27}


def parse_char_literal(text: str) -> int:
    q = text.index("'")
    body = text[q + 1:].rstrip("'")
    if not body:
        raise EvalError("empty character constant")
    if body[0] != "\\":
        return ord(body[0])
    esc = body[1:]
    if esc[:1] == "x":
        return int(esc[1:], 16) & 0xFF
    if esc[:1].isdigit() and esc[:1] in "01234567":
        return int(esc, 8) & 0xFF
    if esc[:1] in _ESC:
        return _ESC[esc[:1]]
    raise EvalError(f"bad escape in {text}")


_BINARY_PREC = {
    "*": 10, "/": 10, "%": 10,
    "+": 9, "-": 9,
    "<<": 8, ">>": 8,
    "<": 7, ">": 7, "<=": 7, ">=": 7,
    "==": 6, "!=": 6,
    "&": 5, "^": 4, "|": 3, "&&": 2, "||": 1,
}


class ConstEval:
    """Evaluate one expression.

    ``ident(name)`` gives an identifier's value (``None``: unknown; in preprocessor mode unknown
    identifiers are 0). ``sizeof(tokens)`` gives the size of a type or expression written in
    ``tokens``; ``is_type(tokens)`` says whether parenthesised tokens are a type name (a cast).
    """

    def __init__(self, toks: list[Tok], *, ident: Callable[[str], int | None] | None = None,
                 sizeof: Callable[[list[Tok]], int | None] | None = None,
                 is_type: Callable[[list[Tok]], bool] | None = None, pp: bool = False) -> None:
        self.toks = toks
        self.i = 0
        self.ident = ident
        self.sizeof = sizeof
        self.is_type = is_type
        self.pp = pp

    def run(self) -> int:
        if not self.toks:
            raise EvalError("empty expression")
        v, _ = self.expr()
        if self.i != len(self.toks):
            raise EvalError(f"unexpected {self.toks[self.i].text!r}")
        return v

    # -- helpers ---------------------------------------------------------------------------
    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, text: str | None = None) -> Tok:
        t = self.peek()
        if t is None:
            raise EvalError("unexpected end of expression")
        if text is not None and t.text != text:
            raise EvalError(f"expected {text!r}, got {t.text!r}")
        self.i += 1
        return t

    def _matching(self, start: int) -> int:
        """Index of the ')' matching the '(' at ``start``."""
        j = matching_paren(self.toks, start)
        if j < 0:
            raise EvalError("unbalanced parentheses")
        return j

    # -- grammar ---------------------------------------------------------------------------
    def expr(self) -> tuple[int, bool]:
        v = self.cond()
        while (t := self.peek()) is not None and t.text == ",":
            self.i += 1
            v = self.cond()
        return v

    def cond(self) -> tuple[int, bool]:
        c = self.binary(1)
        t = self.peek()
        if t is not None and t.text == "?":
            self.i += 1
            a = self.expr()
            self.take(":")
            b = self.cond()
            u = a[1] or b[1]
            return _wrap(a[0] if c[0] else b[0], u)
        return c

    def binary(self, min_prec: int) -> tuple[int, bool]:
        left = self.unary()
        while True:
            t = self.peek()
            if t is None or t.kind != PUNCT:
                return left
            prec = _BINARY_PREC.get(t.text)
            if prec is None or prec < min_prec:
                return left
            op = t.text
            self.i += 1
            if op == "&&":
                right = self.binary(prec + 1)
                left = (int(bool(left[0]) and bool(right[0])), False)
                continue
            if op == "||":
                right = self.binary(prec + 1)
                left = (int(bool(left[0]) or bool(right[0])), False)
                continue
            right = self.binary(prec + 1)
            left = self.apply(op, left, right)

    def apply(self, op: str, a: tuple[int, bool], b: tuple[int, bool]) -> tuple[int, bool]:
        u = a[1] or b[1]
        x, y = a[0], b[0]
        if u:
            x &= MASK
            y &= MASK
        if op in ("<<", ">>"):
            u = a[1]
            x = a[0] & MASK if u else a[0]
            if y < 0 or y >= 64:
                return _wrap(0, u)
            return _wrap(x << y if op == "<<" else x >> y, u)
        if op == "+":
            return _wrap(x + y, u)
        if op == "-":
            return _wrap(x - y, u)
        if op == "*":
            return _wrap(x * y, u)
        if op in ("/", "%"):
            if y == 0:
                raise EvalError("division by zero")
            q = abs(x) // abs(y)
            if (x < 0) != (y < 0):
                q = -q
            return _wrap(q if op == "/" else x - q * y, u)
        if op == "&":
            return _wrap(x & y, u)
        if op == "|":
            return _wrap(x | y, u)
        if op == "^":
            return _wrap(x ^ y, u)
        cmp = {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y, "==": x == y,
               "!=": x != y}[op]
        return int(cmp), False

    def unary(self) -> tuple[int, bool]:
        t = self.take()
        tx = t.text
        if t.kind == PUNCT:
            if tx == "(":
                close = self._matching(self.i - 1)
                inner = self.toks[self.i:close]
                if not self.pp and self.is_type is not None and inner and self.is_type(inner):
                    self.i = close + 1
                    return self.unary()  # a cast: the value passes through
                v = self.expr()
                self.take(")")
                return v
            if tx == "-":
                v, u = self.unary()
                return _wrap(-v, u)
            if tx == "+":
                return self.unary()
            if tx == "~":
                v, u = self.unary()
                return _wrap(~v, u)
            if tx == "!":
                v, _ = self.unary()
                return int(not v), False
        if t.kind == NUMBER:
            if any(c in t.text for c in ".") and not t.text.lower().startswith("0x"):
                raise EvalError("floating constant in integer expression")
            return parse_int_literal(t.text)
        if t.kind == CHAR:
            return parse_char_literal(t.text), False
        if t.kind == IDENT:
            if tx in ("sizeof", "_Alignof", "__alignof__", "alignof") and not self.pp:
                return self._sizeof(tx)
            if tx in ("__builtin_constant_p",):
                self._skip_parens()
                return 1, False
            v = self.ident(tx) if self.ident is not None else None
            if v is None:
                if self.pp:
                    # function-like use of an unknown name: `FOO(1)` is 0 (and an error in cpp)
                    nxt = self.peek()
                    if nxt is not None and nxt.text == "(":
                        raise EvalError(f"function-like macro '{tx}' is not defined")
                    return 0, False
                raise EvalError(f"'{tx}' is not a constant")
            return _wrap(v, v > (1 << 63) - 1)
        if t.kind == STRING:
            raise EvalError("string in integer expression")
        raise EvalError(f"unexpected {tx!r}")

    def _skip_parens(self) -> None:
        t = self.peek()
        if t is not None and t.text == "(":
            self.i = self._matching(self.i) + 1

    def _sizeof(self, op: str) -> tuple[int, bool]:
        t = self.peek()
        if t is not None and t.text == "(":
            close = self._matching(self.i)
            inner = self.toks[self.i + 1:close]
            self.i = close + 1
        else:
            start = self.i
            self.unary()
            inner = self.toks[start:self.i]
        if self.sizeof is None:
            raise EvalError("sizeof not available here")
        v = self.sizeof(inner) if op == "sizeof" else None
        if v is None:
            raise EvalError("size unknown")
        return v, True


def evaluate(toks: list[Tok], **kw) -> int:
    return ConstEval(toks, **kw).run()
