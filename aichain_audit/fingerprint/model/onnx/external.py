"""External data files: opened as the walk opens them, read once for their file digest and
their tensors' digests, and read ahead (`_Prefetch`) while onnx is imported and the model parsed.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint.hashing import FileDigest, Segment, Stopped, digest_parallel
from aichain_audit.fingerprint.model.onnx import wire
from aichain_audit.fingerprint.model.onnx.framing import _framed
from aichain_audit.fingerprint.paths import resolve_inside
from aichain_audit.inputfile import fstat_size, open_regular

_CHUNK = 4 * 1024 * 1024


class _ExternalFile:
    """An external data file, opened once: its tensors are hashed with its digest."""

    def __init__(self, fd: int, path: Path, shown: str, size: int, *, owned: bool = True) -> None:
        self.fd = fd
        self.path = path
        self.shown = shown
        self.size = size
        self.tensors: list[_Pending] = []
        self.owned = owned  # closed by the walk (else by the `_Prefetch` that opened it)

    @classmethod
    def open(cls, path: Path, shown: str, *, owned: bool = True) -> _ExternalFile:
        """Opens an external data file: non-blocking, a regular file only, and no final
        symlink swapped in after `resolve_inside` checked the real path (else InputError)."""
        fd = open_regular(path, shown, follow=False)
        try:
            return cls(fd, path, shown, fstat_size(fd, shown), owned=owned)
        except InputError:  # pragma: no cover - fstat of an open descriptor
            os.close(fd)
            raise


def digest_external_file(folder: Path, location: str, shown: str) -> FileDigest:
    """The file digest of the external data file at `location` (as a model writes it) for a
    model in `folder` (`paths.model_folder`), found and opened as the fingerprint finds and
    opens it, in one read. Raises `PathPolicyError` for a location outside the folder,
    `Unreadable` when the file cannot be opened or read, and `InputError` when it is missing
    or no regular file."""
    ext = _ExternalFile.open(resolve_inside(folder, location), shown)
    try:
        return digest_parallel(ext.fd, ext.size, shown)
    finally:
        os.close(ext.fd)


def _segment_key(offset: int, count: int, hasher: Any) -> tuple[int, int, bytes]:
    """A tensor's bytes and header: its range and the digest of what its hasher was fed (the
    framed header, before any of its bytes)."""
    return offset, count, hasher.copy().digest()


class _Prefetch:
    """External data files read while onnx is imported and the model parsed.

    The wire format names them (`wire.ExternalGuess`); each is opened as the walk opens
    it (`_Walk._hash_external`) and read once on another thread, giving its file digest and
    the digests of the tensors the guess describes. The walk then takes this open file, and
    a tensor's digest only where the parsed model asks for the same bytes under the same
    header (`_segment_key`); any other tensor is read on its own. So a wrong guess costs
    time, never a digest.
    """

    MIN_SIZE = 4 * 1024 * 1024  # smaller files are read after the parse: no time to win
    MAX_FILES = 64  # open at once; a model with more files has the others read after the parse

    def __init__(self) -> None:
        self.files: dict[str, _ExternalFile] = {}
        self._segments: dict[str, list[Segment]] = {}
        self._results: dict[str, FileDigest | Exception] = {}
        self._digests: dict[str, dict[tuple[int, int, bytes], str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, guesses: list[wire.ExternalGuess], base_dir: Path, shown: str) -> _Prefetch:
        self = cls()
        for guess in guesses:
            entries = dict(guess.entries)
            location = entries.get("location")
            if not location or len(entries) != len(guess.entries):
                continue
            ext = self.files.get(location)
            if ext is None and location not in self._segments:
                if len(self.files) >= self.MAX_FILES:
                    continue
                ext = self._open(location, base_dir, shown)
            if ext is None:
                self._segments[location] = []  # not to be opened again
                continue
            try:
                offset = int(entries.get("offset", "0"))
                count = int(entries["length"]) if "length" in entries else ext.size - offset
            except ValueError:
                continue
            if offset >= 0 and count >= 0 and offset + count <= ext.size:
                header = {
                    "kind": "dense",
                    "dtype": guess.data_type,
                    "dims": list(map(str, guess.dims)),
                }
                self._segments[location].append(Segment(offset, count, _framed(header)))
        if self.files:
            self._thread = threading.Thread(target=self._run, name="aichain-prefetch", daemon=True)
            self._thread.start()
        return self

    def _open(self, location: str, base_dir: Path, shown: str) -> _ExternalFile | None:
        try:
            path = resolve_inside(base_dir, location)
            ext = _ExternalFile.open(path, f"{shown}: external data {location!r}", owned=False)
        except InputError:
            return None  # the walk will say why
        if ext.size < self.MIN_SIZE:
            os.close(ext.fd)
            return None
        self.files[location] = ext
        self._segments[location] = []
        return ext

    def _run(self) -> None:
        for location, ext in self.files.items():
            segments = self._segments[location]
            keys = [_segment_key(s.offset, s.count, s.hasher) for s in segments]
            try:
                digest = digest_parallel(ext.fd, ext.size, ext.shown, segments, self._stop)
            except Stopped:
                return
            except Exception as exc:  # reported if the walk reads this file: `result`
                self._results[location] = exc
                continue
            self._results[location] = digest
            self._digests[location] = {
                key: "sha256:" + s.hasher.hexdigest() for key, s in zip(keys, segments, strict=True)
            }

    def result(self, location: str) -> tuple[FileDigest, dict[tuple[int, int, bytes], str]]:
        """The file digest and the guessed tensors' digests, once read (an `InputError` from
        reading is raised as a `ModelError`, as the walk's own read would)."""
        assert self._thread is not None
        self._thread.join()
        got = self._results[location]
        if isinstance(got, InputError):
            raise ModelError(got.message)
        if isinstance(got, Exception):  # pragma: no cover - digest_fd raises InputError
            raise got
        return got, self._digests[location]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for ext in self.files.values():
            os.close(ext.fd)
        self.files.clear()


@dataclass(eq=False, slots=True)
class _Pending(Segment):
    """An external tensor's digest: its hasher holds the header, the bytes come later."""

    file: _ExternalFile | None = None
    where: str = ""
    digest: str | None = None


Digest = str | _Pending


def _now(d: Digest) -> str:
    """A digest needed before the external data files are read (an unused initializer is
    numbered by its digest): its bytes are read on their own, as they were before one read."""
    if isinstance(d, str):
        return d
    if d.digest is None:
        assert d.file is not None
        done = 0
        try:
            while done < d.count:
                block = os.pread(d.file.fd, min(_CHUNK, d.count - done), d.offset + done)
                if not block:  # the file shrank while being read
                    raise ModelError(f"{d.where}: external data is shorter than declared")
                d.hasher.update(block)
                done += len(block)
        except OSError as exc:
            raise ModelError(f"{d.file.shown}: {exc.strerror}") from None
        d.digest = "sha256:" + d.hasher.hexdigest()
    return d.digest


def _resolved(d: Digest) -> str:
    if isinstance(d, str):
        return d
    assert d.digest is not None, "external data not read yet"
    return d.digest
