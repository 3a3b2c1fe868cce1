"""Crash-safe file writes: a file is either its old content or its new content, never half of either."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory; the rename still holds
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; results are ordinary files
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def drop_partial_line(path: Path) -> bytes:
    """If `path` does not end in a newline (an append cut short by a full disk, a kill or a copy), replace it
    atomically by its whole lines; return the bytes dropped (b"" when it was whole)."""
    try:
        with open(path, "rb") as handle:
            if handle.seek(0, os.SEEK_END) == 0 or (handle.seek(-1, os.SEEK_END), handle.read(1))[1] == b"\n":
                return b""
    except FileNotFoundError:
        return b""
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    atomic_write(path, lambda tmp: tmp.write_bytes(data[:cut]))
    return data[cut:]


def append_line(path: Path, line: str) -> bytes:
    """Append one whole line and fsync: rows already in the file are never rewritten. The file always ends in a
    whole line: a partial last line left by an earlier cut-short append is dropped first (the bytes dropped are
    returned), and an append that fails midway (disk full) is cut back to where it started."""
    dropped = drop_partial_line(path)
    data = line.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _FILE_MODE)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)  # only this append's own bytes
            raise
    finally:
        os.close(fd)
    return dropped
