"""What libbpf decides for a CO-RE relocation on a target kernel.

:func:`resolve` answers for one relocation in isolation; :class:`CoreResolver` resolves the
relocations of one object *in order* the way ``bpf_object__relocate_core`` does: candidate
lists are cached per local root type and shrink to the matching subset after each relocation
that matched, so an earlier relocation can decide a later one (core-semantics §3).

Statuses (:class:`Resolution`):

- ``"resolved"``: a candidate matched; the instruction is patched with ``target_value``.
- ``"missing"``: nothing matched for kinds 0, 1, 3, 4, 5, 11: the instruction is *poisoned*;
  loading fails if it is reachable.
- ``"zero"``: nothing matched for the existence-style kinds 2, 7, 8, 9, 10, 12: the value is 0
  and nothing is poisoned.
- ``"error"``: libbpf refuses the relocation before the verifier runs (parse error, anonymous
  root, ambiguity, bitfield wider than 8 bytes, ...): the object does not load.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bpfls.btf import Btf, BtfError, Kind
from bpfls.core.calc import FieldLayout, ReloResult, calc_relo
from bpfls.core.cands import find_candidates, target_index
from bpfls.core.match import MatchResult, spec_match
from bpfls.core.names import essential_name
from bpfls.core.relo import Relocation, ReloKind
from bpfls.core.shapes import relocation_shape
from bpfls.core.spec import (
    KIND_STR,
    Spec,
    SpecError,
    format_spec,
    format_spec_human,
    format_spec_log,
    parse_spec,
    skip_mods_and_typedefs,
)

if TYPE_CHECKING:
    from bpfls.core.ext import ObjectRelo

RESOLVED = "resolved"
MISSING = "missing"
ZERO = "zero"
ERROR = "error"


@dataclass(frozen=True)
class CandidateOutcome:
    """How one target candidate fared: ``spec`` is libbpf's target spec as far as matching
    got; ``log_spec`` its text (what ``bpftool -d`` prints after "matching candidate #i" or
    "non-matching candidate #i")."""

    btf: Btf
    type_id: int
    matched: bool
    spec: Spec = field(repr=False, compare=False)
    reason: str | None = None
    value: int | None = None
    poison: bool = False

    @property
    def log_spec(self) -> str:
        return format_spec_log(self.spec)

    @property
    def name(self) -> str:
        t = self.btf[self.type_id]
        return f"{KIND_STR.get(t.kind, 'unknown')} {t.name}"


@dataclass(frozen=True)
class Resolution:
    """The outcome of one relocation on one target. See the module doc for ``status``.

    ``local_value``/``target_value`` are the numbers libbpf computes (u64); ``target_value``
    is ``None`` when the instruction is poisoned or on error, 0 for ``"zero"``. Field kinds
    also carry the field's local and target layout (offset, size, bitfield bits, shifts).
    ``spec`` is the human form of the local access (``struct task_struct___o.state``),
    ``target_spec`` that of the (first) matching candidate. ``reason`` explains any status
    other than ``"resolved"``; ``candidates`` lists each candidate examined, in order.
    """

    relo: Relocation
    status: str
    spec: str
    reason: str | None = None
    local_value: int | None = None
    target_value: int | None = None
    target_type_ids: tuple[int, ...] = ()
    target_btf: Btf | None = None
    local_spec_log: str | None = None
    local_field: FieldLayout | None = None
    target_field: FieldLayout | None = None
    fail_memsz_adjust: bool = False
    validate: bool = True
    local_mem_size: int = 0
    target_mem_size: int = 0
    candidates: tuple[CandidateOutcome, ...] = ()
    error_code: str | None = None
    #: what kind of hard error: ``"ambiguous"`` (candidates disagree), ``"anonymous-root"``,
    #: else ``None``
    error_kind: str | None = None
    pruned: tuple[int, ...] = field(default=())
    target: Spec | None = field(default=None, repr=False, compare=False)

    @property
    def target_spec(self) -> str | None:
        """Human spec of the (first) matching candidate: ``struct task_struct.__state``."""
        return format_spec_human(self.target) if self.target is not None else None

    @property
    def kind(self) -> ReloKind:
        return self.relo.kind

    @property
    def resolved(self) -> bool:
        return self.status == RESOLVED

    @property
    def poisoned(self) -> bool:
        return self.status == MISSING

    @property
    def target_type_id(self) -> int | None:
        return self.target_type_ids[0] if self.target_type_ids else None

    @property
    def target_size(self) -> int | None:
        return self.target_field.byte_size if self.target_field else None

    @property
    def target_offset(self) -> int | None:
        return self.target_field.byte_offset if self.target_field else None

    def __str__(self) -> str:
        s = f"<{self.kind}> {self.spec}: {self.status}"
        if self.status == RESOLVED:
            s += f" = {self.target_value}"
        if self.reason:
            s += f" ({self.reason})"
        return s


def _root_label(btf: Btf, type_id: int) -> str:
    t = btf[type_id]
    return f"{KIND_STR.get(t.kind, 'unknown')} {t.name or '<anon>'}"


def _kind_noun(kind: Kind) -> str:
    return {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum",
            Kind.ENUM64: "enum", Kind.TYPEDEF: "typedef", Kind.FWD: "forward declaration",
            Kind.INT: "int", Kind.FLOAT: "float", Kind.FUNC: "function",
            Kind.VAR: "variable"}.get(kind, kind.name.lower())


class CoreResolver:
    """Resolve the relocations of one object against one target, in order, like libbpf.

    ``target`` is the kernel BTF (libbpf's vmlinux or ``btf_custom_path``); ``modules`` are
    module BTFs searched only for roots with no candidate in ``target``. Candidate lists are
    cached per (local BTF, root type id) and pruned after each matching relocation; call
    :meth:`reset` (or make a new resolver) for another object.
    """

    def __init__(self, target: Btf, modules: Sequence[Btf] = (),
                 memo: dict | None = None, shared: dict | None = None) -> None:
        self.target = target
        self.modules = tuple(modules)
        #: results shared between objects whose local BTF has the same content (the caller
        #: keys it so): keyed by the relocation and the candidate list it met, so reusing one
        #: is exactly what resolving it again would give (see :meth:`_resolve_memo`)
        self.memo = memo
        #: results shared between objects (with ``memo``): keyed by the root's structural
        #: shape (:mod:`bpfls.core.shapes`) instead of its id, for one target and modules
        self.shared = shared
        self.big_endian = target.byte_order == "big"
        self._cands: dict[tuple[Btf, int], list[tuple[Btf, int]]] = {}
        self._all: dict[tuple[Btf, int], list[tuple[Btf, int]]] = {}

    def reset(self) -> None:
        self._cands.clear()
        self._all.clear()

    # -- the algorithm (bpf_core_resolve_relo + bpf_core_calc_relo_insn) ------------------------
    def resolve(self, relo: Relocation | ObjectRelo) -> Resolution:
        """Resolve the next relocation (a :class:`Relocation`, or an object file's record from
        :mod:`bpfls.core.ext`, whose malformed access strings are reported as they were)."""
        access_error = getattr(relo, "access_error", None)
        if not isinstance(relo, Relocation):
            relo = relo.relocation
        if access_error is not None:
            return Resolution(relo, ERROR, format_spec(relo),
                              f"libbpf cannot parse the access: {access_error}",
                              error_code="EINVAL")
        try:
            if self.memo is not None:
                return self._resolve_memo(relo)
            return self._resolve(relo)
        except SpecError as e:  # pragma: no cover - every stage catches its own
            return Resolution(relo, ERROR, format_spec(relo), e.message, error_code=e.code)
        except (BtfError, TypeError, IndexError, ValueError) as e:
            return Resolution(relo, ERROR, format_spec(relo),
                              f"malformed BTF: {e}", error_code="EINVAL")

    def _resolve_memo(self, relo: Relocation) -> Resolution:
        """The outcome only depends on the relocation and the root's candidate list when it is
        met (pruning is the only state), so a memo keyed by both is exact; the pruned list it
        leaves behind is restored too."""
        assert self.memo is not None
        key = (relo.local, relo.type_id)
        entry = tuple(self._cands[key]) if key in self._cands else None
        mkey = (relo.type_id, relo.access, relo.kind, entry)
        hit = self.memo.get(mkey)
        if hit is not None:
            after, fresh, res = hit
            if after is not None:
                self._cands[key] = list(after)
                self._all.setdefault(key, list(fresh))
            return res  # its .relo is an equal relocation of an identical local BTF
        skey = None
        if self.shared is not None:
            shape, layout = _shaped(relo, self.big_endian)
            if shape is not None:
                skey = (shape, entry)
                hit = self.shared.get(skey)
                if hit is not None:
                    after, fresh, res = hit
                    if after is not None:
                        self._cands[key] = list(after)
                        self._all.setdefault(key, list(fresh))
                    res = _rebound(res, relo, layout)
                    self.memo[mkey] = (after, fresh, res)
                    return res
        res = self._resolve(relo)
        after = tuple(self._cands[key]) if key in self._cands else None
        fresh = tuple(self._all.get(key, ()))
        self.memo[mkey] = (after, fresh, res)
        if skey is not None:
            self.shared[skey] = (after, fresh, res)
        return res

    def _resolve(self, relo: Relocation) -> Resolution:
        kind = relo.kind
        lbtf = relo.local
        try:
            root = lbtf[relo.type_id]
        except BtfError:
            return Resolution(relo, ERROR, f"[{relo.type_id}] + {relo.access_str}",
                              f"root type id {relo.type_id} is not in the object's BTF",
                              error_code="EINVAL")
        parsed = _parsed(relo)
        if isinstance(parsed, SpecError):
            return Resolution(relo, ERROR, format_spec(relo),
                              f"libbpf cannot parse the access: {parsed.message}",
                              error_code=parsed.code)
        local, human, local_log = parsed

        def done(status: str, reason: str | None = None, **kw: object) -> Resolution:
            return Resolution(relo, status, human, reason, local_spec_log=local_log,
                              **kw)  # type: ignore[arg-type]

        if kind == ReloKind.TYPE_ID_LOCAL:
            return done(RESOLVED, local_value=relo.type_id, target_value=relo.type_id,
                        validate=False)
        if not root.name:
            return done(ERROR, f"{_root_label(lbtf, relo.type_id)} is anonymous: libbpf "
                               "relocates only named types (use a named type or a typedef)",
                        error_code="EOPNOTSUPP", error_kind="anonymous-root")

        key = (lbtf, relo.type_id)
        cands = self._cands.get(key)
        if cands is None:
            cands = find_candidates(lbtf, relo.type_id, self.target, self.modules)
            self._cands[key] = cands
            self._all[key] = list(cands)

        outcomes: list[CandidateOutcome] = []
        matched: list[tuple[tuple[Btf, int], MatchResult, ReloResult]] = []
        first: tuple[MatchResult, ReloResult] | None = None
        for cbtf, cid in cands:
            try:
                mr = spec_match(local, cbtf, cid, target_index(cbtf).members)
            except SpecError as e:
                return done(ERROR, f"error matching candidate {_root_label(cbtf, cid)}: "
                                   f"{e.message}", error_code=e.code,
                            candidates=tuple(outcomes))
            if not mr.matched:
                outcomes.append(CandidateOutcome(cbtf, cid, False, mr.spec, mr.reason))
                continue
            try:
                res = calc_relo(kind, local, mr.spec, self.big_endian)
            except SpecError as e:
                outcomes.append(CandidateOutcome(cbtf, cid, True, mr.spec))
                return done(ERROR, e.message, error_code=e.code, candidates=tuple(outcomes))
            outcomes.append(CandidateOutcome(cbtf, cid, True, mr.spec, None, res.new_val,
                                             res.poison))
            if first is None:
                first = (mr, res)
            elif mr.spec.bit_offset != first[0].spec.bit_offset:
                a, b = first[0].spec, mr.spec
                return done(ERROR, f"ambiguous: {len(matched) + 1} candidates with different "
                                   f"offsets ({_root_label(a.btf, a.root_type_id)} at bit "
                                   f"{a.bit_offset}, {_root_label(b.btf, b.root_type_id)} at "
                                   f"bit {b.bit_offset}): field offset ambiguity",
                            error_code="EINVAL", error_kind="ambiguous",
                            candidates=tuple(outcomes))
            elif res.poison != first[1].poison or res.new_val != first[1].new_val:
                a, b = first[0].spec, mr.spec
                return done(ERROR, f"ambiguous: candidates give different results "
                                   f"({_root_label(a.btf, a.root_type_id)}: "
                                   f"{first[1].new_val}, {_root_label(b.btf, b.root_type_id)}: "
                                   f"{res.new_val}): relocation decision ambiguity",
                            error_code="EINVAL", error_kind="ambiguous",
                            candidates=tuple(outcomes))
            matched.append(((cbtf, cid), mr, res))

        if matched:
            kept = {m[0] for m in matched}
            pruned = tuple(cid for (cb, cid) in cands if (cb, cid) not in kept)
            cands[:] = [m[0] for m in matched]
            mr, res = matched[0][1], matched[0][2]
            return done(RESOLVED, local_value=res.orig_val, target_value=res.new_val,
                        target_type_ids=tuple(m[0][1] for m in matched),
                        target_btf=matched[0][0][0], target=mr.spec,
                        local_field=res.local_layout, target_field=res.target_layout,
                        fail_memsz_adjust=res.fail_memsz_adjust, validate=res.validate,
                        local_mem_size=res.orig_sz, target_mem_size=res.new_sz,
                        candidates=tuple(outcomes), pruned=pruned)

        try:
            res = calc_relo(kind, local, None, self.big_endian)
        except SpecError as e:
            return done(ERROR, e.message, error_code=e.code, candidates=tuple(outcomes))
        reason = self._why_not(relo, local, outcomes, key)
        status = MISSING if res.poison else ZERO
        return done(status, reason, local_value=res.orig_val,
                    target_value=None if res.poison else res.new_val,
                    local_field=res.local_layout, validate=res.validate,
                    candidates=tuple(outcomes))

    def _why_not(self, relo: Relocation, local: Spec, outcomes: list[CandidateOutcome],
                 key: tuple[Btf, int]) -> str:
        lbtf = relo.local
        root = lbtf[relo.type_id]
        ess = essential_name(root.name)
        if not outcomes:
            all_before = self._all.get(key, [])
            if all_before:  # cannot happen: pruning never empties a list
                return "no candidate left"
            noun = _kind_noun(root.kind)
            msg = f"no {noun} named '{ess}' in the kernel"
            others = [i for i in target_index(self.target).any_kind(ess)
                      if self.target[i].kind not in (root.kind,)]
            if others:
                kinds = sorted({_kind_noun(self.target[i].kind) for i in others})
                msg += f" (it has a {' and a '.join(kinds)} of that name)"
            elif root.kind == Kind.TYPEDEF:
                under = lbtf[skip_mods_and_typedefs(lbtf, relo.type_id)]
                if under.name and under.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM,
                                                 Kind.ENUM64):
                    msg += (f"; a typedef root is relocated only against a typedef of the "
                            f"same name: access {_kind_noun(under.kind)} {under.name} directly")
            return msg
        reasons = []
        for o in outcomes:
            r = o.reason or "does not match"
            reasons.append(r if len(outcomes) == 1 else f"{o.name}: {r}")
        msg = "; ".join(dict.fromkeys(reasons))
        all_before = self._all.get(key, [])
        if len(all_before) > len(outcomes):
            gone = [c for c in all_before if c not in {(o.btf, o.type_id) for o in outcomes}]
            names = ", ".join(_root_label(b, i) for b, i in gone)
            root_label = _root_label(lbtf, relo.type_id)
            msg += f" ({names} ruled out by earlier relocations of {root_label})"
        return msg


_PARSED: weakref.WeakKeyDictionary[Btf, dict[tuple[int, int, tuple[int, ...]],
                                             tuple[Spec, str, str] | SpecError]]
_PARSED = weakref.WeakKeyDictionary()


def _parsed(relo: Relocation) -> tuple[Spec, str, str] | SpecError:
    """The local spec of a relocation with its two texts, parsed once per local BTF (specs are
    read-only once parsed)."""
    per = _PARSED.get(relo.local)
    if per is None:
        per = _PARSED[relo.local] = {}
    key = (relo.kind.value, relo.type_id, relo.access)
    hit = per.get(key)
    if hit is None:
        try:
            spec = parse_spec(relo)
            hit = (spec, format_spec_human(spec), format_spec_log(spec))
        except SpecError as e:
            hit = e
        per[key] = hit
    return hit


def _rebound(res: Resolution, relo: Relocation, layout: FieldLayout | None) -> Resolution:
    """A result reused from another object's relocation of the same shape, told of ``relo``:
    its own relocation, the texts that name its local type ids and its local field
    (``layout``: the same layout, with this object's type id)."""
    if res.relo is relo:
        return res
    parsed = _parsed(relo)
    if isinstance(parsed, SpecError):  # pragma: no cover - an equal shape parses equally
        return replace(res, relo=relo)
    new = object.__new__(Resolution)  # a copy with four fields changed: replace() is slow
    d = new.__dict__
    d.update(res.__dict__)
    d["relo"], d["spec"], d["local_spec_log"] = relo, parsed[1], parsed[2]
    if res.local_field is not None:
        d["local_field"] = layout
    return new


_SHAPED: weakref.WeakKeyDictionary[Btf, dict[tuple[int, int, tuple[int, ...], bool],
                                             tuple[object, FieldLayout | None]]]
_SHAPED = weakref.WeakKeyDictionary()


def _shaped(relo: Relocation, big_endian: bool) -> tuple[object, FieldLayout | None]:
    """The relocation's shape (:func:`bpfls.core.shapes.relocation_shape`) and its local
    field's layout, once per local BTF."""
    per = _SHAPED.get(relo.local)
    if per is None:
        per = _SHAPED[relo.local] = {}
    key = (relo.kind.value, relo.type_id, relo.access, big_endian)
    hit = per.get(key)
    if hit is None:
        parsed = _parsed(relo)
        hit = per[key] = ((None, None) if isinstance(parsed, SpecError)
                          else relocation_shape(relo, parsed[0], big_endian))
    return hit


def resolve(relo: Relocation | ObjectRelo, target: Btf, modules: Sequence[Btf] = ()
            ) -> Resolution:
    """Resolve one relocation on ``target`` in isolation (no pruning by other relocations).

    Use :class:`CoreResolver` for the relocations of a whole object.
    """
    return CoreResolver(target, modules).resolve(relo)
