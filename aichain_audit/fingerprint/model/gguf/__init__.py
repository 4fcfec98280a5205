"""GGUF models (`gguf-semantic/v1`, docs/SPEC.md section 14), split by job:

- `tables`: the scheme's tables (value types, GGML types, storage keys, bounds);
- `parse`: the header, read in bounded windows and checked strictly; split file names;
- `semantic`: the graph, weights and metadata documents (no I/O);
- `fingerprint`: one read of each file for its digest and its tensors'; `describe`: reports.
Nothing here imports a library: the header is read with `struct`.
"""

from __future__ import annotations

from pathlib import Path

from aichain_audit.errors import InputError
from aichain_audit.fingerprint.hashing import FileDigest
from aichain_audit.fingerprint.model.gguf.tables import MODEL_LIMIT, SCHEME
from aichain_audit.fingerprint.model.interface import (
    ModelDescription,
    ModelFingerprint,
    ModelFormat,
)
from aichain_audit.fingerprint.paths import argument_name


class GgufFormat(ModelFormat):
    """A `.gguf` file, or the first part of a split model with its other parts beside it."""

    scheme = SCHEME
    name = "GGUF"
    suffixes = (".gguf",)
    max_file_size = MODEL_LIMIT

    def main_file(self, path: Path) -> tuple[str, Path]:
        """The file as named; a later part of a split model is refused (its first part is the
        model file)."""
        from aichain_audit.fingerprint.model.gguf.parse import part_of_name

        name = argument_name(path)
        part = part_of_name(name)
        if part is not None and part[1] != 1:
            prefix, no, count, suffix = part
            raise InputError(
                f"{path}: part {no} of {count} of a split GGUF model: name its first part, "
                f"{prefix}-00001-of-{count:05d}{suffix}"
            )
        return name, path

    def data_files(self, path: Path) -> tuple[str, ...] | None:
        """A split model's other parts, by the first part's name (SPEC 14.5); () for one file."""
        from aichain_audit.fingerprint.model.gguf.parse import part_names

        return part_names(argument_name(path))

    def parts(self, name: str) -> tuple[str, ...] | None:
        """Every part of the split model a part named `name` belongs to (SPEC 14.5)."""
        from aichain_audit.fingerprint.model.gguf.parse import part_of_name

        part = part_of_name(name)
        if part is None:
            return None
        prefix, _, count, suffix = part
        return tuple(f"{prefix}-{k:05d}-of-{count:05d}{suffix}" for k in range(1, count + 1))

    def fingerprint(self, path: Path) -> ModelFingerprint:
        from aichain_audit.fingerprint.model.gguf.fingerprint import fingerprint_model

        self.main_file(path)
        return fingerprint_model(path)

    def digest_data_file(self, folder: Path, location: str, shown: str) -> FileDigest:
        from aichain_audit.fingerprint.model.gguf.fingerprint import digest_data_file

        return digest_data_file(folder, location, shown)

    def describe(self, path: Path, shown: str) -> ModelDescription:
        from aichain_audit.fingerprint.model.gguf.describe import describe

        return describe(path, shown)
