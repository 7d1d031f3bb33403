"""Which instructions the verifier can reach (:mod:`bpfls.core.reach`) and the per-kernel
verdicts on objects (:func:`bpfls.core.objects.judge_object`).

Hand-assembled programs check the model piece by piece (constants, 32-bit arithmetic,
spills, calls, callbacks, loops, budgets); the programs under ``fixtures/reach/``, compiled
with clang, check every relocation's "executes" on every sample kernel against the
``// executes:`` comment on its line. ``test_core_reach_oracle.py`` compares both with the
kernel's verifier."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bpfls.btf import load
from bpfls.core.objects import judge, judge_object, resolve_object
from bpfls.core.objfile import BpfObject, object_from_bytes
from bpfls.core.reach import POISON, UNKNOWN, WIDEN_AFTER, checks_globals_lazily, reach

from btfbuild import BtfBuilder
from conftest import SAMPLE_DIR, require_tool
from coreoracle import compile_objects, elf_object, insn, ldimm64

FIXTURES = Path(__file__).parent / "fixtures" / "reach"
KERNELS = ["5.10-amd64", "6.1-amd64", "6.12-amd64", "6.12-arm64"]
PROG = "kprobe/p"

# instruction classes and operations
ALU64_K, ALU64_X, ALU32_K, ALU32_X = 0x07, 0x0F, 0x04, 0x0C
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR, MOV, ARSH = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0)
JMP_K, JMP_X, JMP32_K = 0x05, 0x0D, 0x06
JEQ, JGT, JNE, JSGT, JLT = 0x10, 0x20, 0x50, 0x60, 0xA0
STX_DW, STX_W, STX_B, LDX_DW, LDX_W, LDX_H, ST_DW = 0x7B, 0x63, 0x73, 0x79, 0x61, 0x69, 0x7A
EXIT = insn(0x95)


def mov(dst: int, imm: int) -> bytes:
    return insn(ALU64_K | MOV, dst, imm=imm)


def call(helper: int) -> bytes:
    return insn(0x85, imm=helper)


def jump(op: int, dst: int, imm: int, off: int) -> bytes:
    return insn(JMP_K | op, dst, off=off, imm=imm)


def fp(dst: int, off: int) -> bytes:
    """``dst = r10 + off``."""
    return insn(ALU64_X | MOV, dst, 10) + insn(ALU64_K | ADD, dst, imm=off)


MARK = mov(0, 1)  # a marker: the tests ask whether it is reached


def _btf() -> bytes:
    b = BtfBuilder()
    b.int_("int", 4, signed=True)
    return b.build()


def assemble(*prog: bytes, text: tuple[tuple[str, bytes, bool], ...] = (),
             relocations: dict[str, list[tuple[int, str]]] | None = None) -> BpfObject:
    """A program ``p`` in section ``kprobe/p`` and ``text`` functions (name, code, global)."""
    code = b"".join(prog)
    sections = {PROG: code}
    functions = [("p", PROG, 0, len(code), True)]
    if text:
        body = b""
        for name, fcode, is_global in text:
            functions.append((name, ".text", len(body), len(fcode), is_global))
            body += fcode
        sections[".text"] = body
    data = elf_object({**sections, ".BTF": _btf()}, tuple(sections), functions=tuple(functions),
                      relocations=relocations)
    return object_from_bytes(data, "asm.o")


def pc_of(*prog: bytes) -> int:
    """The slot that follows ``prog``."""
    return sum(len(p) for p in prog) // 8


def reaches(obj: BpfObject, pc: int, section: str = PROG, **kw) -> bool | None:
    return reach(obj, kw.pop("patches", {}), **kw).executes((section, pc))


# -- constants and branches -----------------------------------------------------------------

def test_a_known_condition_skips_the_branch() -> None:
    obj = assemble(mov(1, 0), jump(JEQ, 1, 0, 1), MARK, EXIT)
    assert reaches(obj, 2) is False
    assert reaches(obj, 3) is True
    assert reaches(obj, 2, patches={(PROG, 0): 1}) is True  # libbpf patched the check to 1
    assert reaches(obj, 2, patches={(PROG, 0): UNKNOWN}) is True


def known(expected: int, *ops: bytes) -> bool:
    """Does the model know that ``r1 == expected`` after ``ops``?"""
    head = (*ops, ldimm64(2, expected))
    eq = assemble(*head, insn(JMP_X | JEQ, 1, 2, off=1), MARK, EXIT)
    ne = assemble(*head, insn(JMP_X | JNE, 1, 2, off=1), MARK, EXIT)
    at = pc_of(*head) + 1
    return reaches(eq, at) is False and reaches(ne, at) is True


U64 = (1 << 64) - 1


@pytest.mark.parametrize("ops, expected", [
    ((mov(1, -1),), U64),
    ((insn(ALU32_K | MOV, 1, imm=-1),), 0xFFFF_FFFF),
    ((insn(ALU32_K | MOV, 1, imm=-1), insn(ALU32_K | ADD, 1, imm=2)), 1),
    ((mov(1, 0x7FFF_FFFF), insn(ALU64_K | ADD, 1, imm=1)), 0x8000_0000),
    ((mov(1, 3), insn(ALU64_K | SUB, 1, imm=5)), U64 - 1),
    ((mov(1, 6), insn(ALU64_K | MUL, 1, imm=7)), 42),
    ((mov(1, 0xF0), insn(ALU64_K | AND, 1, imm=0x3C)), 0x30),
    ((mov(1, 0xF0), insn(ALU64_K | OR, 1, imm=0x0F)), 0xFF),
    ((mov(1, 0xF0), insn(ALU64_K | XOR, 1, imm=0xFF)), 0x0F),
    ((mov(1, 1), insn(ALU64_K | LSH, 1, imm=63)), 1 << 63),
    ((mov(1, -16), insn(ALU64_K | RSH, 1, imm=60)), 0xF),
    ((mov(1, -16), insn(ALU64_K | ARSH, 1, imm=2)), U64 - 3),
    ((insn(ALU32_K | MOV, 1, imm=-2**31), insn(ALU32_K | ARSH, 1, imm=4)), 0xF800_0000),
    ((mov(1, -1), insn(ALU32_K | LSH, 1, imm=4)), 0xFFFF_FFF0),  # 32-bit ops zero-extend
    ((mov(1, 0xFF), insn(ALU64_X | MOV, 1, 1, off=8)), U64),  # movsx from 8 bits
    ((mov(1, 0xFF), insn(ALU32_X | MOV, 1, 1, off=8)), 0xFFFF_FFFF),
    ((ldimm64(1, 0x1_0000_0002),), 0x1_0000_0002),
    ((mov(3, 5), insn(ALU64_X | MOV, 1, 3), insn(ALU64_X | ADD, 1, 3)), 10),
])
def test_alu_on_constants(ops, expected) -> None:
    assert known(expected, *ops)


@pytest.mark.parametrize("ops, concrete", [
    ((mov(1, 7), insn(ALU64_K | DIV, 1, imm=2)), 3),  # the verifier does not compute these
    ((mov(1, 7), insn(ALU64_K | MOD, 1, imm=2)), 1),
    ((mov(1, 7), insn(ALU64_K | NEG, 1)), U64 - 6),
    ((mov(1, 1), mov(2, 64), insn(ALU64_X | LSH, 1, 2)), 1),  # a shift by the width
    ((mov(1, 1), mov(2, 32), insn(ALU32_X | LSH, 1, 2)), 1),
    ((call(7), insn(ALU64_X | MOV, 1, 0)), 0),  # a helper's result
])
def test_alu_results_the_verifier_does_not_know(ops, concrete) -> None:
    assert not known(concrete, *ops) and not known(concrete + 1, *ops)


def test_jmp32_compares_the_low_halves() -> None:
    head = (ldimm64(1, 0x5_0000_0001),)
    taken = assemble(*head, insn(JMP32_K | JEQ, 1, imm=1, off=1), MARK, EXIT)
    assert reaches(taken, pc_of(*head) + 1) is False
    wide = assemble(*head, jump(JEQ, 1, 1, 1), MARK, EXIT)
    assert reaches(wide, pc_of(*head) + 1) is True
    signed = assemble(mov(1, -1), jump(JSGT, 1, 0, 1), MARK, EXIT)  # -1 s> 0: not taken
    assert reaches(signed, 2) is True
    unsigned = assemble(mov(1, -1), jump(JGT, 1, 0, 1), MARK, EXIT)  # 2**64-1 > 0: taken
    assert reaches(unsigned, 2) is False


def test_the_equal_side_of_a_zero_test_learns_zero() -> None:
    prog = (call(7), jump(JEQ, 0, 0, 1), EXIT, jump(JEQ, 0, 0, 1), MARK, EXIT)
    assert reaches(assemble(*prog), 4) is False
    ne = (call(7), jump(JNE, 0, 0, 2), jump(JEQ, 0, 0, 1), MARK, EXIT)
    assert reaches(assemble(*ne), 3) is False
    other = (call(7), jump(JEQ, 0, 5, 1), EXIT, jump(JEQ, 0, 5, 1), MARK, EXIT)
    assert reaches(assemble(*other), 4) is True  # only zero is learnt


# -- the stack -------------------------------------------------------------------------------

def _after(*ops: bytes, fill: bytes) -> bool:
    """Is ``r1``, as ``fill`` reads it back after ``ops``, known to be nonzero or zero?"""
    head = (*ops, fill)
    obj = assemble(*head, jump(JNE, 1, 0, 1), MARK, EXIT)
    nz = assemble(*head, jump(JEQ, 1, 0, 1), MARK, EXIT)
    at = pc_of(*head) + 1
    return reaches(obj, at) is False or reaches(nz, at) is False


def test_spills_the_verifier_keeps() -> None:
    spill8 = (mov(1, 1), insn(STX_DW, 10, 1, off=-8), mov(1, 0))
    assert _after(*spill8, fill=insn(LDX_DW, 1, 10, off=-8))
    zero4 = (mov(1, 0), insn(STX_W, 10, 1, off=-4), mov(1, 1))
    assert _after(*zero4, fill=insn(LDX_W, 1, 10, off=-4))
    assert _after(*zero4, fill=insn(LDX_H, 1, 10, off=-2))  # part of the zero bytes
    through = (mov(1, 1), fp(2, -16), insn(STX_DW, 2, 1, off=8), mov(1, 0))  # via r2 = fp-16
    assert _after(*through, fill=insn(LDX_DW, 1, 10, off=-8))


def test_stores_the_verifier_forgets() -> None:
    # a nonzero constant in four bytes (kernels before 5.16 keep only 8-byte spills)
    one4 = (mov(1, 1), insn(STX_W, 10, 1, off=-8), mov(1, 0))
    assert not _after(*one4, fill=insn(LDX_W, 1, 10, off=-8))
    # an immediate store (kept only by recent kernels)
    st = (insn(ST_DW, 10, off=-8, imm=0), mov(1, 1))
    assert not _after(*st, fill=insn(LDX_DW, 1, 10, off=-8))
    # part of a spill overwritten
    spill = (mov(1, 1), insn(STX_DW, 10, 1, off=-8), insn(STX_B, 10, 1, off=-5), mov(1, 0))
    assert not _after(*spill, fill=insn(LDX_DW, 1, 10, off=-8))
    # a narrower fill of an 8-byte spill
    assert not _after(mov(1, 1), insn(STX_DW, 10, 1, off=-8), mov(1, 0),
                      fill=insn(LDX_W, 1, 10, off=-8))
    # zeros from two stores
    two = (mov(1, 0), insn(STX_W, 10, 1, off=-8), insn(STX_W, 10, 1, off=-4), mov(1, 1))
    assert not _after(*two, fill=insn(LDX_DW, 1, 10, off=-8))


def test_helpers_write_where_their_pointers_reach() -> None:
    spill = (mov(6, 1), insn(STX_DW, 10, 6, off=-8))
    fill = insn(LDX_DW, 1, 10, off=-8)
    # bpf_probe_read_kernel(fp-16, 8, ...) writes [fp-16, fp-8): the spill above survives
    probe = (*spill, fp(1, -16), mov(2, 8), call(113))
    assert _after(*probe, fill=fill)
    # ... but 16 bytes reach it
    assert not _after(*spill, fp(1, -16), mov(2, 16), call(113), fill=fill)
    # bpf_map_lookup_elem only reads its key
    assert _after(*spill, fp(2, -16), call(1), fill=fill)
    # any other helper may write from its pointer to the top of the frame
    assert not _after(*spill, fp(1, -16), call(35), fill=fill)
    assert _after(*spill, fp(1, -16), call(35), fill=insn(LDX_DW, 1, 10, off=-24)) is False


def test_a_store_through_an_unknown_stack_pointer_forgets_the_stack() -> None:
    spill = (mov(6, 1), insn(STX_DW, 10, 6, off=-8))
    var = (call(7), fp(2, -16), insn(ALU64_X | ADD, 2, 0))  # r2 = fp-16 + unknown
    assert not _after(*spill, *var, insn(STX_B, 2, 6), fill=insn(LDX_DW, 1, 10, off=-8))
    assert _after(*spill, *var, fill=insn(LDX_DW, 1, 10, off=-8))  # no store, still known


# -- calls -----------------------------------------------------------------------------------

def _call_f() -> bytes:
    return insn(0x85, src=1, imm=-1)


def test_a_static_function_returns_its_constant_to_the_caller() -> None:
    f = ("f", mov(0, 0) + EXIT, False)
    prog = (_call_f(), jump(JEQ, 0, 0, 1), MARK, EXIT)
    obj = assemble(*prog, text=(f,), relocations={PROG: [(0, "f")]})
    assert reaches(obj, 2) is False
    assert reaches(obj, 0, section=".text") is True
    # the callee sees the caller's arguments
    echo = ("f", insn(ALU64_X | MOV, 0, 1) + EXIT, False)
    obj = assemble(mov(1, 3), _call_f(), jump(JEQ, 0, 3, 1), MARK, EXIT, text=(echo,),
                   relocations={PROG: [(8, "f")]})
    assert reaches(obj, 3) is False


def test_a_callee_writes_its_callers_stack() -> None:
    setter = ("f", mov(2, 1) + insn(STX_DW, 1, 2) + mov(0, 0) + EXIT, False)  # *(u64 *)r1 = 1
    prog = (mov(6, 0), insn(STX_DW, 10, 6, off=-8), fp(1, -8), _call_f(),
            insn(LDX_DW, 1, 10, off=-8), jump(JEQ, 1, 1, 1), MARK, EXIT)
    obj = assemble(*prog, text=(setter,), relocations={PROG: [(pc_of(*prog[:3]) * 8, "f")]})
    assert reaches(obj, pc_of(*prog[:6])) is False
    assert reaches(obj, pc_of(*prog[:7])) is True


def test_a_global_function_is_verified_alone() -> None:
    g = ("g", MARK + EXIT, True)
    prog = (mov(1, 0), jump(JEQ, 1, 0, 1), _call_f(), jump(JEQ, 0, 0, 1), MARK, EXIT)
    obj = assemble(*prog, text=(g,), relocations={PROG: [(16, "g")]})
    assert reaches(obj, 0, section=".text") is True  # every global function of the program
    assert reaches(obj, 0, section=".text", lazy_globals=True) is False  # only called ones
    ungated = assemble(_call_f(), jump(JEQ, 0, 0, 1), MARK, EXIT, text=(g,),
                       relocations={PROG: [(0, "g")]})
    assert reaches(ungated, 2, lazy_globals=True) is True  # its result is unknown
    assert reaches(ungated, 0, section=".text", lazy_globals=True) is True


def test_recursion_is_beyond_the_model() -> None:
    f = ("f", insn(0x85, src=1, imm=-1) + EXIT, False)
    obj = assemble(_call_f(), EXIT, text=(f,), relocations={PROG: [(0, "f")], ".text": [(0, "f")]})
    r = reach(obj, {})
    assert not r.complete and "recursive" in r.reasons[0]
    assert r.executes((PROG, 1)) is None


def test_bpf_loop_runs_its_callback_in_the_callers_context_any_number_of_times() -> None:
    # the callback: if ctx->flag: MARK; ctx->flag = 1
    cb = (insn(LDX_DW, 1, 2), jump(JEQ, 1, 0, 1), MARK, mov(3, 1), insn(STX_DW, 2, 3),
          mov(0, 0), EXIT)
    prog = (mov(6, 0), insn(STX_DW, 10, 6, off=-8), fp(3, -8), mov(1, 4), ldimm64(2, 0),
            mov(4, 0), call(181), insn(LDX_DW, 1, 10, off=-8), jump(JEQ, 1, 0, 1), MARK, EXIT)
    at = pc_of(*prog[:4]) * 8
    obj = assemble(*prog, text=(("cb", b"".join(cb), False),), relocations={PROG: [(at, ".text")]})
    r = reach(obj, {})
    assert r.complete
    assert r.executes((".text", 2)) is True  # a second run sees the flag the first one set
    assert r.executes((PROG, pc_of(*prog[:-2]))) is True  # and so does the caller after it
    # the flag never set: never marked
    quiet = (insn(LDX_DW, 1, 2), jump(JEQ, 1, 0, 1), MARK, mov(0, 0), EXIT)
    obj = assemble(*prog, text=(("cb", b"".join(quiet), False),),
                   relocations={PROG: [(at, ".text")]})
    r = reach(obj, {})
    assert r.executes((".text", 2)) is False and r.executes((PROG, pc_of(*prog[:-2]))) is False
    # an unknown helper's callback is verified alone: nothing is known of its context
    other = tuple(call(12) if p == call(181) else p for p in prog)
    obj = assemble(*other, text=(("cb", b"".join(quiet), False),),
                   relocations={PROG: [(at, ".text")]})
    assert reach(obj, {}).executes((".text", 2)) is True


def test_a_function_whose_address_is_taken_is_verified() -> None:
    cb = ("cb", MARK + EXIT, False)
    prog = (ldimm64(2, 0), insn(STX_DW, 10, 2, off=-8), EXIT)
    obj = assemble(*prog, text=(cb,), relocations={PROG: [(0, ".text")]})
    r = reach(obj, {})
    assert r.executes((".text", 0)) is True and r.by_program["p"] >= {(".text", 0)}


def test_atomics_may_goto_and_long_jumps() -> None:
    spill = (mov(6, 1), insn(STX_DW, 10, 6, off=-8))
    fill = insn(LDX_DW, 1, 10, off=-8)
    atomic_add = insn(0xDB, 10, 6, off=-8, imm=0x00)  # lock *(u64 *)(r10 - 8) += r6
    assert not _after(*spill, atomic_add, fill=fill)
    fetch = (*spill, mov(1, 5), insn(0xDB, 10, 1, off=-8, imm=0x01))  # r1 = fetch_add
    head = (*fetch, jump(JEQ, 1, 5, 1))
    assert reaches(assemble(*head, MARK, EXIT), pc_of(*head)) is True
    may_goto = (insn(0xE5, off=1), MARK, EXIT)  # either way
    assert reaches(assemble(*may_goto), 1) is True
    gotol = (insn(0x06, imm=1), MARK, EXIT)  # BPF_JMP32 | BPF_JA: the offset in imm
    assert reaches(assemble(*gotol), 1) is False


def test_calls_nested_deeper_than_the_verifier_allows() -> None:
    chain = tuple((f"f{i}", _call_f() + EXIT, False) for i in range(9))
    relocations = {".text": [(16 * i, f"f{i + 1}") for i in range(8)], PROG: [(0, "f0")]}
    r = reach(assemble(_call_f(), EXIT, text=chain, relocations=relocations), {})
    assert not r.complete and "deeper" in r.reasons[0]


# -- loops, budgets, poison, unknown code ------------------------------------------------------

def test_loops_terminate_and_keep_what_does_not_change() -> None:
    loop = (mov(6, 0), mov(1, 0),
            insn(ALU64_K | ADD, 1, imm=1),  # 2: the loop
            jump(JEQ, 6, 0, 1), MARK,  # 3, 4: guarded by r6, constant through the loop
            jump(JLT, 1, 1000, -4),  # 5: back to 2
            EXIT)
    r = reach(assemble(*loop), {})
    assert r.complete and r.steps < 200
    assert r.executes((PROG, 4)) is False and r.executes((PROG, 6)) is True


def test_a_widened_loop_counter_is_unknown() -> None:
    """The verifier would know the counter never reaches 2000; after WIDEN_AFTER states the
    model does not, so it errs toward "executes"."""
    loop = (mov(1, 0), insn(ALU64_K | ADD, 1, imm=1), jump(JNE, 1, 2000, 1), MARK,
            jump(JLT, 1, WIDEN_AFTER * 4, -4), EXIT)
    r = reach(assemble(*loop), {})
    assert r.complete and r.executes((PROG, 3)) is True


def test_an_exhausted_budget_leaves_the_rest_undecided() -> None:
    prog = [mov(1, i) for i in range(40)] + [EXIT]
    r = reach(assemble(*prog), {}, budget=10)
    assert not r.complete and "budget" in r.reasons[0]
    assert r.executes((PROG, 5)) is True
    assert r.executes((PROG, 39)) is None
    assert r.programs_at((PROG, 39)) == ("p",)


def test_every_reached_poison_is_found() -> None:
    obj = assemble(mov(1, 1), mov(2, 2), jump(JEQ, 2, 2, 1), MARK, EXIT)
    r = reach(obj, {(PROG, 0): POISON, (PROG, 1): POISON})
    assert r.poisons == {(PROG, 0), (PROG, 1)}
    # past a poison its result is unknown: the branch on it goes both ways
    assert r.executes((PROG, 3)) is True
    assert reach(obj, {}).executes((PROG, 3)) is False


@pytest.mark.parametrize("prog", [
    (jump(JEQ, 1, 0, 50), EXIT),  # a jump out of the function
    (mov(1, 0),),  # running off its end
    (insn(0xFF), EXIT),  # an unknown opcode
])
def test_code_beyond_the_model_is_undecided(prog) -> None:
    r = reach(assemble(*prog), {})
    assert not r.complete and r.reasons
    assert r.executes((PROG, 0)) is True
    assert all(r.executes((PROG, i)) is not False for i in range(pc_of(*prog)))


def test_programs_not_loaded_are_not_explored() -> None:
    obj = assemble(MARK, EXIT)
    assert reach(obj, {}, programs=()).executes((PROG, 0)) is False
    assert reach(obj, {}, programs=("p",)).by_program.keys() == {"p"}


# -- which verifier ----------------------------------------------------------------------------

def test_global_functions_are_checked_lazily_from_6_8() -> None:
    lazy = {k: checks_globals_lazily(load(SAMPLE_DIR / f"{k}.btf.xz")) for k in KERNELS}
    assert lazy == {"5.10-amd64": False, "6.1-amd64": False, "6.12-amd64": True,
                    "6.12-arm64": True}


# -- clang's objects, per kernel -------------------------------------------------------------

EXECUTES = re.compile(r"//\s*executes:\s*(?P<spec>.*)$")
DEFINITION = re.compile(r"^(?!struct|enum|char|typedef|SEC)\w[\w\s*]*?\b(?P<name>\w+)"
                        r"\((?P<args>[^;]*)$")


def expectations(src: Path) -> dict[str, list[tuple[str | None, frozenset[str]]]]:
    """function → what each of its relocations does, in source order: (kind or ``None`` for
    any, the kernels on which it executes). A line's comment ``executes: KERNELS`` stands for
    its one relocation, ``executes: KIND@KERNELS ...`` for several in order; KERNELS is
    ``all``, ``none`` or a comma-separated list."""
    out: dict[str, list[tuple[str | None, frozenset[str]]]] = {}
    function = None
    for n, line in enumerate(src.read_text().splitlines(), start=1):
        d = DEFINITION.match(line)
        if d:
            function = (d["args"].split(",")[0] if d["name"] == "BPF_PROG" else d["name"])
        m = EXECUTES.search(line)
        if not m:
            continue
        assert function is not None, (src.name, n)
        for token in m["spec"].split():
            kind, _, ks = token.rpartition("@") if "@" in token else (None, "", token)
            kernels = (frozenset(KERNELS) if ks == "all" else frozenset() if ks == "none"
                       else frozenset(ks.split(",")))
            assert kernels <= set(KERNELS), (src.name, n, ks)
            out.setdefault(function, []).append((kind or None, kernels))
    return out


@pytest.fixture(scope="module")
def objects() -> dict[str, Path]:
    clang = require_tool("clang-16")
    return compile_objects(clang, sorted(FIXTURES.glob("*.bpf.c")),
                           SAMPLE_DIR / "6.12-amd64.btf.xz")


@pytest.fixture(scope="module")
def kernels():
    return {k: load(SAMPLE_DIR / f"{k}.btf.xz") for k in KERNELS}


@pytest.mark.parametrize("src", sorted(FIXTURES.glob("*.bpf.c")), ids=lambda p: p.name)
def test_fixture_relocations_execute_where_their_lines_say(src: Path, objects, kernels) -> None:
    """Every relocation of each function, in .BTF.ext order, against its function's comments
    in source order (clang's line table is not precise enough inside macros)."""
    want = expectations(src)
    for name, btf in kernels.items():
        got: dict[str, list[tuple[str, bool | None]]] = {}
        for v in judge_object(objects[src.name], btf):
            got.setdefault(v.function, []).append((str(v.resolution.kind), v.executes))
        assert set(got) == set(want), (name, sorted(set(got) ^ set(want)))
        for function, verdicts in got.items():
            expected = [(kind if kind else k, name in ks)
                        for (kind, ks), (k, _e) in zip(want[function], verdicts, strict=False)]
            assert len(want[function]) == len(verdicts), (src.name, function)
            assert verdicts == expected, (src.name, name, function)


def test_verdicts_name_functions_and_programs(objects, kernels) -> None:
    verdicts = judge_object(objects["calls.bpf.c"], kernels["5.10-amd64"])
    by_function = {v.function: v for v in verdicts}
    assert by_function["has_state"].program == "raw_tp/helper_guard"
    assert by_function["read_state"].program == "raw_tp/guarded_call"
    assert by_function["loop_guarded"].program == "raw_tp/loop_callback"
    assert by_function["never_called"].program is None
    assert by_function["never_called"].executes is False
    # poisoned and reached fails the load; resolved never does
    on_61 = judge_object(objects["calls.bpf.c"], kernels["6.1-amd64"])
    failing = {v.function for v in on_61 if v.fails_load}
    assert failing == {"global_read"}


def test_programs_libbpf_does_not_load_are_left_out(objects, kernels) -> None:
    btf = kernels["6.1-amd64"]
    all_ = judge_object(objects["guards.bpf.c"], btf)
    assert "not_loaded" not in {v.function for v in all_}
    one = judge_object(objects["guards.bpf.c"], btf, programs={"not_loaded"})
    # .text's relocations are processed whichever programs load
    assert {v.function: v.fails_load for v in one} == {"not_loaded": True, "loop_read": False}


def test_judging_keeps_libbpfs_order_and_resolve_object(objects, kernels) -> None:
    btf = kernels["6.12-amd64"]
    path = objects["calls.bpf.c"]
    verdicts = judge_object(path, btf)
    resolved = resolve_object(path, btf)
    assert [(v.relo.section, v.relo.index) for v in verdicts] == [
        (o.section, o.index) for o, _r in resolved]
    assert [(v.resolution.status, v.resolution.target_value) for v in verdicts] == [
        (r.status, r.target_value) for _o, r in resolved]
    j = judge(path, btf)

    def key(v):
        return (v.relo.section, v.relo.index, v.executes, v.function, v.program)

    assert j.reach.complete and list(map(key, j.verdicts)) == list(map(key, verdicts))
