"""ONNX models (`onnx-semantic/v1`, docs/SPEC.md section 8), split by job:

- `tables`: the scheme's tables (data types, fitted attributes, covered fields);
- `framing`: the two hashes every digest is made of;
- `walk`: the SPEC section 8 walk producing the graph, weights and metadata documents;
- `external`: external data files, read once, and read ahead while onnx is imported;
- `wire`, `parse`: the protobuf wire format, parsing and the ONNX checker;
- `fingerprint`: one read of the model file; `describe`: what a report shows.
onnx itself is imported only when a model is read.
"""

from __future__ import annotations

from pathlib import Path

from aichain_audit.fingerprint.hashing import FileDigest
from aichain_audit.fingerprint.model.interface import (
    ModelDescription,
    ModelFingerprint,
    ModelFormat,
)
from aichain_audit.fingerprint.model.onnx.tables import MODEL_LIMIT, SCHEME


class OnnxFormat(ModelFormat):
    """An `.onnx` file, with its external data files beside it."""

    scheme = SCHEME
    name = "ONNX"
    suffixes = (".onnx",)
    max_file_size = MODEL_LIMIT
    data_word = "external data"

    def fingerprint(self, path: Path) -> ModelFingerprint:
        from aichain_audit.fingerprint.model.onnx.fingerprint import fingerprint_model

        return fingerprint_model(path)

    def digest_data_file(self, folder: Path, location: str, shown: str) -> FileDigest:
        from aichain_audit.fingerprint.model.onnx.external import digest_external_file

        return digest_external_file(folder, location, shown)

    def describe(self, path: Path, shown: str) -> ModelDescription:
        from aichain_audit.fingerprint.model.onnx.describe import describe

        return describe(path, shown)
