"""Compiling a BPF C file with clang, as the project builds it, into an object bpfls can judge
exactly (``bpfls check --compile``, compile-on-save in the editor).

The command is clang's usual BPF build: ``-g -O2 -target bpf``, the ``__TARGET_ARCH_*`` of the
configuration (or of the primary kernel), the file's include paths and macros (configuration
first, then its compile database), and, after everything else, clang's own default include
directories for the host (so that ``<asm/types.h>`` resolves under ``-target bpf``, as
libbpf-bootstrap does) and a directory holding the primary kernel's ``vmlinux.h`` (used only when
the program's own include paths have none: the same types the prediction assumes).

Nothing here is run on its own: :func:`compile_bpf` runs one clang with a time limit and reports
clang's first error; :func:`compile_command` gives the command for callers that run it
themselves (the language server, in a subprocess it can cancel).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bpfls.btf import Btf
from bpfls.project.config import Config, define_map

#: how long one compile may take
TIMEOUT = 60.0
#: clang's diagnostics: ``file:line:col: error: message``
_DIAG = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): (?:fatal )?error: (?P<msg>.*)$")

_LOCK = threading.Lock()
_CLANG: dict[str, str | None] = {}
_SYSTEM_DIRS: dict[str, tuple[str, ...]] = {}


class CompileError(Exception):
    """clang could not be run, or did not produce an object (one clear line)."""


@dataclass(frozen=True)
class ClangError:
    """clang's first error: where (1-based line and column, as clang prints them) and what."""

    path: str
    line: int
    column: int
    message: str


@dataclass(frozen=True)
class CompileResult:
    """What one compile gave: the object (``None`` when clang failed), clang's first error,
    the command, and how long it took."""

    object_path: str | None
    error: ClangError | None
    command: tuple[str, ...]
    seconds: float


def find_clang(name: str | None = None) -> str | None:
    """The clang to build BPF with: ``name`` (the compile database's, say) when it has the BPF
    target, else ``$BPFLS_CLANG``, else the newest ``clang`` / ``clang-N`` on ``PATH`` that
    has it; ``None`` when there is none."""
    key = name or os.environ.get("BPFLS_CLANG") or ""
    with _LOCK:
        if key in _CLANG:
            return _CLANG[key]
    if key:
        path = shutil.which(key)
        found = path if path is not None and _bpf_version(path) is not None else None
        if found is None and name is not None:
            found = find_clang()  # the database's compiler is not here: the usual one
    else:
        found = _newest_clang()
    with _LOCK:
        _CLANG[key] = found
    return found


def _newest_clang() -> str | None:
    names = {"clang"}
    for d in os.environ.get("PATH", "").split(os.pathsep):
        try:
            names.update(n for n in os.listdir(d) if re.fullmatch(r"clang-\d+", n))
        except OSError:
            continue
    best: tuple[int, str] | None = None
    for n in sorted(names):
        path = shutil.which(n)
        version = _bpf_version(path) if path is not None else None
        if version is not None and (best is None or version > best[0]):
            best = (version, path)
    return best[1] if best is not None else None


def _bpf_version(clang: str) -> int | None:
    """clang's major version when it has the BPF target, else ``None``."""
    try:
        targets = subprocess.run([clang, "-print-targets"], capture_output=True, text=True,
                                 timeout=10, check=False).stdout
        version = subprocess.run([clang, "--version"], capture_output=True, text=True,
                                 timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if not any(line.split()[:1] == ["bpf"] for line in targets.splitlines()):
        return None
    m = re.search(r"clang version (\d+)", version)
    return int(m.group(1)) if m else 0


def wants_compile(mode: str | None, default: str = "never") -> bool:
    """Whether ``compile = mode`` (``None``: ``default``) asks for a compile on this machine:
    ``always``, or ``auto`` when clang with the BPF target is on ``PATH``."""
    mode = mode or default
    if mode == "always":
        return True
    return mode == "auto" and find_clang() is not None


def system_include_dirs(clang: str) -> tuple[str, ...]:
    """The host's default include directories, as clang lists them for ``-E -v``."""
    with _LOCK:
        if clang in _SYSTEM_DIRS:
            return _SYSTEM_DIRS[clang]
    dirs: list[str] = []
    try:
        err = subprocess.run([clang, "-v", "-E", "-x", "c", "-"], input="",
                             capture_output=True, text=True, timeout=10, check=False).stderr
    except (OSError, subprocess.SubprocessError):
        err = ""
    inside = False
    for line in err.splitlines():
        if line.startswith("#include <...> search starts here"):
            inside = True
        elif line.startswith("End of search list"):
            break
        elif inside and line.startswith(" "):
            dirs.append(line.strip())
    with _LOCK:
        _SYSTEM_DIRS[clang] = tuple(dirs)
    return tuple(dirs)


def vmlinux_dir(primary: Btf, cache_dir: Path | None = None) -> Path:
    """A directory holding ``vmlinux.h`` dumped from ``primary`` (written once per kernel,
    keyed by its content)."""
    # the C dumper loads only for a compile that needs the header
    from bpfls.btf.dump_c import dump_c

    root = cache_dir or _cache_root()
    d = root / "vmlinux" / primary.fingerprint().hex()[:32]
    header = d / "vmlinux.h"
    if not header.is_file():
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".h")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(dump_c(primary))
            os.replace(tmp, header)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return d


def _cache_root() -> Path:
    env = os.environ.get("BPFLS_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or
                                      Path.home() / ".cache") / "bpfls"
    return base


def compile_command(clang: str, source: str, cfg: Config, output: str, *,
                    arch: str | None = None, vmlinux: Path | None = None,
                    from_stdin: bool = False) -> list[str]:
    """The clang command that builds ``source`` (``cfg``: the file's configuration, with its
    compile flags merged) into ``output``. ``from_stdin``: the text comes on stdin, compiled as
    if it were ``source`` (its directory first on the include path)."""
    cmd = [clang, "-g", "-O2", "-target", "bpf", "-c"]
    defines = define_map(cfg.defines)
    if arch and not any(d.startswith("__TARGET_ARCH_") for d in defines):
        cmd.append(f"-D__TARGET_ARCH_{arch}")
    for name, value in defines.items():
        cmd.append(f"-D{name}" if value is None else f"-D{name}={value}")
    cmd += [f"-U{u}" for u in cfg.undefines]
    if from_stdin:
        cmd += ["-iquote", os.path.dirname(os.path.abspath(source))]
    cmd += [f"-I{d}" for d in cfg.include]
    cmd += [f"-idirafter{d}" for d in system_include_dirs(clang)]
    if vmlinux is not None:
        cmd.append(f"-idirafter{vmlinux}")
    if from_stdin:
        cmd += ["-x", "c", "-"]
    else:
        cmd.append(os.path.abspath(source))
    cmd += ["-o", output]
    return cmd


def first_error(stderr: str, source: str) -> ClangError | None:
    """clang's first error (``<stdin>`` is taken as ``source``); one without a place (a
    crash of the backend, say) is put at the start of ``source``."""
    unplaced = None
    for line in stderr.splitlines():
        m = _DIAG.match(line)
        if m is not None:
            path = m["file"]
            if path in ("<stdin>", "-"):
                path = os.path.abspath(source)
            return ClangError(path, int(m["line"]), int(m["col"]), m["msg"])
        if unplaced is None and "error: " in line:
            unplaced = line.split("error: ", 1)[1].strip()
    if unplaced is not None:
        return ClangError(os.path.abspath(source), 1, 1, unplaced)
    return None


def compile_bpf(source: str, cfg: Config, out_dir: str, *, primary: Btf | None = None,
                arch: str | None = None, text: str | None = None, clang: str | None = None,
                timeout: float = TIMEOUT) -> CompileResult:
    """Compile ``source`` (or ``text`` as if it were ``source``) into ``out_dir``. Raises
    :class:`CompileError` when there is no clang with the BPF target or it cannot be run;
    a program clang rejects gives a result with its first error."""
    clang = clang or find_clang(cfg.compiler)
    if clang is None:
        raise CompileError("no clang with the BPF target on PATH (install clang)")
    output = os.path.join(out_dir, Path(source).name.removesuffix(".c") + ".o")
    vmlinux = vmlinux_dir(primary) if primary is not None else None
    cmd = compile_command(clang, source, cfg, output, arch=arch, vmlinux=vmlinux,
                          from_stdin=text is not None)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, input=text, capture_output=True, text=True,
                              timeout=timeout, check=False, errors="replace")
    except subprocess.TimeoutExpired:
        raise CompileError(f"clang took longer than {timeout:.0f} s on {source}") from None
    except OSError as e:
        raise CompileError(f"cannot run {clang}: {e.strerror or e}") from None
    seconds = time.perf_counter() - t0
    if proc.returncode != 0 or not os.path.isfile(output):
        err = first_error(proc.stderr, source) or ClangError(
            os.path.abspath(source), 1, 1,
            (proc.stderr.strip().splitlines() or [f"clang exited with {proc.returncode}"])[-1])
        return CompileResult(None, err, tuple(cmd), seconds)
    return CompileResult(output, None, tuple(cmd), seconds)
