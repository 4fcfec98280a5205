"""One small interface for every model format, and the format-neutral results.

A `ModelFormat` says which paths it reads (`recognises`), fingerprints one into a
`ModelFingerprint` (file digests and a semantic fingerprint of three parts under its
`scheme`), finds a model-data file as its fingerprint finds it (`digest_data_file`, for
`verify`), and describes a model for reports (`describe`). Implementations import their
parsers only when called: naming a format must not load it (start-up, P8).

A model is one file (ONNX, GGUF, a single safetensors file, an opaque pickle) or one folder
(a Hugging Face checkpoint: `folders` is true). Either way its lineage has one `model` leaf,
the file `main_file` names, which carries the semantic fingerprint, and one `model-data`
leaf per other file the model reads (`data_files` lists them where a listing finds them;
ONNX names them inside the model instead). An opaque format has no `scheme` and no
semantic fingerprint: its bytes are all that is compared.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from aichain_audit.fingerprint.hashing import FileDigest
from aichain_audit.fingerprint.paths import argument_name, model_folder


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
    """A model's file digests (the model leaf's file, then its model-data files, each by its
    recorded name) and its semantics (None for an opaque model), with any warnings to show
    the person who ran the command (an opaque pickle, say)."""

    name: str
    file: FileDigest
    external: tuple[tuple[str, FileDigest], ...]
    semantic: SemanticFingerprint | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelDescription:
    """What a report shows of a model's structure, whatever its format."""

    format: str  # "ONNX", "safetensors", "GGUF", …
    # Format-neutral facts every format fills where it knows them (reports, CycloneDX):
    architecture: str = ""  # config.json's model_type/architectures, GGUF's general.architecture
    parameters: int = 0  # elements of every weight
    dtypes: tuple[tuple[str, int], ...] = ()  # (dtype name, tensors of it), most used first
    tensors: int = 0  # every weight (ONNX: subgraphs and fitted attributes too)
    tensor_bytes: int = 0  # their stored bytes
    facts: tuple[tuple[str, str], ...] = ()  # format-specific (label, value) lines, in order
    # ONNX's own, kept only for the members the JSON report (`aichain.report/v1`) has always
    # had; every renderer shows `facts` instead:
    ir_version: int | None = None
    producer: str = ""
    doc_string: str = ""
    opsets: tuple[tuple[str, int], ...] = ()  # (domain, version)
    operators: tuple[tuple[str, int], ...] = ()  # (operator, count), most used first
    nodes: int = 0


class ModelFormat(ABC):
    """One model format: its semantic scheme, the paths it reads, and how it reads them."""

    # the model-semantic leaf's scheme (lineage.SEMANTIC_SCHEMES, SPEC); None: opaque
    scheme: str | None
    name: str  # as people call it: "ONNX"
    suffixes: tuple[str, ...]  # lower case, with the dot: (".onnx",)
    # those of `suffixes` a file has only when its first bytes say so too (`recognises` reads
    # them): a pickle's `.bin`, which ONNX models and their data files are also called
    sniffed: tuple[str, ...] = ()
    max_file_size: int  # a model file larger than this is refused before it is read
    folders: bool = False  # reads a folder (a checkpoint), not a file
    # a folder format's: how the names of the files that make a folder one of its models end
    # (lower case; MLflow discovery, `tracking.client.model_paths`)
    markers: tuple[str, ...] = ()
    data_word: str = "model data"  # what a report calls its model-data files

    def recognises(self, path: Path) -> bool:
        """Whether `path` names a model of this format: a file by its name (no I/O); a
        folder format may list the folder's top level."""
        return path.suffix.lower() in self.suffixes

    def main_file(self, path: Path) -> tuple[str, Path]:
        """The recorded name of the model leaf's file and where it is: for a file, its own
        name (SPEC section 4); a folder format picks one file inside (SPEC)."""
        return argument_name(path), path

    def data_folder(self, path: Path) -> Path:
        """The folder `model-data` names are relative to: beside a model file as given (not
        beside a link's target: SPEC 8.1 rule 5), or the checkpoint folder itself."""
        return path if self.folders else model_folder(path)

    def data_path(self, folder: Path, location: str, shown: str) -> Path:
        """Where the model-data file recorded as `location` is for a model whose data folder
        is `folder`, found as `digest_data_file` finds it (reports hash it there);
        `AichainError` for a name that leads outside the folder or to no regular file."""
        from aichain_audit.fingerprint.paths import resolve_inside

        return resolve_inside(folder, location)

    def data_files(self, path: Path) -> tuple[str, ...] | None:
        """The model-data names a listing finds for the model at `path` (a checkpoint's other
        files, a split file's parts), so `verify` also fails on a file the lineage does not
        record; None when the model's own bytes name its data files (ONNX), which `verify`
        then takes from the lineage."""
        return None

    def parts(self, name: str) -> tuple[str, ...] | None:
        """For a file named `name` that is one part of a model split across files (a split
        GGUF model), the names of all its parts, first part (the model file) first, as they
        lie beside each other; None for any other name. By the name alone, no I/O: MLflow
        discovery takes a run's parts of one model as that one model."""
        return None

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
