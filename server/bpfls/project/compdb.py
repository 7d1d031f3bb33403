"""Include paths and macros from the clangd conventions: ``compile_commands.json`` and
``compile_flags.txt``.

Like clangd, the nearest file wins, looking in the source file's directory and each parent,
and in a ``build/`` directory beside each of them. ``compile_commands.json`` gives the flags of
the entry for this file (or, for a file it does not list, of an entry in the same directory,
then of any entry); ``compile_flags.txt`` holds one flag per line for every file below it.
Relative paths are resolved against the entry's ``directory`` / the flags file's directory.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

COMPILE_COMMANDS = "compile_commands.json"
COMPILE_FLAGS = "compile_flags.txt"


class CompileDbError(Exception):
    """A compile_commands.json / compile_flags.txt that cannot be read (one clear line)."""


@dataclass(frozen=True)
class CompileFlags:
    include: tuple[str, ...] = ()
    defines: tuple[str, ...] = ()  # NAME or NAME=VALUE, in command-line order
    undefines: tuple[str, ...] = ()
    source: str | None = None  # the file they came from
    compiler: str | None = None  # the clang of a compile_commands.json entry


_PATH_FLAGS = ("-I", "-isystem", "-iquote", "-idirafter", "--include-directory=",
               "-cxx-isystem")


def parse_flags(args: list[str], directory: str | Path) -> CompileFlags:
    """The include directories and -D/-U of one compiler command line."""
    directory = Path(directory)
    include: list[str] = []
    defines: list[str] = []
    undefines: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        value: str | None = None
        kind = ""
        for flag in (*_PATH_FLAGS, "-D", "-U"):
            if a == flag.rstrip("="):
                kind, value = flag, (args[i + 1] if i + 1 < len(args) else None)
                i += 1
                break
            if a.startswith(flag) and len(a) > len(flag):
                kind, value = flag, a[len(flag):]
                break
        i += 1
        if value is None:
            continue
        if kind == "-D":
            defines.append(value)
        elif kind == "-U":
            undefines.append(value)
        else:
            p = Path(value).expanduser()
            include.append(os.path.normpath(p if p.is_absolute() else directory / p))
    return CompileFlags(tuple(include), tuple(defines), tuple(undefines))


def _candidates(start: Path):
    for d in (start, *start.parents):
        yield d
        yield d / "build"


@dataclass(frozen=True)
class _Database:
    """A compile_commands.json's entries, with the first entry of each file and of each
    directory (a run over a project's files looks each one up)."""

    entries: list[dict]
    by_file: dict[Path, dict]
    by_dir: dict[Path, dict]


_DB_CACHE: dict[str, tuple[float, _Database]] = {}


def _load_db(path: Path) -> _Database:
    key = str(path)
    try:
        mtime = path.stat().st_mtime
    except OSError as e:
        raise CompileDbError(f"{path}: cannot read: {e.strerror or e}") from None
    hit = _DB_CACHE.get(key)
    if hit and hit[0] == mtime:
        return hit[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as e:
        raise CompileDbError(f"{path}: invalid JSON: {e}") from None
    except OSError as e:
        raise CompileDbError(f"{path}: cannot read: {e.strerror or e}") from None
    if not isinstance(data, list):
        raise CompileDbError(f"{path}: expected a list of compile commands")
    entries = [e for e in data if isinstance(e, dict) and isinstance(e.get("file"), str)]
    by_file: dict[Path, dict] = {}
    by_dir: dict[Path, dict] = {}
    for e in entries:
        f = _entry_file(e)
        by_file.setdefault(f, e)
        by_dir.setdefault(f.parent, e)
    db = _DB_CACHE[key] = (mtime, _Database(entries, by_file, by_dir))
    return db[1]


def _entry_args(entry: dict) -> list[str]:
    args = entry.get("arguments")
    if isinstance(args, list) and all(isinstance(a, str) for a in args):
        return args
    command = entry.get("command")
    if isinstance(command, str):
        try:
            return shlex.split(command)
        except ValueError:
            return command.split()
    return []


def _entry_file(entry: dict) -> Path:
    directory = Path(entry.get("directory") or ".")
    f = Path(entry["file"])
    return Path(os.path.normpath(f if f.is_absolute() else directory / f))


def flags_from_db(db: Path, source: Path) -> CompileFlags | None:
    loaded = _load_db(db)
    if not loaded.entries:
        return None
    source = Path(os.path.normpath(source))
    chosen = (loaded.by_file.get(source) or loaded.by_dir.get(source.parent)
              or loaded.entries[0])
    args = _entry_args(chosen)
    flags = parse_flags(args, chosen.get("directory") or db.parent)
    compiler = args[0] if args and os.path.basename(args[0]).startswith("clang") else None
    return CompileFlags(flags.include, flags.defines, flags.undefines, str(db), compiler)


def flags_from_file(path: Path) -> CompileFlags:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise CompileDbError(f"{path}: cannot read: {e.strerror or e}") from None
    args = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    flags = parse_flags(args, path.parent)
    return CompileFlags(flags.include, flags.defines, flags.undefines, str(path))


def find_compile_flags(source: str | Path,
                       database: str | Path | None = None) -> CompileFlags | None:
    """The flags clangd would use for ``source`` (``None`` when there is no database).
    ``database``: a ``compile_commands.json`` / ``compile_flags.txt``, or the directory
    holding one, to read instead of searching from the file (clang tools' ``-p``)."""
    src = Path(os.path.abspath(source))
    if database is not None:
        return _given_flags(Path(database), src)
    start = src if src.is_dir() else src.parent
    for d in _candidates(start):
        db = d / COMPILE_COMMANDS
        if db.is_file():
            return flags_from_db(db, src)
        cf = d / COMPILE_FLAGS
        if cf.is_file():
            return flags_from_file(cf)
    return None


def _given_flags(database: Path, src: Path) -> CompileFlags | None:
    if database.is_dir():
        if (database / COMPILE_COMMANDS).is_file():
            database = database / COMPILE_COMMANDS
        elif (database / COMPILE_FLAGS).is_file():
            database = database / COMPILE_FLAGS
        else:
            raise CompileDbError(f"{database}: holds no {COMPILE_COMMANDS} or {COMPILE_FLAGS}")
    if database.name == COMPILE_FLAGS:
        return flags_from_file(database)
    return flags_from_db(database, src)
