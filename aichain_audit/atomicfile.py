"""Writing files so that a reader sees the old content or the new, never a part.

Only regular files are ever replaced: a target that is a symbolic link, a device node, a FIFO,
a socket or a folder is refused (docs/decisions.md), so `-o /dev/null` run as root cannot
replace the system's node and `-o link` cannot redirect a write. A new file gets the mode
`0666 & ~umask`, as any file a user creates; a replaced file keeps its mode.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path

from aichain_audit.errors import InputError
from aichain_audit.inputfile import kind_of

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting it and putting it back, under a lock)."""
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _target_mode(path: Path) -> int:
    """The mode the written file gets; refuses a target that is not a regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0o666 & ~current_umask()
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise InputError(
            f"{path}: is a symbolic link; refusing to replace it (name the file it points to)"
        )
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: is {kind_of(st.st_mode)}, not a regular file; refusing to write")
    return stat.S_IMODE(st.st_mode)


def write_atomic(path: Path, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, syncs it, then renames it into place."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{path}: folder {folder} does not exist")
    mode = _target_mode(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        # Checked again just before the rename: the target may have been swapped meanwhile.
        _target_mode(path)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise InputError(f"{path}: cannot write ({exc.strerror})") from None
        raise
