"""One small interface for every model format, and the format-neutral results.

A `ModelFormat` says which paths it reads (`recognises`), fingerprints one into a
`ModelFingerprint` (file digests and a semantic fingerprint of three parts under its
`scheme`), finds a model-data file as its fingerprint finds it (`digest_data_file`, for
`verify`), and describes a model for reports (`describe`). Implementations import their
parsers only when called: naming a format must not load it (start-up, P8).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from aichain_audit.fingerprint.hashing import FileDigest


@dataclass(frozen=True, slots=True)
class TensorDigest:
    """The digest of one weight: its canonical id, its name in the model, its value digest."""

    id: str
    name: str
    digest: str


@dataclass(frozen=True, slots=True)
class SemanticFingerprint:
    graph: str
    weights: str
    metadata: str
    tensors: tuple[TensorDigest, ...]


@dataclass(frozen=True, slots=True)
class ModelFingerprint:
    """A model's file digests (model file, then external data files) and its semantics."""

    name: str
    file: FileDigest
    external: tuple[tuple[str, FileDigest], ...]
    semantic: SemanticFingerprint


@dataclass(frozen=True, slots=True)
class ModelDescription:
    """What a report shows of a model's structure, whatever its format."""

    format: str  # "ONNX"
    ir_version: int | None = None
    producer: str = ""
    doc_string: str = ""
    opsets: tuple[tuple[str, int], ...] = ()  # (domain, version)
    operators: tuple[tuple[str, int], ...] = ()  # (operator, count), most used first
    nodes: int = 0
    tensors: int = 0  # every weight, subgraphs too
    tensor_bytes: int = 0


class ModelFormat(ABC):
    """One model format: its semantic scheme, the paths it reads, and how it reads them."""

    scheme: str  # the model-semantic leaf's scheme (lineage.SEMANTIC_SCHEMES, SPEC)
    name: str  # as people call it: "ONNX"
    suffixes: tuple[str, ...]  # lower case, with the dot: (".onnx",)
    max_file_size: int  # a model file larger than this is refused before it is read

    def recognises(self, path: Path) -> bool:
        """Whether `path` names a model of this format (by its name: no I/O)."""
        return path.suffix.lower() in self.suffixes

    @abstractmethod
    def fingerprint(self, path: Path) -> ModelFingerprint:
        """The model's file digests and semantic fingerprint; `ModelError` for a bad model."""

    @abstractmethod
    def digest_data_file(self, folder: Path, location: str, shown: str) -> FileDigest:
        """The digest of a model-data file at `location` for a model in `folder`, found and
        opened as `fingerprint` finds and opens it."""

    @abstractmethod
    def describe(self, path: Path, shown: str) -> ModelDescription:
        """The model's structure, for reports; `AichainError` when it cannot be read."""
