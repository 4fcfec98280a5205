"""Reading an input the user names: a regular file, opened without blocking, read within a bound.

Every file the tool reads (model, config, manifest, proof, receipt, and every dataset file
through `fingerprint.hashing`) is opened non-blocking and checked with `fstat` to be a regular
file before a byte is read, so a FIFO cannot hang a command and `/dev/zero` cannot exhaust
memory; the read stops one byte past the limit, so an oversized file is refused without being
read whole.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"{}")
    >>> read_regular(f.name, "example", limit=16)
    b'{}'
    >>> os.unlink(f.name)
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aichain_audit.errors import InputError, Unreadable

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
)
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words, for an error message."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], shown: str, *, follow: bool = True) -> int:
    """Opens a regular file for reading without blocking; returns the descriptor.

    A final symbolic link is followed only when `follow` (a link named on the command line
    is the user's choice; one found inside a dataset is policy). Anything that is not a
    regular file once opened (FIFO, device, socket, folder) is refused with `InputError`.
    """
    flags = OPEN_FLAGS | (0 if follow else _NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputError(f"{shown}: symbolic link to a missing file") from None
        raise InputError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{shown}: is a folder, not a file") from None
    except PermissionError as exc:
        raise Unreadable(f"{shown}: cannot open ({exc.strerror})") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot open ({exc.strerror})") from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:  # pragma: no cover - fstat of an open descriptor
        os.close(fd)
        raise InputError(f"{shown}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputError(f"{shown}: is {kind_of(mode)}, not a regular file")
    return fd


def fstat_size(fd: int, shown: str) -> int:
    """The size of an open file, as fstat gives it."""
    try:
        return os.fstat(fd).st_size
    except OSError as exc:  # pragma: no cover - fstat of an open descriptor
        raise InputError(f"{shown}: {exc.strerror}") from None


def refuse_larger(size: int, shown: str, *, limit: int, what: str) -> None:
    """Refuses a file of more than `limit` bytes, before it is read."""
    if size > limit:
        raise InputError(f"{shown}: larger than the {_size(limit)} a {what} may have")


# The most one read(2) returns on Linux.
_MAX_READ = 0x7FFFF000


def read_fd(fd: int, shown: str, *, limit: int, what: str = "file") -> bytes:
    """Reads an open descriptor to its end, refusing more than `limit` bytes."""
    chunks: list[bytes] = []
    total = 0
    known = fstat_size(fd, shown)
    refuse_larger(known, shown, limit=limit, what=what)
    # The whole file in one read into one buffer when its size is known: joining blocks
    # would hold it twice (a 200 MB model peaked at twice its size before it was parsed).
    want = max(known + 1, 1 << 16)
    while True:
        try:
            block = os.read(fd, min(want, _MAX_READ, limit + 1 - total))
            want = 1 << 24
        except BlockingIOError:  # pragma: no cover - regular files never block
            raise InputError(f"{shown}: cannot read without blocking") from None
        except OSError as exc:
            raise InputError(f"{shown}: read failed ({exc.strerror})") from None
        if not block:
            return b"".join(chunks)
        chunks.append(block)
        total += len(block)
        if total > limit:
            raise InputError(f"{shown}: larger than the {_size(limit)} a {what} may have")


def read_regular(
    path: str | os.PathLike[str], shown: str, *, limit: int, what: str = "file"
) -> bytes:
    """The whole content of a regular file of at most `limit` bytes (see the module doc)."""
    fd = open_regular(path, shown)
    try:
        return read_fd(fd, shown, limit=limit, what=what)
    finally:
        os.close(fd)


def read_input(path: Path, *, limit: int, what: str) -> bytes:
    """`read_regular` for a path given by the user, shown as given."""
    return read_regular(path, str(path), limit=limit, what=what)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n:,} bytes"
