"""safetensors models (`safetensors-semantic/v1`, docs/SPEC.md section 13): a single
`.safetensors` file, or a Hugging Face checkpoint folder. Split by job:

- `header`: one file's header, read and checked strictly;
- `folder`: which files make a checkpoint folder, and which one carries the fingerprint;
- `documents`: the graph, weights and metadata documents and the tensor digests (no I/O);
- `fingerprint`: one read of each weights file for its digest and its tensors';
- `describe`: what a report shows.
Nothing is imported from here until a safetensors model is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aichain_audit.errors import InputError, PathPolicyError
from aichain_audit.fingerprint.hashing import FileDigest
from aichain_audit.fingerprint.model.interface import (
    ModelDescription,
    ModelFingerprint,
    ModelFormat,
)

SCHEME = "safetensors-semantic/v1"
_FILE_LIMIT = 1 << 40  # fingerprint.FILE_LIMIT, without importing it


def digest_file_streaming(path: str, shown: str) -> FileDigest:
    """A file's digest (SPEC 3), read once through bounded buffers, not through a final link."""
    from aichain_audit.fingerprint.hashing import digest_parallel
    from aichain_audit.inputfile import fstat_size, open_regular

    fd = open_regular(path, shown, follow=False)
    try:
        return digest_parallel(fd, fstat_size(fd, shown), shown)
    finally:
        os.close(fd)


class SafetensorsFile(ModelFormat):
    """One `.safetensors` file: no config, no other file."""

    scheme = SCHEME
    name = "safetensors"
    suffixes = (".safetensors",)
    max_file_size = _FILE_LIMIT

    def fingerprint(self, path: Path) -> ModelFingerprint:
        from aichain_audit.fingerprint.model.safetensors.fingerprint import fingerprint_file

        return fingerprint_file(path)

    def data_files(self, path: Path) -> tuple[str, ...] | None:
        return ()

    def digest_data_file(self, folder: Path, location: str, shown: str) -> FileDigest:
        from aichain_audit.fingerprint.paths import resolve_inside

        return digest_file_streaming(str(resolve_inside(folder, location)), shown)

    def describe(self, path: Path, shown: str) -> ModelDescription:
        from aichain_audit.fingerprint.model.safetensors.describe import describe

        return describe(path, shown)


class SafetensorsFolder(ModelFormat):
    """A checkpoint folder: every file in it, the index (or the one weights file) carrying
    the semantic fingerprint (SPEC 13.2)."""

    scheme = SCHEME
    name = "safetensors checkpoint"
    suffixes = ()
    markers = (".safetensors", ".safetensors.index.json")
    max_file_size = _FILE_LIMIT
    folders = True

    def recognises(self, path: Path) -> bool:
        from aichain_audit.fingerprint.model.safetensors.folder import looks_like_checkpoint

        return looks_like_checkpoint(path)

    def main_file(self, path: Path) -> tuple[str, Path]:
        from aichain_audit.fingerprint.model.safetensors.folder import list_checkpoint

        ckpt = list_checkpoint(path)
        found = ckpt.path_of(ckpt.main)
        assert found is not None
        return ckpt.main, Path(found)

    def data_files(self, path: Path) -> tuple[str, ...] | None:
        """Every file of the folder but the model leaf's; when the folder no longer says
        which file that is (a tampered copy whose index is gone), every file (verify then
        compares them with the lineage's names)."""
        from aichain_audit.fingerprint.model.safetensors.folder import list_checkpoint

        ckpt = list_checkpoint(path, pick_main=False)
        return tuple(f.name for f in ckpt.files if f.name != ckpt.main)

    def fingerprint(self, path: Path) -> ModelFingerprint:
        from aichain_audit.fingerprint.model.safetensors.fingerprint import fingerprint_folder

        return fingerprint_folder(path)

    def digest_data_file(self, folder: Path, location: str, shown: str) -> FileDigest:
        return digest_file_streaming(resolve_in_checkpoint(folder, location, shown), shown)

    def data_path(self, folder: Path, location: str, shown: str) -> Path:
        return Path(resolve_in_checkpoint(folder, location, shown))

    def describe(self, path: Path, shown: str) -> ModelDescription:
        from aichain_audit.fingerprint.model.safetensors.describe import describe

        return describe(path, shown)


def resolve_in_checkpoint(folder: Path, location: str, shown: str) -> str:
    """The real path of the file a recorded name names in a checkpoint folder, by the
    listing's rules: no link on the way, except a cache snapshot's link to a file of its
    repository (`folder.list_checkpoint`)."""
    from aichain_audit.fingerprint.model.safetensors.folder import _followed, cache_repository
    from aichain_audit.lineage import check_relative

    parts = check_relative(location)
    real = os.path.realpath(folder)
    repo = cache_repository(real)
    at = real
    for i, part in enumerate(parts):
        at = os.path.join(at, part)
        last = i == len(parts) - 1
        try:
            mode = os.lstat(at).st_mode
        except FileNotFoundError:
            raise InputError(f"{shown}: no such file") from None
        except OSError as exc:
            raise InputError(f"{shown}: {exc.strerror}") from None
        if stat.S_ISLNK(mode) and last:
            return _followed(at, repo, shown)
        if stat.S_ISDIR(mode) and not last:
            continue
        if stat.S_ISREG(mode) and last:
            return at
        if stat.S_ISLNK(mode):
            raise PathPolicyError(f"{shown}: a folder on its path is a symbolic link")
        raise InputError(f"{shown}: not a regular file")
    raise InputError(f"{shown}: not a regular file")  # pragma: no cover - parts is not empty
