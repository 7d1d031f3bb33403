"""What is at a position of the text: the syntactic context at the cursor, and the types of the
expressions there (for hover, completion and go to definition).

The text may be half typed (``task->`` with nothing after, unbalanced parentheses) and newer
than the :class:`SourceModel` (the model is re-analysed after the user stops typing): the
context comes from the *current* text, read as tokens around the cursor; types, file-scope
names and type names come from the model (:attr:`SourceModel.scope`).

Entry point: :func:`context_at` ``(model, text, position) -> Context``. A :class:`Context` says
what the position is about (:attr:`Context.kind`):

- ``"member"``: a member after ``->`` or ``.`` (:meth:`Context.record` is the struct or union);
- ``"core-read"``: a member named in a ``BPF_CORE_READ*`` argument after the source (each
  argument is one hop; dotted paths ``f_path.dentry`` stay inside one hop);
- ``"tag"``: a name after ``struct``, ``union`` or ``enum``;
- ``"section"``: inside the string of ``SEC("...")``;
- ``"enum-value"``: the second argument of ``bpf_core_enum_value*(enum X, ...)``;
- ``"identifier"``: any other identifier (a local, parameter, global, function, type name...);
- ``"none"``: nothing of interest (a comment, a number, out of range).

Functions are found in the text by their header at column 0 (the usual C layout); locals and
parameters are read from the function's text up to the cursor, with block scopes.

Positions are 0-based lines and UTF-8 byte columns, as everywhere in :mod:`bpfls.source`.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from bpfls.btf import BtfError, Kind
from bpfls.source import catalogue, headers
from bpfls.source.catalogue import Family, ProgramArgs
from bpfls.source.exprtypes import EType, Types, etype_of_desc, member_paths
from bpfls.source.hops import Element, accessor_path, member_type, path_type, read_type
from bpfls.source.macros import Expander
from bpfls.source.model import SourceModel
from bpfls.source.positions import Position, Range
from bpfls.source.pptokens import IDENT, STRING, TOKEN_RE, Tok, tokenize

if TYPE_CHECKING:
    from bpfls.btf.model import Member, Type

# -- tokens (pptokens.TOKEN_RE, one line at a time) -----------------------------------------


class QTok(NamedTuple):
    """A token of the text: kind (``ident``, ``number``, ``char``, ``string``, ``punct``,
    ``other``), text, line, first byte column, end byte column."""

    kind: str
    text: str
    line: int
    col: int
    end: int

    @property
    def range(self) -> Range:
        return Range(Position(self.line, self.col), Position(self.line, self.end))


_LineToks = tuple[tuple[str, str, int, int], ...]
_LINE_CACHE: dict[tuple[bytes, int], tuple[_LineToks, int]] = {}
_LOCK = threading.Lock()
_PLAIN, _COMMENT, _DIRECTIVE = 0, 1, 2


def _tokenize_line(data: bytes, state: int) -> tuple[_LineToks, int]:
    """Tokens of one line (no newline) given the state the previous line left: inside a block
    comment, inside a continued preprocessor directive, or neither."""
    key = (data, state)
    hit = _LINE_CACHE.get(key)
    if hit is not None:
        return hit
    pos = 0
    if state == _DIRECTIVE:
        res: tuple[_LineToks, int] = ((), _DIRECTIVE if data.rstrip().endswith(b"\\") else _PLAIN)
        _store(key, res)
        return res
    if state == _COMMENT:
        e = data.find(b"*/")
        if e < 0:
            res = ((), _COMMENT)
            _store(key, res)
            return res
        pos = e + 2
    if data.lstrip(b" \t")[:1] == b"#" and pos == 0:
        res = ((), _DIRECTIVE if data.rstrip().endswith(b"\\") else _PLAIN)
        _store(key, res)
        return res
    out = []
    nxt = _PLAIN
    for m in TOKEN_RE.finditer(data, pos):
        kind = m.lastgroup
        if kind == "ws":
            continue
        if kind == "comment":
            c = m.group()
            if c.startswith(b"/*") and (len(c) < 4 or not c.endswith(b"*/")):
                nxt = _COMMENT
            continue
        s, e = m.span()
        out.append((kind, m.group().decode("utf-8", "replace"), s, e))
    res = (tuple(out), nxt)
    _store(key, res)
    return res


def _store(key: tuple[bytes, int], res: tuple[_LineToks, int]) -> None:
    with _LOCK:
        if len(_LINE_CACHE) > 200_000:
            _LINE_CACHE.clear()
        _LINE_CACHE[key] = res


def tokens_of_lines(lines: list[str], first: int, last: int) -> list[QTok]:
    """Tokens of ``lines[first:last + 1]`` (directives and comments left out)."""
    out: list[QTok] = []
    state = _PLAIN
    for ln in range(max(first, 0), min(last, len(lines) - 1) + 1):
        toks, state = _tokenize_line(lines[ln].encode("utf-8", "surrogateescape"), state)
        for kind, text, s, e in toks:
            out.append(QTok(kind, text, ln, s, e))
    return out


_LINES: list[tuple[str, list[str]]] = []


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` (the last few texts are remembered)."""
    for t, lines in _LINES:
        if t is text:
            return lines
    lines = text.split("\n")
    with _LOCK:
        _LINES.insert(0, (text, lines))
        del _LINES[4:]
    return lines


# -- where functions are ---------------------------------------------------------------------

_HEADER_START = re.compile(r"[A-Za-z_]")
_LABEL = re.compile(r"[A-Za-z_]\w*\s*:(?!:)\s*(?://.*|/\*.*)?$")
MAX_FUNCTION_LINES = 4000


def window_start(lines: list[str], line: int) -> int:
    """The first line of the top-level declaration (function) ``line`` is in: the nearest line
    at or above it that starts with an identifier at column 0 (not a label, not inside a
    continued directive)."""
    lo = max(0, line - MAX_FUNCTION_LINES)
    for ln in range(min(line, len(lines) - 1), lo - 1, -1):
        s = lines[ln]
        if s and _HEADER_START.match(s) and not _LABEL.match(s):
            if ln > 0 and lines[ln - 1].rstrip().endswith("\\"):
                continue
            # a header split over lines: the return type alone on the line before
            while ln > lo and lines[ln - 1][:1].isalpha() and \
                    not lines[ln - 1].rstrip().endswith((";", "}", ")")) and \
                    not _LABEL.match(lines[ln - 1]):
                ln -= 1
            return ln
    return lo


# -- results ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Symbol:
    """A variable the position can see: ``kind`` is ``local``, ``parameter`` or ``global``;
    ``spelling`` the declared type as written; ``range`` where its name is declared (``None``
    for globals)."""

    name: str
    kind: str
    etype: EType | None
    spelling: str = ""
    range: Range | None = None


@dataclass(frozen=True)
class MemberRef:
    """A member of a struct or union of the program's BTF (``record``), with the path through
    anonymous members (``indices``/``records`` as :func:`member_paths` gives them)."""

    record: Type
    name: str
    member: Member
    indices: tuple[int, ...]
    records: tuple[int, ...]

    @property
    def bit_offset(self) -> int:
        """Offset of the member from the start of ``record``, anonymous members included."""
        btf = self.record.btf
        off = 0
        for rid, idx in zip(self.records, self.indices, strict=False):
            try:
                off += btf[rid].members[idx].bit_offset
            except (BtfError, IndexError):
                return self.member.bit_offset
        return off


@dataclass
class Context:
    """What a position is about (see the module notes for :attr:`kind`)."""

    kind: str
    env: Env
    word: str = ""  # the identifier at the position ("" when there is none)
    range: Range | None = None  # the identifier (for "section": the string's text)
    prefix: str = ""  # what of ``word`` is before the position
    op: str = ""  # "->" or "." ("member")
    base: tuple[QTok, ...] = ()  # the expression before ``op``
    call: str = ""  # the function or macro whose argument the position is in
    arg: int = -1  # which argument of ``call``
    args: tuple[tuple[QTok, ...], ...] = ()  # the arguments of ``call`` up to this one
    path: tuple[QTok, ...] = ()  # "core-read": this argument's tokens before the word
    tag: str = ""  # "struct", "union" or "enum" before the word
    section: str = ""  # "section": the string's text before the position
    called: bool = False  # the word is followed by "(" (a call or a macro invocation)
    _record: tuple | None = field(default=None, repr=False)

    @property
    def model(self) -> SourceModel:
        return self.env.model

    def record(self) -> Type | None:
        """The struct or union (of the program's BTF) whose members the position names."""
        return self._resolve_record()[1]

    def _resolve_record(self) -> tuple:
        if self._record is None:
            self._record = self._compute_record()
        return self._record

    def _compute_record(self) -> tuple:
        env = self.env
        et: EType | None = None
        try:
            if self.kind == "member":
                et = env.type_of(self.base)
                if self.op == "->":
                    et = env.types.deref(et)
            elif self.kind == "core-read":
                et = env.core_read_base(self.call, self.args, self.path)
        except (BtfError, RecursionError, TypeError, ValueError, IndexError, KeyError):
            et = None
        return et, env.types.record(et) if et is not None else None

    def member(self) -> MemberRef | None:
        """The member the word names ("member", "core-read")."""
        rec = self.record()
        if rec is None or not self.word:
            return None
        hit = member_paths(rec).get(self.word)
        if hit is None:
            return None
        return MemberRef(rec, self.word, hit[2], hit[0], hit[1])

    def enum(self) -> Type | None:
        """The enum of ``bpf_core_enum_value*(enum X, ...)`` ("enum-value")."""
        if not self.args:
            return None
        et = self.env.type_of_type_tokens(self.args[0])
        if et is None or et.ptr:
            return None
        t = self.env.types.resolve(et.tid)
        return t if t is not None and t.kind in (Kind.ENUM, Kind.ENUM64) else None

    def symbol(self) -> Symbol | None:
        """The variable the word names, as seen from the position."""
        if self.kind != "identifier" or not self.word:
            return None
        return self.env.lookup_symbol(self.word)

    def symbols(self) -> list[Symbol]:
        """Every variable the position can see (innermost first)."""
        return self.env.visible_symbols()


# -- the context at a position ---------------------------------------------------------------

_KEYWORDS = headers.C_KEYWORDS
_TAGS = ("struct", "union", "enum")
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")": "(", "]": "[", "}": "{"}


def context_at(model: SourceModel, text: str, position: Position | tuple[int, int]) -> Context:
    """What ``position`` (line, UTF-8 byte column) of ``text`` is about. Never raises."""
    line, col = int(position[0]), int(position[1])
    lines = split_lines(text)
    env = Env(model, lines, line, col)
    if not 0 <= line < len(lines):
        return Context("none", env)
    try:
        if lines[line].lstrip(" \t").startswith("#") or \
                (line > 0 and lines[line - 1].rstrip().endswith("\\")):
            return _directive_context(env, line, col)
        return _context(env, line, col)
    except (RecursionError, ValueError, IndexError, KeyError, TypeError, BtfError):
        return Context("none", env)


def _directive_context(env: Env, line: int, col: int) -> Context:
    """An identifier in a preprocessor directive: a name, with no local scope."""
    env.directive = True
    data = env.lines[line].encode("utf-8", "surrogateescape")
    for m in TOKEN_RE.finditer(data):
        if m.lastgroup == "ident" and m.start() <= col <= m.end():
            word = m.group().decode("utf-8", "replace")
            rng = Range(Position(line, m.start()), Position(line, m.end()))
            if word in ("define", "include", "ifdef", "ifndef", "undef", "if", "elif",
                        "defined", "pragma") and data[:m.start()].strip() in (b"#", b""):
                return Context("none", env)
            rest = data[m.end():].lstrip()
            return Context("identifier", env, word, rng, _byte_prefix(word, col - m.start()),
                           called=rest.startswith(b"("))
        if m.start() > col:
            break
    return Context("none", env)


def _context(env: Env, line: int, col: int) -> Context:
    toks = env.tokens
    # the token at the position, else an identifier just before it (a word being typed)
    cur = -1
    before = 0  # number of tokens entirely before the position
    for i, t in enumerate(toks):
        if t.line < line or (t.line == line and t.end <= col):
            before = i + 1
            continue
        if t.line == line and t.col <= col < t.end:
            cur = i
            before = i
        break
    if (cur < 0 or toks[cur].kind != IDENT) and before > 0:
        p = toks[before - 1]
        if p.line == line and p.end == col and (
                p.kind == IDENT or (p.kind == STRING and cur < 0)):
            cur = before - 1
            before = cur
    env.cursor = before
    if cur >= 0 and toks[cur].kind == STRING:
        return _string_context(env, cur, col)
    if cur >= 0 and toks[cur].kind in ("char", "number", "other"):
        return Context("none", env)
    if cur >= 0 and toks[cur].kind == "punct" and toks[cur].col < col:
        return Context("none", env)
    word_i = cur if cur >= 0 and toks[cur].kind == IDENT else -1
    if word_i >= 0:
        w = toks[word_i]
        word, rng = w.text, w.range
        prefix = _byte_prefix(w.text, col - w.col)
        prev = word_i - 1
        nxt = word_i + 1
    else:
        word, rng, prefix = "", Range(Position(line, col), Position(line, col)), ""
        prev = before - 1
        nxt = before
    called = nxt < len(toks) and toks[nxt].text == "(" and word != ""
    ctx = Context("identifier" if word else "none", env, word, rng, prefix, called=called)
    if word in _TAGS and word_i >= 0 and nxt < len(toks) and toks[nxt].kind == IDENT:
        # on the keyword itself: the tag's name is meant
        n = toks[nxt]
        return Context("tag", env, n.text, n.range, "", tag=word)
    p = toks[prev] if prev >= 0 else None
    if p is not None and p.kind == IDENT and p.text in _TAGS:
        ctx.kind, ctx.tag = "tag", p.text
        return ctx
    if word and nxt < len(toks) and toks[nxt].text in (";", "[", ":", ",") and \
            (p is None or p.text not in (".", "->")):
        rec = env.record_being_defined(word_i)
        if rec is not None:
            ctx.kind = "member"
            ctx._record = (None, rec)
            return ctx
    # the call whose argument this is
    call = _enclosing_call(toks, prev)
    if call is not None:
        name, open_i, arg_starts = call
        args = tuple(tuple(toks[s:e]) for s, e in arg_starts)
        ctx.call, ctx.arg, ctx.args = name, len(arg_starts) - 1, args
        intrinsic = catalogue.MACROS.get(env.alias(name))
        family = intrinsic.family if intrinsic is not None else None
        if intrinsic is not None and intrinsic.hops:
            if ctx.arg > intrinsic.src:
                cur_arg = arg_starts[-1]
                ctx.kind = "core-read"
                ctx.call = intrinsic.name
                ctx.args = args[:-1]
                ctx.path = tuple(toks[cur_arg[0]:prev + 1])
                if ctx.path and ctx.path[-1].text not in (".", "]", "->"):
                    ctx.path = ()  # not after a dot: a syntax the hops do not have
                    if toks[cur_arg[0]:prev + 1]:
                        ctx.kind = "identifier" if word else "none"
                return ctx
        if family is Family.FIELD_INFO and ctx.arg == 1 and args and \
                args[0] and args[0][0].kind == IDENT and (
                    args[0][0].text in _TAGS or env._is_typedef(args[0][0].text)):
            # bpf_core_field_exists(struct foo, a.b): members of the type
            path = list(args[1])
            if not path or path[-1].text == ".":
                ctx.kind = "member"
                et = env.type_of_type_tokens(args[0])
                if path:
                    et = env.follow_path(et, path[:-1])
                ctx._record = (et, env.types.record(et))
                return ctx
        if family is Family.BITFIELD and ctx.arg == 1 and args and \
                not args[1]:
            # BPF_CORE_READ_BITFIELD(s, field): a member of *s
            ctx.kind = "member"
            et = env.types.deref(env.type_of(args[0]))
            ctx._record = (et, env.types.record(et))
            return ctx
        if family is Family.ENUM_INFO and ctx.arg == 1 and \
                (prev < 0 or toks[prev].text == ","):
            ctx.kind = "enum-value"
            ctx.call = intrinsic.name
            return ctx
    if p is not None and p.text in ("->", "."):
        base = _base_expression(toks, prev - 1)
        if base:
            ctx.kind, ctx.op, ctx.base = "member", p.text, tuple(base)
            return ctx
    return ctx


def _byte_prefix(word: str, nbytes: int) -> str:
    b = word.encode("utf-8", "surrogateescape")[:max(nbytes, 0)]
    return b.decode("utf-8", "ignore")


def _string_context(env: Env, i: int, col: int) -> Context:
    toks = env.tokens
    t = toks[i]
    quote = t.text.find('"')
    inner_start = t.col + len(t.text[:quote + 1].encode())
    closed = len(t.text) - quote >= 2 and t.text.endswith('"') and not t.text.endswith('\\"')
    inner_end = t.end - 1 if closed else t.end
    if not inner_start <= col <= inner_end:
        return Context("none", env)
    if i >= 2 and toks[i - 1].text == "(" and toks[i - 2].kind == IDENT and \
            env.alias(toks[i - 2].text) in ("SEC", "__section"):
        raw = env.lines[t.line].encode("utf-8", "surrogateescape")
        before = raw[inner_start:col].decode("utf-8", "replace")
        return Context("section", env, t.text, Range(Position(t.line, inner_start),
                                                    Position(t.line, inner_end)),
                       call="SEC", arg=0, section=before)
    return Context("none", env)


def _enclosing_call(toks: list[QTok], last: int) -> tuple[str, int, list[tuple[int, int]]] | None:
    """The innermost call around token ``last``: (name, index of its '(', [(start, end) of each
    argument up to the one ``last`` is in]). ``None`` when the innermost bracket is not a
    call's parenthesis."""
    depth = 0
    commas: list[int] = []
    i = last
    while i >= 0:
        t = toks[i].text
        if t in _CLOSE:
            depth += 1
        elif t in _OPEN:
            if depth == 0:
                if t != "(" or i == 0 or toks[i - 1].kind != IDENT or \
                        toks[i - 1].text in _KEYWORDS:
                    return None
                bounds = [i + 1, *[c + 1 for c in reversed(commas)]]
                ends = [c for c in reversed(commas)] + [last + 1]
                return toks[i - 1].text, i, list(zip(bounds, ends, strict=True))
            depth -= 1
        elif t == ";" and depth == 0:
            return None
        elif t == "," and depth == 0:
            commas.append(i)
        i -= 1
    return None


def _base_expression(toks: list[QTok], j: int) -> list[QTok]:
    """The postfix expression that ends at token ``j`` (what ``->`` or ``.`` applies to)."""
    end = j
    while j >= 0:
        t = toks[j]
        if t.text in (")", "]"):
            o = _match_back(toks, j)
            if o < 0:
                return []
            if t.text == "]":
                j = o - 1
                continue
            if o > 0 and toks[o - 1].kind == IDENT and toks[o - 1].text not in _KEYWORDS:
                j = o - 1  # a call: its callee next
                continue
            return list(toks[o:end + 1])
        if t.kind == IDENT:
            if j > 0 and toks[j - 1].text in ("->", "."):
                j -= 2
                continue
            return list(toks[j:end + 1])
        if t.kind in ("number", STRING):
            return list(toks[j:end + 1])
        return []
    return []


def _match_back(toks: list[QTok], j: int) -> int:
    close = toks[j].text
    open_ = _CLOSE[close]
    depth = 0
    while j >= 0:
        t = toks[j].text
        if t == close:
            depth += 1
        elif t == open_:
            depth -= 1
            if depth == 0:
                return j
        j -= 1
    return -1


def _match_fwd(toks: list, i: int, n: int | None = None) -> int:
    """Index of the bracket closing the one at ``toks[i]`` (``n`` if never closed)."""
    n = len(toks) if n is None else n
    open_ = toks[i].text
    close = _OPEN[open_]
    depth = 0
    for j in range(i, n):
        t = toks[j].text
        if t == open_:
            depth += 1
        elif t == close:
            depth -= 1
            if depth == 0:
                return j
    return n


def _statement_end(toks: list, i: int) -> int:
    """Index of the last token of the statement starting at ``toks[i]`` (a block, or up to
    its ';'); the end of the tokens when it is not finished."""
    n = len(toks)
    if i < n and toks[i].text == "{":
        return _match_fwd(toks, i, n)
    depth = 0
    while i < n:
        x = toks[i].text
        if x in _OPEN:
            depth += 1
        elif x in _CLOSE:
            depth -= 1
            if depth < 0:
                return i
        elif x == ";" and depth == 0:
            return i
        i += 1
    return n


def _split_args(toks: list) -> list[list]:
    out: list[list] = [[]]
    depth = 0
    for t in toks:
        x = t.text
        if x in _OPEN:
            depth += 1
        elif x in _CLOSE:
            depth -= 1
        elif x == "," and depth == 0:
            out.append([])
            continue
        out[-1].append(t)
    return out


# -- the environment: the function around the position, its variables, expression types ------

_STORAGE = frozenset({"static", "register", "extern", "auto", "inline", "__inline",
                      "__inline__", "__always_inline", "__extension__", "__noinline",
                      "__weak", "__hidden", "_Thread_local"})
_QUALS = frozenset({"const", "volatile", "restrict", "__restrict", "__restrict__", "__const",
                    "__volatile__", "__user", "__kernel", "__rcu", "__percpu", "__iomem",
                    "__arg_ctx", "__arg_nonnull", "__arg_nullable", "__arg_trusted",
                    "__arg_arena", "__ksym", "__kptr", "__kptr_untrusted", "__percpu_kptr"})
_PRIMS = frozenset({"unsigned", "signed", "short", "long", "int", "char", "float", "double",
                    "_Bool", "void", "__int128", "__signed__"})
_TYPEOF = frozenset({"typeof", "__typeof__", "__typeof"})
_CONTROL = frozenset({"if", "while", "for", "switch"})


@dataclass
class _Decl:
    name: str
    tok: QTok
    type_toks: tuple  # tokens of the type (None for typeof / __auto_type)
    init: tuple  # initializer tokens
    kind: str
    auto: bool = False
    typeof: tuple | None = None
    _et: EType | None = None
    _done: bool = False


class Env:
    """The function around a position and how to type expressions there."""

    def __init__(self, model: SourceModel, lines: list[str], line: int, col: int) -> None:
        self.model = model
        self.lines = lines
        self.line = line
        self.col = col
        self.types = Types(model.local)
        self.lt = model.scope.types if model.scope is not None else None
        self.first = window_start(lines, line) if 0 <= line < len(lines) else 0
        self._tokens: list[QTok] | None = None
        self.cursor = 0  # index of the first token not before the position
        self._scopes: list[dict[str, _Decl]] | None = None
        self._header: tuple | None = None
        self._macros: dict | None = None
        self.directive = False  # the position is in a preprocessor directive

    # -- tokens ------------------------------------------------------------------------------
    @property
    def tokens(self) -> list[QTok]:
        if self._tokens is None:
            self._tokens = tokens_of_lines(self.lines, self.first, self.line)
        return self._tokens

    @property
    def macros(self) -> dict:
        """The program's macros that expressions may use (the intrinsics left out)."""
        if self._macros is None:
            self._macros = _expandable_macros(self.model)
        return self._macros

    def alias(self, name: str) -> str:
        """``#define BPF_UPROBE BPF_KPROBE``-style aliases of the program's macros."""
        seen = 0
        ms = self.model.macros or {}
        while name in ms and seen < 8 and name not in catalogue.ALL_INTRINSICS \
                and name != "SEC":
            m = ms[name]
            if m.params is not None or len(m.body) != 1 or m.body[0].kind != IDENT:
                break
            name = m.body[0].text
            seen += 1
        return name

    # -- the function's header and variables -------------------------------------------------
    def header(self) -> tuple[int, str | None, list]:
        """(index of the body's '{' or -1, macro, parameter declarations)."""
        if self._header is None:
            self._header = self._read_header()
        return self._header

    def _read_header(self) -> tuple[int, str | None, list]:
        toks = self.tokens
        depth = 0
        body = -1
        for i, t in enumerate(toks):
            x = t.text
            if x in ("(", "["):
                depth += 1
            elif x in (")", "]"):
                depth -= 1
            elif x == "{" and depth <= 0:
                body = i
                break
            elif x == ";" and depth <= 0:
                return -1, None, []  # a declaration, not a function
            elif x == "=" and depth <= 0:
                return -1, None, []
        end = body if body >= 0 else len(toks)
        macro, params = self._header_params(toks, end)
        if macro == "":
            return -1, None, []
        return body, macro, params

    def _header_params(self, toks: list, end: int, expanded: bool = False
                       ) -> tuple[str | None, list[_Decl]]:
        """(program macro, parameter declarations) of the header ``toks[:end]``; the macro is
        ``""`` when the header declares no function. A header a macro of the program writes
        (``DEFINE_PROBE(do_exit)``) is read from its expansion, each token placed where it came
        from (the macro's use, or the argument)."""
        # the last "name(...)" group of the header is the function declarator
        best = None
        i = 0
        while i < end:
            t = toks[i]
            if t.text == "(" and i > 0 and toks[i - 1].kind == IDENT and \
                    toks[i - 1].text not in ("SEC", "__attribute__", "__section", "__attribute"):
                close = _match_fwd(toks, i, end)
                best = (i - 1, i, close)
                i = close + 1
                continue
            i += 1
        if best is None:
            return "", []  # a type's definition, not a function
        name_i, open_i, close = best
        name = self.alias(toks[name_i].text)
        m = self.macros.get(name)
        if m is not None and m.params is not None and not expanded:
            exp = self._expand([Tok(t.kind, t.text, i, i + 1) for i, t in
                                enumerate(toks[:close + 1])])
            placed = [QTok(t.kind, t.text, *toks[t.origin[0]][2:]) for t in exp]
            return self._header_params(placed, len(placed), True)
        args = _split_args(toks[open_i + 1:close])
        params: list[_Decl] = []
        macro = name if name in catalogue.PROGRAM_MACROS else None
        if macro is not None:
            args = args[1:]
            if catalogue.MACROS[macro].program_args is ProgramArgs.CTX_PAIRS:
                for k in range(0, len(args) - 1, 2):
                    ty, nm = args[k], args[k + 1]
                    if len(nm) == 1 and nm[0].kind == IDENT:
                        params.append(_Decl(nm[0].text, nm[0], tuple(ty), (), "parameter"))
            else:
                for a in args:
                    params.extend(self._param(a))
        else:
            for a in args:
                params.extend(self._param(a))
        return macro, params

    def _param(self, toks: list) -> list[_Decl]:
        if not toks or (len(toks) == 1 and toks[0].text in ("void", "...")):
            return []
        res = self._declaration(toks, 0, len(toks), "parameter", force=True)
        return res[0] if res is not None else []

    def record_being_defined(self, i: int) -> Type | None:
        """The struct or union whose definition (at file scope) token ``i`` is inside."""
        toks = self.tokens
        j = 0
        n = len(toks)
        while j < n and toks[j].kind == IDENT and toks[j].text in ("typedef", "const",
                                                                   "volatile", "static"):
            j += 1
        if j + 2 >= n or toks[j].text not in ("struct", "union") or toks[j + 1].kind != IDENT \
                or toks[j + 2].text != "{" or not j + 2 < i:
            return None
        if _match_fwd(toks, j + 2, n) < i:
            return None
        return self.types.record(self.type_of_type_tokens(toks[j:j + 2]))

    def scopes(self) -> list[dict[str, _Decl]]:
        """The block scopes open at the position, outermost (the parameters) first."""
        if self._scopes is None:
            self._scopes = self._scan()
        return self._scopes

    def _scan(self) -> list[dict[str, _Decl]]:
        if self.directive:
            return []
        body, macro, params = self.header()
        toks = self.tokens
        top: dict[str, _Decl] = {}
        for p in params:
            top[p.name] = p
        if macro is not None:
            top.setdefault("ctx", _Decl("ctx", toks[0] if toks else QTok("ident", "ctx", 0, 0, 0),
                                        (), (), "parameter"))
            top["ctx"]._et = self._ctx_type(macro)
            top["ctx"]._done = True
        scopes = [top]
        if body < 0:
            return scopes
        n = min(self.cursor, len(toks))
        scopes.append({})
        i = body + 1
        start = True
        control_closers: set[int] = set()
        scope_ends: list[int] = []  # where the scopes of for-statement declarations end
        while i < n:
            t = toks[i]
            x = t.text
            if start and t.kind == IDENT:
                res = self._declaration(toks, i, n, "local")
                if res is not None:
                    decls, j = res
                    for d in decls:
                        scopes[-1][d.name] = d
                    i = j
                    start = j > 0 and toks[j - 1].text == ";"
                    continue
            start = False
            if x == "{":
                scopes.append({})
                start = True
            elif x == "}":
                if len(scopes) > 2:
                    scopes.pop()
                start = True
            elif x in (";", ":") or (t.kind == IDENT and x in ("else", "do")):
                start = True
            elif x == "(" and i > body + 1 and toks[i - 1].text in _CONTROL:
                close = _match_fwd(toks, i, len(toks))
                control_closers.add(close)
                if toks[i - 1].text == "for":
                    scopes.append({})
                    scope_ends.append(_statement_end(toks, close + 1))
                    start = True
                    i += 1
                    continue
            elif x == ")" and i in control_closers:
                start = True
            while scope_ends and scope_ends[-1] <= i:
                scope_ends.pop()
                if len(scopes) > 2:
                    scopes.pop()
            i += 1
        return scopes

    def _declaration(self, toks: list, i: int, n: int, kind: str,
                     force: bool = False) -> tuple[list[_Decl], int] | None:
        """The declarators of a declaration starting at ``toks[i]`` (up to ``n``), and the index
        after it; ``None`` when the tokens do not start a declaration."""
        j = i
        type_toks: list = []
        typeof = None
        auto = False
        seen_type = False
        while j < n:
            t = toks[j]
            x = t.text
            if t.kind != IDENT:
                break
            if x in _STORAGE:
                j += 1
                continue
            if x in ("__attribute__", "__attribute") and j + 1 < n and toks[j + 1].text == "(":
                j = _match_fwd(toks, j + 1, n) + 1
                continue
            if x in _QUALS:
                if x in ("const", "volatile", "__const", "__volatile__"):
                    type_toks.append(t)
                j += 1
                continue
            if seen_type:
                break
            if x in _TAGS:
                if j + 1 < n and toks[j + 1].kind == IDENT:
                    type_toks += [t, toks[j + 1]]
                    j += 2
                    if j < n and toks[j].text == "{":
                        j = _match_fwd(toks, j, n) + 1
                    seen_type = True
                    continue
                if j + 1 < n and toks[j + 1].text == "{":
                    return None  # an anonymous type's definition: not followed
                return None
            if x == "__auto_type":
                auto = True
                seen_type = True
                j += 1
                continue
            if x in _TYPEOF and j + 1 < n and toks[j + 1].text == "(":
                close = _match_fwd(toks, j + 1, n)
                typeof = tuple(toks[j + 2:close])
                j = close + 1
                seen_type = True
                continue
            if x in _PRIMS:
                while j < n and toks[j].kind == IDENT and (toks[j].text in _PRIMS
                                                           or toks[j].text in _QUALS):
                    if toks[j].text in _PRIMS or toks[j].text in ("const", "volatile"):
                        type_toks.append(toks[j])
                    j += 1
                seen_type = True
                continue
            if x in _KEYWORDS:
                return None
            # a typedef name: known as one, or followed by a declarator
            nxt = toks[j + 1] if j + 1 < n else None
            if force or self._is_typedef(x) or (
                    nxt is not None and nxt.kind == IDENT and nxt.text not in _KEYWORDS
                    and (j + 2 >= n or toks[j + 2].text in ("=", ";", ",", "[", ")"))):
                type_toks.append(t)
                j += 1
                seen_type = True
                continue
            return None
        if not seen_type:
            return None
        decls: list[_Decl] = []
        while j < n:
            stars: list = []
            name_tok = None
            dims: list = []
            while j < n and (toks[j].text == "*" or toks[j].text in _QUALS):
                if toks[j].text == "*":
                    stars.append(toks[j])
                j += 1
            if j < n and toks[j].text == "(" and j + 1 < n and toks[j + 1].text == "*":
                # a function pointer (or pointer to array): named inside the parentheses
                close = _match_fwd(toks, j, n)
                for k in range(j + 1, close):
                    if toks[k].kind == IDENT and toks[k].text not in _QUALS:
                        name_tok = toks[k]
                        break
                j = close + 1
                if j < n and toks[j].text in ("(", "["):
                    j = _match_fwd(toks, j, n) + 1
                fnptr = True
            else:
                fnptr = False
                if j < n and toks[j].kind == IDENT and toks[j].text not in _KEYWORDS:
                    name_tok = toks[j]
                    j += 1
                while j < n and toks[j].text == "[":
                    close = _match_fwd(toks, j, n)
                    dims.extend(toks[j:close + 1])
                    j = close + 1
            while j < n and toks[j].kind == IDENT and (
                    toks[j].text in ("__attribute__", "__attribute") or toks[j].text in _QUALS):
                if j + 1 < n and toks[j + 1].text == "(":
                    j = _match_fwd(toks, j + 1, n) + 1
                else:
                    j += 1
            init: list = []
            if j < n and toks[j].text == "=":
                j += 1
                s = j
                depth = 0
                while j < n:
                    x = toks[j].text
                    if x in _OPEN:
                        depth += 1
                    elif x in _CLOSE:
                        depth -= 1
                        if depth < 0:
                            break
                    elif depth == 0 and x in (",", ";"):
                        break
                    j += 1
                init = list(toks[s:j])
            if name_tok is None:
                return (decls, j) if decls else None
            if not (j >= n or toks[j].text in (",", ";", ")")):
                return (decls, j) if decls else None
            ty = None if fnptr else tuple(type_toks + stars + dims)
            d = _Decl(name_tok.text, name_tok, ty if not (auto or typeof) else (),
                      tuple(init), kind, auto=auto, typeof=typeof)
            if fnptr:
                d._done = True
            elif typeof is not None and (stars or dims):
                d.type_toks = ()
                d.typeof = typeof
                d.init = tuple(init)
                d._stars = len(stars)  # type: ignore[attr-defined]
            decls.append(d)
            if j < n and toks[j].text == ",":
                j += 1
                continue
            if j < n and toks[j].text == ";":
                j += 1
            break
        if not decls:
            return None
        return decls, j

    def _is_typedef(self, name: str) -> bool:
        lt = self.lt
        if lt is not None:
            try:
                return lt.is_type_tokens([Tok(IDENT, name, 0, 0)])
            except (BtfError, AttributeError, TypeError):
                return False
        return self.model.local.find(name, Kind.TYPEDEF) is not None

    def _ctx_type(self, macro: str) -> EType | None:
        how = catalogue.MACROS[macro].program_args
        if how is not None and how.ctx_array:
            return self.type_of_type_tokens([QTok(IDENT, "unsigned", 0, 0, 0),
                                             QTok(IDENT, "long", 0, 0, 0),
                                             QTok(IDENT, "long", 0, 0, 0),
                                             QTok("punct", "*", 0, 0, 0)])
        return self.type_of_type_tokens([QTok(IDENT, "struct", 0, 0, 0),
                                         QTok(IDENT, "pt_regs", 0, 0, 0),
                                         QTok("punct", "*", 0, 0, 0)])

    def _decl_type(self, d: _Decl, depth: int = 0) -> EType | None:
        if d._done:
            return d._et
        d._done = True
        et = None
        if d.typeof is not None:
            et = self.type_of_type_tokens(d.typeof)
            if et is None:
                et = self.type_of(d.typeof, depth + 1)
            stars = getattr(d, "_stars", 0)
            if et is not None and stars:
                et = EType(et.tid, et.ptr + stars)
        elif d.auto:
            et = self.type_of(d.init, depth + 1) if d.init else None
        elif d.type_toks:
            et = self.type_of_type_tokens(d.type_toks)
        d._et = et
        return et

    def lookup_symbol(self, name: str) -> Symbol | None:
        for scope in reversed(self.scopes()):
            d = scope.get(name)
            if d is not None:
                return self._symbol(d)
        scope = self.model.scope
        if scope is not None and name in scope.variables:
            return Symbol(name, "global", scope.variables[name])
        return None

    def _symbol(self, d: _Decl) -> Symbol:
        et = self._decl_type(d)
        if d.type_toks:
            spelling = _spell(d.type_toks)
        elif d.typeof is not None:
            spelling = f"typeof({_spell(d.typeof)})"
        elif d.auto:
            spelling = "__auto_type"
        else:
            spelling = ""
        rng = d.tok.range if d.name != "ctx" or d.tok.text == "ctx" else None
        return Symbol(d.name, d.kind, et, spelling, rng)

    def visible_symbols(self) -> list[Symbol]:
        seen: set[str] = set()
        out: list[Symbol] = []
        for scope in reversed(self.scopes()):
            for name, d in scope.items():
                if name not in seen:
                    seen.add(name)
                    out.append(self._symbol(d))
        scope = self.model.scope
        if scope is not None:
            for name, et in scope.variables.items():
                if name not in seen:
                    seen.add(name)
                    out.append(Symbol(name, "global", et))
        return out

    # -- types of type names and expressions -------------------------------------------------
    def type_of_type_tokens(self, toks) -> EType | None:
        """The type a type name written as tokens denotes (``struct task_struct *``)."""
        toks = [t for t in toks if t.text not in _STORAGE]
        if not toks:
            return None
        lt = self.lt
        if lt is not None:
            ptoks = [Tok(t.kind, t.text, 0, 0) for t in toks]
            if any(t.kind == IDENT and t.text in self.macros for t in ptoks):
                ptoks = self._expand(ptoks)
            try:
                d = lt.desc_from_tokens(ptoks)
            except (BtfError, RecursionError, TypeError, ValueError, KeyError, IndexError):
                d = None
            if d is None or d[0] == "unknown":
                return None
            return etype_of_desc(d)
        return self._fallback_type(toks)

    def _fallback_type(self, toks) -> EType | None:
        btf = self.model.local
        i = 0
        while i < len(toks) and toks[i].text in _QUALS:
            i += 1
        if i >= len(toks):
            return None
        t = None
        if toks[i].text in _TAGS and i + 1 < len(toks):
            kinds = {"struct": (Kind.STRUCT,), "union": (Kind.UNION,),
                     "enum": (Kind.ENUM, Kind.ENUM64)}[toks[i].text]
            for c in btf.find_all(toks[i + 1].text):
                if c.kind in kinds:
                    t = c
                    break
            i += 2
        elif toks[i].kind == IDENT:
            t = btf.find(toks[i].text, Kind.TYPEDEF)
            i += 1
        if t is None:
            return None
        ptr = sum(1 for x in toks[i:] if x.text == "*")
        return EType(t.id, ptr)

    def _expand(self, toks: list[Tok]) -> list[Tok]:
        try:
            return Expander(self.macros).expand(toks)
        except (RecursionError, ValueError, IndexError, KeyError):
            return toks

    def type_of(self, toks, depth: int = 0) -> EType | None:
        """The type of an expression written as tokens (``None``: unknown)."""
        toks = list(toks)
        if not toks or depth > 8:
            return None
        if any(t.kind == IDENT and t.text in self.macros for t in toks):
            toks = self._expand([Tok(t.kind, t.text, 0, 0) for t in toks])
        try:
            et, _ = _ExprTyper(self, toks, depth).unary(0)
        except (RecursionError, IndexError, ValueError, KeyError, BtfError, TypeError):
            return None
        return et

    def accessor_path(self, toks) -> list[Element] | None:
        """The accessor path (``a.b[2].c``, as in one ``BPF_CORE_READ`` hop) the tokens spell,
        macros expanded."""
        toks = list(toks)
        if any(t.kind == IDENT and t.text in self.macros for t in toks):
            toks = self._expand([Tok(t.kind, t.text, 0, 0) for t in toks])
        return accessor_path(toks)

    def follow_path(self, et: EType | None, toks) -> EType | None:
        """Apply an accessor path to a value of type ``et``."""
        elems = self.accessor_path(toks)
        return path_type(self.types, et, elems) if elems is not None else None

    def read_type(self, src, hops, depth: int = 0) -> EType | None:
        """The type of what ``BPF_CORE_READ(src, hops...)`` reads (``src``, each hop: tokens)."""
        return read_type(self.types, self.type_of(src, depth),
                         (self.accessor_path(h) for h in hops))

    def core_read_base(self, macro: str, args, path) -> EType | None:
        """In ``BPF_CORE_READ*(src, a, b, <path> x)``: the type whose members ``x`` names."""
        intrinsic = catalogue.MACROS.get(macro)
        if intrinsic is None or not intrinsic.hops:
            return None
        src = intrinsic.src
        if len(args) <= src:
            return None
        et = self.read_type(args[src], args[src + 1:])
        if et is None:
            return None
        et = self.types.deref(et)
        if path:
            p = list(path)
            if p[-1].text == ".":
                p = p[:-1]
            et = self.follow_path(et, p)
        return et

    def function_type(self, name: str) -> EType | None:
        """The return type of a function called ``name`` (the program's, a declared kfunc, a
        helper returning a kernel pointer, or a FUNC of the kernel's BTF)."""
        scope = self.model.scope
        if scope is not None and name in scope.functions:
            return scope.functions[name]
        ret = headers.HELPER_RETURNS.get(name)
        if ret is not None:
            return self.type_of_type_tokens(tokenize(ret.encode()))
        try:
            fn = self.model.local.find(name, Kind.FUNC)
            if fn is not None:
                return EType(self.model.local[fn.type_id].return_type_id, 0)
        except (BtfError, TypeError):
            pass
        return None


_MACROS: weakref.WeakKeyDictionary[SourceModel, dict] = weakref.WeakKeyDictionary()


def _expandable_macros(model: SourceModel) -> dict:
    hit = _MACROS.get(model)
    if hit is None:
        ms = model.macros or {}
        hit = {k: v for k, v in ms.items() if k not in catalogue.ALL_INTRINSICS
               and not getattr(v, "builtin", False)}
        with _LOCK:
            _MACROS[model] = hit
    return hit


def _spell(toks) -> str:
    out = ""
    for t in toks:
        x = t.text
        if not out:
            out = x
        elif x == "*":
            out += x if out.endswith("*") else " *"
        elif x in ("[", "]") or out.endswith("["):
            out += x
        else:
            out += " " + x
    return out


class _ExprTyper:
    """Types of C expressions over tokens, as far as member access needs: identifiers, casts,
    ``*``/``&``, ``->``/``.``/``[]``, calls (return types) and ``BPF_CORE_READ``."""

    def __init__(self, env: Env, toks: list, depth: int) -> None:
        self.env = env
        self.toks = toks
        self.n = len(toks)
        self.depth = depth

    def unary(self, i: int) -> tuple[EType | None, int]:
        toks, n, env = self.toks, self.n, self.env
        if i >= n:
            return None, i
        x = toks[i].text
        if x == "(":
            close = _match_fwd(toks, i, n)
            inner = toks[i + 1:close]
            if inner and self._is_type(inner):
                et = env.type_of_type_tokens(inner)
                if close + 1 < n and toks[close + 1].text == "{":
                    end = _match_fwd(toks, close + 1, n)
                    return self.postfix(et, end + 1)  # a compound literal
                _, j = self.unary(close + 1)
                return et, j
            et = env.type_of(inner, self.depth + 1)
            return self.postfix(et, close + 1)
        if x == "*":
            et, j = self.unary(i + 1)
            return env.types.deref(et), j
        if x == "&":
            et, j = self.unary(i + 1)
            return (et.pointer() if et is not None else None), j
        if x in ("!", "-", "+", "~", "++", "--"):
            return self.unary(i + 1)
        if x in ("sizeof", "_Alignof", "__alignof__"):
            return None, n
        t = toks[i]
        if t.kind == IDENT:
            if i + 1 < n and toks[i + 1].text == "(":
                close = _match_fwd(toks, i + 1, n)
                et = self.call(t.text, toks[i + 2:close])
                return self.postfix(et, close + 1)
            sym = env.lookup_symbol(t.text)
            et = sym.etype if sym is not None else None
            return self.postfix(et, i + 1)
        if t.kind == STRING:
            return None, i + 1
        return None, i + 1

    def postfix(self, et: EType | None, i: int) -> tuple[EType | None, int]:
        toks, n, env = self.toks, self.n, self.env
        while i < n:
            x = toks[i].text
            if x == "->" and i + 1 < n:
                et = member_type(env.types, env.types.deref(et), toks[i + 1].text)
                i += 2
            elif x == "." and i + 1 < n:
                et = member_type(env.types, et, toks[i + 1].text)
                i += 2
            elif x == "[":
                i = _match_fwd(toks, i, n) + 1
                et = env.types.deref(et)
            elif x == "(":
                i = _match_fwd(toks, i, n) + 1
                et = None  # a call through a pointer
            elif x in ("++", "--"):
                i += 1
            else:
                break
        return et, i

    def _is_type(self, toks: list) -> bool:
        t = toks[0]
        if t.kind != IDENT:
            return False
        x = t.text
        if x in _TAGS or x in _PRIMS or x in _QUALS or x in _TYPEOF:
            return True
        if len(toks) >= 2 and toks[-1].text == "*" and not self.env.lookup_symbol(x):
            return True
        return self.env.lookup_symbol(x) is None and self.env._is_typedef(x)

    def call(self, name: str, arg_toks: list) -> EType | None:
        env = self.env
        name = env.alias(name)
        intrinsic = catalogue.MACROS.get(name)
        if intrinsic is not None and intrinsic.hops:
            args = _split_args(arg_toks)
            if intrinsic.into:
                return None  # the _INTO forms return an error code
            return env.read_type(args[intrinsic.src], args[intrinsic.src + 1:], self.depth + 1)
        if intrinsic is not None and intrinsic.family is Family.CAST:
            args = _split_args(arg_toks)
            if len(args) == 2:
                et = env.type_of_type_tokens(args[1])
                return et.pointer() if et is not None else None
            return None
        return env.function_type(name)
