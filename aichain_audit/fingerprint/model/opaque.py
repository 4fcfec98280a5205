"""Opaque models: PyTorch pickles (`.pt`, `.pth`, `.ckpt`, and `.bin` whose first bytes say
so), fingerprinted by their bytes only (docs/SPEC.md section 15).

Loading a pickle runs whatever code it names, so nothing here unpickles, parses or imports
torch: the model leaf is the file's digest, there is no semantic fingerprint and no
model-data file, and the fingerprint carries a warning that suggests safetensors. `verify`
then compares bytes; a changed pickle is a changed model, with no tensor to name.
"""

from __future__ import annotations

import os
from pathlib import Path

from aichain_audit.errors import ModelError
from aichain_audit.fingerprint.hashing import FileDigest
from aichain_audit.fingerprint.model.interface import (
    ModelDescription,
    ModelFingerprint,
    ModelFormat,
)

# The first bytes of the two containers `torch.save` writes: a pickle of protocol 2 or more
# (PROTO opcode 0x80, then the protocol), or a zip archive (a local file header) holding one.
_PICKLE = 0x80
_PROTOCOLS = range(2, 6)
_ZIP = b"PK\x03\x04"
# Larger than any model file a disk holds today; hashed as it streams, never held.
_LIMIT = 1 << 40


def container(head: bytes) -> str | None:
    """What the first bytes of a file say it is: "zip" (`torch.save` since PyTorch 1.6),
    "pickle" (protocol 2 or more), or None.

    >>> container(b"\\x80\\x02}q"), container(b"PK\\x03\\x04"), container(b"\\x08\\x07")
    ('pickle', 'zip', None)
    """
    if head[:4] == _ZIP:
        return "zip"
    if len(head) >= 2 and head[0] == _PICKLE and head[1] in _PROTOCOLS:
        return "pickle"
    return None


def _head(path: Path) -> bytes:
    """The first 4 bytes of the regular file at `path` (b"" when it cannot be read: the
    format that reads it then says why)."""
    from aichain_audit.errors import AichainError
    from aichain_audit.inputfile import open_regular

    try:
        fd = open_regular(path, str(path))
    except AichainError:
        return b""
    try:
        return os.pread(fd, 4, 0)
    except OSError:
        return b""
    finally:
        os.close(fd)


class PickleFormat(ModelFormat):
    """A PyTorch file: a pickle, or a zip archive holding one; never loaded."""

    scheme = None
    name = "PyTorch pickle"
    suffixes = (".pt", ".pth", ".ckpt", ".bin")
    # `.bin` is also what an ONNX model has long been named (`model.bin`, read as ONNX, the
    # registry's first format) and what ONNX external data files are called: a `.bin` file is
    # a pickle only when its first bytes say so.
    sniffed = (".bin",)
    max_file_size = _LIMIT

    def recognises(self, path: Path) -> bool:
        # The one recognition that reads (4 bytes, of a regular file opened without
        # blocking): a name alone cannot tell a `.bin` pickle from an ONNX `model.bin`.
        suffix = path.suffix.lower()
        if suffix not in self.suffixes:
            return False
        return suffix not in self.sniffed or container(_head(path)) is not None

    def warning(self, shown: str) -> str:
        return (
            f"{shown} is a pickle: it is fingerprinted by its bytes only, and loading it runs "
            "code; convert it to safetensors"
        )

    def fingerprint(self, path: Path) -> ModelFingerprint:
        from aichain_audit.fingerprint.hashing import digest_parallel
        from aichain_audit.fingerprint.paths import argument_name
        from aichain_audit.inputfile import fstat_size, open_regular, refuse_larger

        shown = str(path)
        fd = open_regular(path, shown)
        try:
            size = fstat_size(fd, shown)
            refuse_larger(size, shown, limit=self.max_file_size, what="model")
            digest = digest_parallel(fd, size, shown)
        finally:
            os.close(fd)
        return ModelFingerprint(argument_name(path), digest, (), None, (self.warning(shown),))

    def digest_data_file(self, folder: Path, location: str, shown: str) -> FileDigest:
        raise ModelError(f"{shown}: a pickle model reads no model-data file, yet one is named")

    def describe(self, path: Path, shown: str) -> ModelDescription:
        from aichain_audit.errors import Unreadable
        from aichain_audit.inputfile import open_regular

        fd = open_regular(path, shown)
        try:
            head = os.pread(fd, 4, 0)
        except OSError as exc:
            raise Unreadable(f"{shown}: read failed ({exc.strerror})") from None
        finally:
            os.close(fd)
        kind = container(head)
        held = {
            "zip": "a zip archive holding a pickle (torch.save)",
            "pickle": f"a pickle, protocol {head[1] if len(head) > 1 else '?'}",
        }.get(kind or "", "neither a pickle nor a zip archive by its first bytes")
        return ModelDescription(
            format=self.name,
            facts=(
                ("Container", held),
                ("Contents", "not read: loading a pickle runs code"),
            ),
        )
