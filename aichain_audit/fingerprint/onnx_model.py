"""ONNX models: the file digest and the `onnx-semantic/v1` fingerprint.

The semantic fingerprint has three parts, each a SHA-256 over an RFC 8785
document built by our own walk of the model (never protobuf serialisation, so it
is stable across onnx releases):
- graph: opsets, topology, op types, domains, attributes, types, with tensor
  names replaced by canonical ids;
- weights: every tensor value (initializers, sparse initializers, tensor
  attributes such as Constant values, in subgraphs and functions too) and the
  fitted parameters of `WEIGHT_ATTRIBUTES`, independent of storage (raw_data,
  typed fields, inline or external data);
- metadata: producer, versions, doc strings, metadata_props, value_info, graph,
  node and tensor names.
docs/SPEC.md section 8 ("onnx-semantic/v1") defines every document completely;
this module follows it step by step. A model field this walk does not know is
refused rather than ignored, so nothing can change without changing a digest.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aichain_audit.canonical import canonical_json
from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint import onnx_wire
from aichain_audit.fingerprint.hashing import (
    FileDigest,
    Segment,
    Stopped,
    digest_bytes,
    digest_fd,
    digest_parallel,
)
from aichain_audit.fingerprint.paths import argument_name, model_folder, resolve_inside
from aichain_audit.inputfile import fstat_size, open_regular, read_fd, refuse_larger

SCHEME = "onnx-semantic/v1"
_ATTRIBUTE_NAME = re.compile(r"[\x21-\x7e]{1,256}")
_GRAPH, _GRAPHS = 5, 10  # AttributeProto.GRAPH and GRAPHS
# Protobuf cannot parse a message of 2 GiB or more, so no larger file can be an ONNX model:
# anything beyond is refused before it is read whole (a FIFO or device never gets this far).
MODEL_LIMIT = 1 << 31
_CHUNK = 4 * 1024 * 1024
_DATA_FIELDS = (
    "float_data",
    "int32_data",
    "string_data",
    "int64_data",
    "raw_data",
    "double_data",
    "uint64_data",
)
# Bits per element of every numeric ONNX data type (TensorProto.DataType), so that stored bytes
# can be checked: a tensor of n elements takes ceil(n * bits / 8) bytes (the 4-, 2- and 6-bit
# types are packed, the last byte padded). STRING (8) is counted in elements; any other type
# (UNDEFINED, or one a newer onnx adds) is refused.
_BITS: Mapping[int, int] = {
    1: 32,  # FLOAT
    2: 8,  # UINT8
    3: 8,  # INT8
    4: 16,  # UINT16
    5: 16,  # INT16
    6: 32,  # INT32
    7: 64,  # INT64
    9: 8,  # BOOL
    10: 16,  # FLOAT16
    11: 64,  # DOUBLE
    12: 32,  # UINT32
    13: 64,  # UINT64
    14: 64,  # COMPLEX64
    15: 128,  # COMPLEX128
    16: 16,  # BFLOAT16
    17: 8,  # FLOAT8E4M3FN
    18: 8,  # FLOAT8E4M3FNUZ
    19: 8,  # FLOAT8E5M2
    20: 8,  # FLOAT8E5M2FNUZ
    21: 4,  # UINT4
    22: 4,  # INT4
    23: 4,  # FLOAT4E2M1
    24: 8,  # FLOAT8E8M0
    25: 2,  # UINT2
    26: 2,  # INT2
    27: 6,  # FLOAT6E2M3
    28: 6,  # FLOAT6E3M2
}
_STRING = 8

# The fitted (learned) parameters that operators of the default domain ("") and of ai.onnx.ml
# keep in non-tensor attributes: these count as weights, every other non-tensor attribute as
# graph. Tensor-typed attributes are weights for every operator, so they are not listed.
# docs/SPEC.md 8.3 prints this table; tests check it against every schema onnx knows.
WEIGHT_ATTRIBUTES: Mapping[tuple[str, str], frozenset[str]] = {
    ("", "Constant"): frozenset(
        {"value_float", "value_floats", "value_int", "value_ints", "value_string", "value_strings"}
    ),
    ("", "TfIdfVectorizer"): frozenset(
        {"ngram_counts", "ngram_indexes", "pool_int64s", "pool_strings", "weights"}
    ),
    ("ai.onnx.ml", "CategoryMapper"): frozenset({"cats_int64s", "cats_strings"}),
    ("ai.onnx.ml", "DictVectorizer"): frozenset({"int64_vocabulary", "string_vocabulary"}),
    ("ai.onnx.ml", "Imputer"): frozenset({"imputed_value_floats", "imputed_value_int64s"}),
    ("ai.onnx.ml", "LabelEncoder"): frozenset(
        {
            "classes_strings",
            "keys_floats",
            "keys_int64s",
            "keys_strings",
            "values_floats",
            "values_int64s",
            "values_strings",
        }
    ),
    ("ai.onnx.ml", "LinearClassifier"): frozenset(
        {"classlabels_ints", "classlabels_strings", "coefficients", "intercepts"}
    ),
    ("ai.onnx.ml", "LinearRegressor"): frozenset({"coefficients", "intercepts"}),
    ("ai.onnx.ml", "OneHotEncoder"): frozenset({"cats_int64s", "cats_strings"}),
    ("ai.onnx.ml", "SVMClassifier"): frozenset(
        {
            "classlabels_ints",
            "classlabels_strings",
            "coefficients",
            "kernel_params",
            "prob_a",
            "prob_b",
            "rho",
            "support_vectors",
            "vectors_per_class",
        }
    ),
    ("ai.onnx.ml", "SVMRegressor"): frozenset(
        {"coefficients", "kernel_params", "n_supports", "rho", "support_vectors"}
    ),
    ("ai.onnx.ml", "Scaler"): frozenset({"offset", "scale"}),
    ("ai.onnx.ml", "TreeEnsemble"): frozenset(
        {
            "leaf_targetids",
            "nodes_falseleafs",
            "nodes_falsenodeids",
            "nodes_featureids",
            "nodes_missing_value_tracks_true",
            "nodes_trueleafs",
            "nodes_truenodeids",
            "tree_roots",
        }
    ),
    ("ai.onnx.ml", "TreeEnsembleClassifier"): frozenset(
        {
            "base_values",
            "class_ids",
            "class_nodeids",
            "class_treeids",
            "class_weights",
            "classlabels_int64s",
            "classlabels_strings",
            "nodes_falsenodeids",
            "nodes_featureids",
            "nodes_hitrates",
            "nodes_missing_value_tracks_true",
            "nodes_modes",
            "nodes_nodeids",
            "nodes_treeids",
            "nodes_truenodeids",
            "nodes_values",
        }
    ),
    ("ai.onnx.ml", "TreeEnsembleRegressor"): frozenset(
        {
            "base_values",
            "nodes_falsenodeids",
            "nodes_featureids",
            "nodes_hitrates",
            "nodes_missing_value_tracks_true",
            "nodes_modes",
            "nodes_nodeids",
            "nodes_treeids",
            "nodes_truenodeids",
            "nodes_values",
            "target_ids",
            "target_nodeids",
            "target_treeids",
            "target_weights",
        }
    ),
    ("ai.onnx.ml", "ZipMap"): frozenset({"classlabels_int64s", "classlabels_strings"}),
}

# Fields of each message that the walk below covers; any other field that is set
# makes the model unsupported (fail closed).
_KNOWN = {
    "ModelProto": {
        "ir_version",
        "opset_import",
        "producer_name",
        "producer_version",
        "domain",
        "model_version",
        "doc_string",
        "graph",
        "metadata_props",
        "functions",
    },
    "GraphProto": {
        "node",
        "name",
        "initializer",
        "sparse_initializer",
        "doc_string",
        "input",
        "output",
        "value_info",
        "metadata_props",
    },
    "NodeProto": {
        "input",
        "output",
        "name",
        "op_type",
        "domain",
        "overload",
        "attribute",
        "doc_string",
        "metadata_props",
    },
    "AttributeProto": {
        "name",
        "ref_attr_name",
        "doc_string",
        "type",
        "f",
        "i",
        "s",
        "t",
        "g",
        "sparse_tensor",
        "tp",
        "floats",
        "ints",
        "strings",
        "tensors",
        "graphs",
        "sparse_tensors",
        "type_protos",
    },
    "TensorProto": {
        "dims",
        "data_type",
        "float_data",
        "int32_data",
        "string_data",
        "int64_data",
        "name",
        "doc_string",
        "raw_data",
        "external_data",
        "data_location",
        "double_data",
        "uint64_data",
        "metadata_props",
    },
    "FunctionProto": {
        "name",
        "input",
        "output",
        "attribute",
        "attribute_proto",
        "node",
        "doc_string",
        "opset_import",
        "domain",
        "overload",
        "value_info",
        "metadata_props",
    },
    "ValueInfoProto": {"name", "type", "doc_string", "metadata_props"},
    "SparseTensorProto": {"values", "indices", "dims"},
}
# AttributeProto fields that are not its value: a reference attribute may set only these.
_NOT_VALUE = frozenset({"name", "ref_attr_name", "doc_string", "type"})
# Numbers in external data entries with more digits than this lie past the end of any file.
_MAX_DIGITS = 30


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


def _sha(doc: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(doc)).hexdigest()


def _framed(header: Any, *payload: bytes) -> hashlib._Hash:
    """SHA-256 over u64be(len(H)) || H || payload, H the JCS of `header`."""
    h = canonical_json(header)
    out = hashlib.sha256(struct.pack(">Q", len(h)) + h)
    for part in payload:
        out.update(part)
    return out


_OTHER_FIELDS: dict[str, list[tuple[str, bool]]] = {}  # per message: (field, repeated) not known


def _unknown_fields(msg: Any) -> list[tuple[str, bool]]:
    name = type(msg).__name__
    fields = _OTHER_FIELDS.get(name)
    if fields is None:
        known = _KNOWN[name]
        fields = _OTHER_FIELDS[name] = [
            (fd.name, _repeated(fd))
            for fd in sorted(msg.DESCRIPTOR.fields, key=lambda fd: fd.number)
            if fd.name not in known
        ]
    return fields


def _check_fields(msg: Any, where: str) -> None:
    # The set fields (protobuf ListFields) that the walk does not know, found without
    # ListFields: it hands back every set value, and a tensor's raw_data is copied each time.
    for field, repeated in _unknown_fields(msg):
        if len(getattr(msg, field)) if repeated else msg.HasField(field):
            raise ModelError(
                f"{where}: uses the ONNX field {type(msg).__name__}.{field}, "
                f"which {SCHEME} does not cover"
            )


def _props(entries: Any) -> list[list[str]]:
    return sorted([e.key, e.value] for e in entries)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


def _domain(domain: str) -> str:
    """The default domain, whether written "" or "ai.onnx", is written ""."""
    return "" if domain == "ai.onnx" else domain


def _dims(t: Any) -> list[str]:
    return [str(d) for d in t.dims]


def _sorted_attributes(attributes: Iterable[Any]) -> list[Any]:
    return sorted(attributes, key=lambda a: _utf8(a.name))


def _subgraphs(a: Any) -> list[Any]:
    """The graphs an attribute holds, in order (none for a reference attribute)."""
    from onnx import AttributeProto as A

    if a.ref_attr_name:
        return []
    if a.type == A.GRAPH:
        return [a.g]
    if a.type == A.GRAPHS:
        return list(a.graphs)
    return []


def _decimal(value: str, key: str, where: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ModelError(
            f"{where}: external data {key} {_shorten(value)!r} is not a decimal number"
        )
    digits = value.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _shorten(value: str) -> str:
    return value if len(value) <= 24 else value[:20] + "..."


def _dtype_name(data_type: int) -> str:
    from onnx import TensorProto

    try:
        return str(TensorProto.DataType.Name(data_type))
    except ValueError:
        return str(data_type)


def value_size(t: Any, where: str) -> int:
    """The bytes the tensor's values take: ceil(elements * bits / 8) (strings: elements)."""
    if t.data_type == 0:
        raise ModelError(f"{where}: tensor has no data type")
    elements = math.prod(int(d) for d in t.dims)
    if t.data_type == _STRING:
        return elements
    bits = _BITS.get(t.data_type)
    if bits is None:
        raise ModelError(f"{where}: tensor data type {t.data_type} is not one {SCHEME} knows")
    return -(-elements * bits // 8)


def _mismatch(t: Any, where: str, what: str, have: int, need: int) -> ModelError:
    return ModelError(
        f"{where}: {what} holds {have} bytes, but a {_dtype_name(t.data_type)} tensor of "
        f"dims {list(t.dims)} needs {need} bytes"
    )


class _Scope:
    """Canonical ids in one naming scope (the main graph, or one function)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.ids: dict[str, str] = {}
        self.nodes = 0
        self.annotated: set[str] = set()  # names found in value_info, numbered last

    def ref(self, name: str) -> str:
        if not name:
            return ""  # an omitted optional input or output
        vid = self.ids.get(name)
        if vid is None:
            vid = self.ids[name] = f"{self.prefix}v{len(self.ids)}"
        return vid

    def node_id(self) -> str:
        nid = f"{self.prefix}n{self.nodes}"
        self.nodes += 1
        return nid

    def number_annotations(self) -> None:
        for name in sorted(self.annotated - self.ids.keys(), key=_utf8):
            self.ref(name)


def _value_number(vid: str) -> int:
    return int(vid.rsplit("v", 1)[1])


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

    The wire format names them (`onnx_wire.ExternalGuess`); each is opened as the walk opens
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
    def start(cls, guesses: list[onnx_wire.ExternalGuess], base_dir: Path, shown: str) -> _Prefetch:
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


class _Walk:
    """One pass over a model producing the graph, weights and metadata documents."""

    def __init__(
        self,
        shown: str,
        base_dir: Path,
        lean: _Lean | None = None,
        prefetch: _Prefetch | None = None,
    ) -> None:
        self.shown = shown
        self.base_dir = base_dir
        self.prefetch = prefetch
        # Where the raw_data of main-graph initializers lie in the model file, when the model
        # was parsed without them (`_parse_lean`); hashed in the pass over the model file.
        self.lean = lean
        self.weights: list[list[Any]] = []  # [id, digest], digests pending until external data
        self.tensors: list[tuple[str, str, Digest]] = []  # (id, name, digest) is read
        self.meta: list[list[Any]] = []
        self.external_files: dict[str, tuple[Path, int]] = {}
        # External data, read once after the walk (`hash_external_data`): by location, the
        # open file and the tensors to feed from it.
        self._external: dict[str, _ExternalFile] = {}
        self._digests: dict[tuple[Any, ...], Digest] = {}  # initializer digests, by position
        self._weight_ids: set[str] = set()

    # -- numbering (docs/SPEC.md 8.2) -----------------------------------------------------
    def number_graph(self, g: Any, names: _Scope, path: tuple[Any, ...]) -> None:
        if any(not t.name for t in g.initializer) or any(
            not s.values.name for s in g.sparse_initializer
        ):
            raise ModelError(f"{self.shown}: an initializer has no name")
        for vi in g.input:
            names.ref(vi.name)
        self._number_nodes(g.node, names, path)
        for vi in g.output:
            names.ref(vi.name)
        # Initializers no node uses come last, ordered by content (then name), so that their
        # storage order cannot change any digest.
        unused = sorted(
            (_now(self._initializer_digest(g, i, path)), _utf8(t.name), t.name)
            for i, t in enumerate(g.initializer)
            if t.name not in names.ids
        )
        for *_, name in unused:
            names.ref(name)
        spare = sorted(
            (_now(self._sparse_initializer_digest(g, i, path)), _utf8(s.values.name), s.values.name)
            for i, s in enumerate(g.sparse_initializer)
            if s.values.name not in names.ids
        )
        for *_, name in spare:
            names.ref(name)
        names.annotated.update(vi.name for vi in g.value_info)

    def number_function(self, f: Any, names: _Scope, path: tuple[Any, ...]) -> None:
        for x in f.input:
            names.ref(x)
        self._number_nodes(f.node, names, path)
        for x in f.output:
            names.ref(x)
        names.annotated.update(vi.name for vi in f.value_info)

    def _number_nodes(self, nodes: Any, names: _Scope, path: tuple[Any, ...]) -> None:
        for k, node in enumerate(nodes):
            for x in node.input:
                names.ref(x)
            for a in _sorted_attributes(node.attribute):
                for j, sub in enumerate(_subgraphs(a)):
                    self.number_graph(sub, names, (*path, k, a.name, j))
            for x in node.output:
                names.ref(x)

    # -- tensors (docs/SPEC.md 8.3) -------------------------------------------------------
    def _initializer_digest(self, g: Any, i: int, path: tuple[Any, ...]) -> Digest:
        key = (*path, "dense", i)
        if key not in self._digests:
            t = g.initializer[i]
            where = f"{self.shown}: initializer {t.name!r}"
            payload = self.lean.payloads.get(i) if self.lean and path == ("main",) else None
            self._digests[key] = self._tensor_digest(t, where, payload)
        return self._digests[key]

    def _sparse_initializer_digest(self, g: Any, i: int, path: tuple[Any, ...]) -> Digest:
        key = (*path, "sparse", i)
        if key not in self._digests:
            s = g.sparse_initializer[i]
            where = f"{self.shown}: sparse initializer {s.values.name!r}"
            self._digests[key] = self._sparse_digest(s, where)
        return self._digests[key]

    def _hash_external(self, t: Any, where: str, h: Any, need: int) -> _Pending:
        """Checks a tensor's external data entries; its bytes are hashed later, in one read
        of the file with the file's own digest (`hash_external_data`)."""
        info = {e.key: e.value for e in t.external_data}
        unknown = set(info) - {"location", "offset", "length", "checksum"}
        if unknown or len(info) != len(t.external_data):
            raise ModelError(
                f"{where}: unsupported or repeated external data keys {sorted(unknown)}"
            )
        location = info.get("location")
        if not location:
            raise ModelError(f"{where}: external data without a location")
        try:
            path = resolve_inside(self.base_dir, location)
        except InputError as exc:
            raise ModelError(
                f"{self.shown}: external data {location!r} must lie inside the model's folder "
                f"({exc})"
            ) from None
        offset = _decimal(info.get("offset", "0"), "offset", where)
        length = _decimal(info["length"], "length", where) if "length" in info else None
        ext = self._external.get(location)
        if ext is None and self.prefetch is not None and location in self.prefetch.files:
            ext = self._external[location] = self.prefetch.files[location]
        if ext is None:
            try:
                ext = _ExternalFile.open(path, f"{self.shown}: external data {location!r}")
            except InputError as exc:
                raise ModelError(exc.message) from None
            self._external[location] = ext
        size = ext.size
        if offset > size:
            raise ModelError(
                f"{where}: external data offset {_shorten(info['offset'])} is past the end "
                f"of {location!r} ({size} bytes)"
            )
        if length is not None and offset + length > size:
            raise ModelError(
                f"{where}: external data {location!r} is shorter than declared: offset "
                f"{_shorten(info.get('offset', '0'))} + length {_shorten(info['length'])} "
                "is past the end of the file "
                f"({size} bytes)"
            )
        count = size - offset if length is None else length
        if count != need:
            raise _mismatch(
                t, where, f"external data at offset {offset} of {location!r}", count, need
            )
        self.external_files[location] = (path, size)
        pending = _Pending(offset, count, h, ext, where)
        ext.tensors.append(pending)
        return pending

    def close(self) -> None:
        for ext in self._external.values():
            if ext.owned:
                os.close(ext.fd)
        self._external.clear()

    def hash_model_file(self) -> FileDigest | None:
        """One read of the model file when its raw_data was left there (`_parse_lean`): its
        file digest and those tensors' digests; and a check that everything else in it is
        still what was parsed, so that all of them describe the same bytes."""
        if self.lean is None:
            return None
        lean = self.lean
        todo = [p for p in lean.file.tensors if p.digest is None]
        rest = hashlib.sha256()
        segments = [*todo, *(Segment(a, b - a, rest) for a, b in lean.gaps)]
        try:
            out = digest_fd(lean.file.fd, lean.file.size, self.shown, segments)
        except InputError as exc:
            raise ModelError(exc.message) from None
        if rest.digest() != lean.gaps_digest:
            raise ModelError(f"{self.shown} changed while being read")
        for p in todo:
            p.digest = "sha256:" + p.hasher.hexdigest()
        return out

    def hash_external_data(self) -> dict[str, FileDigest]:
        """Reads each external data file once: its file digest and its tensors' digests."""
        out: dict[str, FileDigest] = {}
        for location in sorted(self._external, key=_utf8):
            ext = self._external[location]
            todo = [p for p in ext.tensors if p.digest is None]
            if not ext.owned:  # read by the prefetch: take what matches, read the rest
                assert self.prefetch is not None
                out[location], read = self.prefetch.result(location)
                for p in todo:
                    p.digest = read.get(_segment_key(p.offset, p.count, p.hasher))
                    if p.digest is None:
                        _now(p)
                continue
            try:
                out[location] = digest_parallel(ext.fd, ext.size, ext.shown, todo)
            except InputError as exc:
                raise ModelError(exc.message) from None
            for p in todo:
                p.digest = "sha256:" + p.hasher.hexdigest()
        return out

    def _hash_values(
        self, t: Any, where: str, h: Any, payload: onnx_wire.Payload | None = None
    ) -> _Pending | None:
        """Feeds the tensor's canonical value bytes to `h`, wherever they are stored; for
        external data, and raw_data left in the model file (`payload`, `_parse_lean`),
        returns what will feed it once the file is read."""
        from onnx import TensorProto, numpy_helper

        _check_fields(t, where)
        need = value_size(t, where)
        if t.data_type == _STRING:
            if t.data_location == TensorProto.EXTERNAL:
                raise ModelError(f"{where}: string tensors cannot be stored externally")
            if len(t.string_data) != need:
                raise ModelError(
                    f"{where}: tensor holds {len(t.string_data)} strings, but its dims "
                    f"{list(t.dims)} need {need}"
                )
            for s in t.string_data:
                h.update(struct.pack("<Q", len(s)) + s)
        elif t.data_location == TensorProto.EXTERNAL:
            return self._hash_external(t, where, h, need)
        elif len(t.external_data):
            raise ModelError(f"{where}: external data entries on a tensor stored inline")
        elif payload is not None:
            assert self.lean is not None
            if payload.end - payload.start != need:  # pragma: no cover - _plain_raw checked it
                raise _mismatch(t, where, "raw_data", payload.end - payload.start, need)
            pending = _Pending(payload.start, need, h, self.lean.file, where)
            self.lean.file.tensors.append(pending)
            return pending
        elif t.HasField("raw_data"):
            raw = t.raw_data  # a copy each time it is read: once
            if len(raw) != need:
                raise _mismatch(t, where, "raw_data", len(raw), need)
            h.update(raw)
        else:
            try:
                # Typed fields are converted to the raw little-endian form ONNX defines.
                raw = numpy_helper.from_array(numpy_helper.to_array(t)).raw_data
            except Exception as exc:
                raise ModelError(f"{where}: tensor values cannot be read ({exc})") from None
            if len(raw) != need:
                raise _mismatch(t, where, "its typed data", len(raw), need)
            h.update(raw)
        return None

    def _tensor_digest(
        self, t: Any, where: str, payload: onnx_wire.Payload | None = None
    ) -> Digest:
        h = _framed({"kind": "dense", "dtype": t.data_type, "dims": _dims(t)})
        pending = self._hash_values(t, where, h, payload)
        return pending if pending is not None else "sha256:" + h.hexdigest()

    def _sparse_digest(self, s: Any, where: str) -> str:
        _check_fields(s, where)
        header = {
            "kind": "sparse",
            "dims": _dims(s),
            "values": _now(self._tensor_digest(s.values, where + " values")),
            "indices": _now(self._tensor_digest(s.indices, where + " indices")),
        }
        return "sha256:" + _framed(header).hexdigest()

    def _weight(self, wid: str, name: str, digest: Digest) -> None:
        if wid in self._weight_ids:
            raise ModelError(
                f"{self.shown}: two weights would share the canonical id {wid} (the second is "
                f"{name!r}); {SCHEME} needs every initializer name to be defined once across a "
                "graph and its subgraphs"
            )
        self._weight_ids.add(wid)
        self.weights.append([wid, digest])
        self.tensors.append((wid, name, digest))

    def _tensor_meta(self, wid: str, t: Any) -> None:
        if t.name:
            self.meta.append([f"tensor:{wid}.name", t.name])
        checksum = [e.value for e in t.external_data if e.key == "checksum"]
        if checksum:
            self.meta.append([f"tensor:{wid}.external_data.checksum", checksum[0]])
        if t.doc_string:
            self.meta.append([f"tensor:{wid}.doc_string", t.doc_string])
        if len(t.metadata_props):
            self.meta.append([f"tensor:{wid}.metadata_props", _props(t.metadata_props)])

    def _sparse_meta(self, wid: str, s: Any) -> None:
        self._tensor_meta(f"{wid}.values", s.values)
        self._tensor_meta(f"{wid}.indices", s.indices)

    # -- documents (docs/SPEC.md 8.4) -----------------------------------------------------
    def _type(self, tp: Any) -> Any:
        """A TypeProto as a plain document (field name -> value, set fields only)."""
        out: dict[str, Any] = {}
        for fd, value in tp.ListFields():
            if fd.message_type is not None:
                out[fd.name] = (
                    [self._type(v) for v in value] if _repeated(fd) else self._type(value)
                )
            else:
                out[fd.name] = [str(v) for v in value] if _repeated(fd) else str(value)
        return out

    def _annotation(self, vi: Any, key: str) -> None:
        if vi.doc_string:
            self.meta.append([f"{key}.doc_string", vi.doc_string])
        if len(vi.metadata_props):
            self.meta.append([f"{key}.metadata_props", _props(vi.metadata_props)])

    def _value_info(self, vi: Any, names: _Scope, owner: str) -> dict[str, Any]:
        """An input or output: its id and type (graph); its documentation (metadata)."""
        _check_fields(vi, f"{self.shown} {owner}")
        vid = names.ref(vi.name)
        self._annotation(vi, f"{owner}:{vid}")
        return {"id": vid, "type": self._type(vi.type) if vi.HasField("type") else None}

    def _annotations(self, entries: Any, names: _Scope, owner: str) -> None:
        """value_info entries: inferred types are annotations (metadata), not computation."""
        for vi in entries:
            _check_fields(vi, f"{self.shown} {owner}")
            key = f"{owner}:{names.ref(vi.name)}"
            self.meta.append([f"{key}.type", self._type(vi.type) if vi.HasField("type") else None])
            self._annotation(vi, key)

    def graph(self, g: Any, names: _Scope, gid: str, path: tuple[Any, ...]) -> dict[str, Any]:
        _check_fields(g, f"{self.shown} graph {gid}")
        owner = f"graph:{gid}"
        self.meta.append([f"{owner}.name", g.name])
        if g.doc_string:
            self.meta.append([f"{owner}.doc_string", g.doc_string])
        if len(g.metadata_props):
            self.meta.append([f"{owner}.metadata_props", _props(g.metadata_props)])
        doc: dict[str, Any] = {
            "inputs": [self._value_info(v, names, f"{owner}.input") for v in g.input],
            "outputs": [self._value_info(v, names, f"{owner}.output") for v in g.output],
            "initializers": [],
            "sparse_initializers": [],
        }
        # Listed by canonical id, so their storage order does not matter.
        dense = sorted(
            range(len(g.initializer)), key=lambda i: _value_number(names.ref(g.initializer[i].name))
        )
        for i in dense:
            t = g.initializer[i]
            wid = names.ref(t.name)
            self._weight(wid, t.name, self._initializer_digest(g, i, path))
            self._tensor_meta(wid, t)
            doc["initializers"].append({"id": wid, "dtype": t.data_type, "dims": _dims(t)})
        sparse = sorted(
            range(len(g.sparse_initializer)),
            key=lambda i: _value_number(names.ref(g.sparse_initializer[i].values.name)),
        )
        for i in sparse:
            s = g.sparse_initializer[i]
            wid = names.ref(s.values.name)
            self._weight(wid, s.values.name, self._sparse_initializer_digest(g, i, path))
            self._sparse_meta(wid, s)
            doc["sparse_initializers"].append(
                {"id": wid, "dtype": s.values.data_type, "dims": _dims(s)}
            )
        doc["nodes"] = [self.node(n, names, (*path, k)) for k, n in enumerate(g.node)]
        self._annotations(g.value_info, names, f"{owner}.value_info")
        return doc

    def node(self, n: Any, names: _Scope, path: tuple[Any, ...]) -> dict[str, Any]:
        nid = names.node_id()
        _check_fields(n, f"{self.shown} node {n.name or nid!r}")
        if n.name:
            self.meta.append([f"node:{nid}.name", n.name])
        if n.doc_string:
            self.meta.append([f"node:{nid}.doc_string", n.doc_string])
        if len(n.metadata_props):
            self.meta.append([f"node:{nid}.metadata_props", _props(n.metadata_props)])
        domain = _domain(n.domain)
        fitted = WEIGHT_ATTRIBUTES.get((domain, n.op_type), frozenset())
        attrs = [
            self.attribute(a, names, f"{nid}.{a.name}", a.name in fitted, (*path, a.name))
            for a in _sorted_attributes(n.attribute)
        ]
        return {
            "id": nid,
            "op": n.op_type,
            "domain": domain,
            "overload": n.overload,
            "inputs": [names.ref(x) for x in n.input],
            "outputs": [names.ref(x) for x in n.output],
            "attributes": attrs,
        }

    def attribute(
        self, a: Any, names: _Scope, aid: str, fitted: bool, path: tuple[Any, ...]
    ) -> dict[str, Any]:
        from onnx import AttributeProto as A

        where = f"{self.shown}: attribute {aid}"
        _check_fields(a, where)
        if not _ATTRIBUTE_NAME.fullmatch(a.name):
            raise ModelError(
                f"{self.shown}: attribute name {a.name!r} is not 1 to 256 printable ASCII "
                f"characters, which {SCHEME} requires (it is part of the weight ids)"
            )

        if a.doc_string:
            self.meta.append([f"attribute:{aid}.doc_string", a.doc_string])
        doc: dict[str, Any] = {"name": a.name, "type": A.AttributeType.Name(a.type)}
        if a.ref_attr_name:
            # Fix: a value beside ref_attr_name is never used, and it was in no digest.
            carried = sorted(fd.name for fd, _ in a.ListFields() if fd.name not in _NOT_VALUE)
            if carried:
                raise ModelError(
                    f"{where}: refers to function attribute {a.ref_attr_name!r} "
                    f"(ref_attr_name) but also carries a value ({', '.join(carried)}), "
                    f"which {SCHEME} refuses"
                )
            doc["ref"] = a.ref_attr_name
            return doc
        t = a.type
        if t == A.TENSOR:
            self._weight(aid, a.t.name or aid, self._tensor_digest(a.t, where))
            self._tensor_meta(aid, a.t)
            doc["value"] = {"weight": aid, "dtype": a.t.data_type, "dims": _dims(a.t)}
        elif t == A.TENSORS:
            doc["value"] = []
            for k, x in enumerate(a.tensors):
                wid = f"{aid}.{k}"
                self._weight(wid, x.name or wid, self._tensor_digest(x, where))
                self._tensor_meta(wid, x)
                doc["value"].append({"weight": wid, "dtype": x.data_type, "dims": _dims(x)})
        elif t == A.SPARSE_TENSOR:
            s = a.sparse_tensor
            self._weight(aid, s.values.name or aid, self._sparse_digest(s, where))
            self._sparse_meta(aid, s)
            doc["value"] = {"weight": aid, "dtype": s.values.data_type, "dims": _dims(s)}
        elif t == A.SPARSE_TENSORS:
            doc["value"] = []
            for k, s in enumerate(a.sparse_tensors):
                wid = f"{aid}.{k}"
                self._weight(wid, s.values.name or wid, self._sparse_digest(s, where))
                self._sparse_meta(wid, s)
                doc["value"].append({"weight": wid, "dtype": s.values.data_type, "dims": _dims(s)})
        elif t == A.GRAPH:
            doc["value"] = self.graph(a.g, names, aid, (*path, 0))
        elif t == A.GRAPHS:
            doc["value"] = [
                self.graph(g, names, f"{aid}.{j}", (*path, j)) for j, g in enumerate(a.graphs)
            ]
        elif t == A.TYPE_PROTO:
            doc["value"] = self._type(a.tp)
        elif t == A.TYPE_PROTOS:
            doc["value"] = [self._type(x) for x in a.type_protos]
        elif t in _SCALAR_TYPES:
            if fitted:
                header = {"kind": "attribute", "type": doc["type"]}
                digest = "sha256:" + _framed(header, _scalar_attribute_bytes(a)).hexdigest()
                self._weight(aid, aid, digest)
                doc["value"] = {"weight": aid}
            else:
                doc["value"] = _scalar_attribute_doc(a)
        else:
            raise ModelError(f"{where}: attribute type {doc['type']} is not supported")
        return doc

    def function(self, f: Any, index: int) -> dict[str, Any]:
        _check_fields(f, f"{self.shown} function {f.domain}:{f.name}")
        names = _Scope(f"f{index}.")
        path = ("function", index)
        self.number_function(f, names, path)
        names.number_annotations()
        owner = f"function:{index}"
        if f.doc_string:
            self.meta.append([f"{owner}.doc_string", f.doc_string])
        if len(f.metadata_props):
            self.meta.append([f"{owner}.metadata_props", _props(f.metadata_props)])
        nodes = [self.node(n, names, (*path, k)) for k, n in enumerate(f.node)]
        for a in f.attribute_proto:
            if a.type in (_GRAPH, _GRAPHS) or len(a.graphs) or a.HasField("g"):
                raise ModelError(
                    f"{self.shown}: function {f.domain}:{f.name} gives attribute {a.name!r} a "
                    f"graph as its default, which {SCHEME} refuses"
                )
        defaults = [
            self.attribute(a, names, f"{names.prefix}attr.{a.name}", False, (*path, "attr", a.name))
            for a in _sorted_attributes(f.attribute_proto)
        ]
        self._annotations(f.value_info, names, f"{owner}.value_info")
        self._names_meta(names)
        return {
            "domain": f.domain,
            "name": f.name,
            "overload": f.overload,
            "inputs": [names.ref(x) for x in f.input],
            "outputs": [names.ref(x) for x in f.output],
            "attributes": sorted(f.attribute, key=_utf8),
            "attribute_defaults": defaults,
            "opsets": _opsets(f.opset_import),
            "nodes": nodes,
        }

    def _names_meta(self, names: _Scope) -> None:
        self.meta.extend([f"name:{vid}", name] for name, vid in names.ids.items())


def _opsets(imports: Any) -> list[list[str]]:
    return sorted([_domain(o.domain), str(o.version)] for o in imports)


_SCALAR_TYPES = frozenset({1, 2, 3, 6, 7, 8})  # FLOAT, INT, STRING, FLOATS, INTS, STRINGS


def _repeated(fd: Any) -> bool:
    repeated = getattr(fd, "is_repeated", None)  # protobuf >= 5.28
    if repeated is None:  # pragma: no cover - older protobuf
        return bool(fd.label == fd.LABEL_REPEATED)
    return bool(repeated)


def _scalar_attribute_doc(a: Any) -> Any:
    from onnx import AttributeProto as A

    if a.type == A.FLOAT:
        return struct.pack("<f", a.f).hex()
    if a.type == A.INT:
        return str(a.i)
    if a.type == A.STRING:
        return a.s.hex()
    if a.type == A.FLOATS:
        return [struct.pack("<f", x).hex() for x in a.floats]
    if a.type == A.INTS:
        return [str(x) for x in a.ints]
    return [s.hex() for s in a.strings]


def _scalar_attribute_bytes(a: Any) -> bytes:
    from onnx import AttributeProto as A

    if a.type == A.FLOAT:
        return struct.pack("<f", a.f)
    if a.type == A.INT:
        return struct.pack("<q", a.i)
    if a.type == A.STRING:
        return struct.pack("<Q", len(a.s)) + bytes(a.s)
    if a.type == A.FLOATS:
        return struct.pack(f"<{len(a.floats)}f", *a.floats)
    if a.type == A.INTS:
        return struct.pack(f"<{len(a.ints)}q", *a.ints)
    return b"".join(struct.pack("<Q", len(s)) + s for s in a.strings)


_SCANNED: dict[str, list[tuple[str, bool, bool]]] = {}  # (field, is a message, repeated)


def _scanned_fields(msg: Any) -> list[tuple[str, bool, bool]]:
    """A message's message and string fields, by field number (as ListFields orders them)."""
    name = msg.DESCRIPTOR.full_name
    fields = _SCANNED.get(name)
    if fields is None:
        fields = _SCANNED[name] = [
            (fd.name, fd.type == fd.TYPE_MESSAGE, _repeated(fd))
            for fd in sorted(msg.DESCRIPTOR.fields, key=lambda fd: fd.number)
            if fd.type in (fd.TYPE_MESSAGE, fd.TYPE_STRING)
        ]
    return fields


def _scan(msg: Any, shown: str, external: list[Any]) -> None:
    """Refuses string fields that are not UTF-8 and collects the tensors with external data.

    Protobuf hands back a proto2 `string` field holding invalid UTF-8 as `bytes`; the walk
    would then fail with a ValueError or TypeError (an internal error) instead of a ModelError.
    """
    from onnx import TensorProto

    # The set message and string fields, in field order, as ListFields() would give them, but
    # without reading the bytes fields (ListFields copies each tensor's raw_data).
    for name, message, repeated in _scanned_fields(msg):
        if repeated:
            values = getattr(msg, name)
            if not len(values):
                continue
        elif msg.HasField(name):
            values = (getattr(msg, name),)
        else:
            continue
        if message:
            for sub in values:
                _scan(sub, shown, external)
        else:
            for text in values:
                if not isinstance(text, str):
                    raise ModelError(
                        f"{shown}: {type(msg).__name__}.{name} is not valid UTF-8 (corrupt model?)"
                    )
    if isinstance(msg, TensorProto) and msg.data_location == TensorProto.EXTERNAL:
        external.append(msg)
    if type(msg).__name__ == "SparseTensorProto" and any(
        part.data_location == TensorProto.EXTERNAL for part in (msg.values, msg.indices)
    ):
        # The checker cannot check a sparse tensor whose parts it cannot see, and no external
        # data is given to it (docs/SPEC.md section 8.1, rule 5).
        raise ModelError(
            f"{shown}: sparse tensor {msg.values.name!r} stores its values or indices as "
            f"external data, which {SCHEME} refuses; store them inline"
        )


def _stub(t: Any) -> None:
    """A tensor as the checker is shown it in place of one whose data it is not given: no data,
    no data location, no elements (docs/SPEC.md section 8.1, rule 2)."""
    dims = list(t.dims)
    t.ClearField("external_data")
    t.ClearField("data_location")
    del t.dims[:]
    t.dims.extend([0, *dims[1:]] if dims else [0])  # no elements: no data to check


def _checker_view(model: Any, external: list[Any], shown: str, lean: Iterable[int] = ()) -> Any:
    """The model as the ONNX checker should see it: external tensors without their locations,
    and the main-graph initializers numbered in `lean` (parsed without their raw_data, which
    they were checked to hold exactly as the checker asks: `_plain_raw`) as stubs too.

    Given a ModelProto, `onnx.checker.check_model` resolves external data locations against
    the process's working directory, not the model's folder, so a valid model failed whenever
    it was not run from the model's folder (and the checker probed unrelated paths). External
    data is the walk's job (`_Walk._hash_external`: location policy, regular file, length);
    here its tensors keep everything else, become empty inline tensors for the checker, and
    the one check the checker made on them that the walk does not make is made here.
    """
    import onnx

    for t in external:
        for name in _DATA_FIELDS:
            if len(getattr(t, name)):
                raise ModelError(
                    f"{shown}: tensor {t.name!r} is stored externally but also has {name}"
                )
    lean = list(lean)
    if not external and not lean:
        return model
    view = onnx.ModelProto()
    view.CopyFrom(model)
    stubs: list[Any] = []
    _scan(view, shown, stubs)
    stubs.extend(view.graph.initializer[i] for i in lean)
    for t in stubs:
        _stub(t)
    return view


def _has_unknown_fields(msg: Any) -> bool:
    """Whether the message, or any message inside it, holds fields unknown to this onnx."""
    from google.protobuf.unknown_fields import UnknownFieldSet

    def walk(m: Any) -> bool:
        if len(UnknownFieldSet(m)):
            return True
        for name, message, repeated in _scanned_fields(m):
            if not message:
                continue
            if repeated:
                if any(walk(sub) for sub in getattr(m, name)):
                    return True
            elif m.HasField(name) and walk(getattr(m, name)):
                return True
        return False

    return walk(msg)


def parse_model(data: bytes, shown: str) -> Any:
    """Parses ONNX bytes and runs the ONNX checker; any failure is a ModelError."""
    import onnx
    from google.protobuf.message import DecodeError

    if not data:
        raise ModelError(f"{shown}: empty file, not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError, RecursionError) as exc:
        raise ModelError(f"{shown}: not an ONNX model (protobuf parse failed: {exc})") from None
    if not model.HasField("graph") or not model.ir_version:
        raise ModelError(f"{shown}: not an ONNX model (no graph or IR version)")
    # Fix: fields this onnx release does not know (from a newer release, or corruption) are
    # kept by protobuf as unknown fields, which ListFields() never shows, so they escaped the
    # refusal of unknown fields (docs/SPEC.md section 8) and all three digests. Looked for
    # message by message (ByteSize() serialises the whole model, twice as slow as parsing it).
    if _has_unknown_fields(model):
        raise ModelError(
            f"{shown}: uses protobuf fields unknown to onnx {onnx.__version__}, "
            f"which {SCHEME} does not cover"
        )
    external: list[Any] = []
    _scan(model, shown, external)
    view = _checker_view(model, external, shown)
    try:
        # Without external data the checker is given the file's bytes, which parse to this
        # very model (no unknown fields), instead of the model, which it would serialise again.
        onnx.checker.check_model(view if external else data)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid model"
        raise ModelError(f"{shown}: fails the ONNX checker: {first}") from None
    except Exception as exc:  # the checker raises plain errors on some corrupt inputs
        raise ModelError(f"{shown}: fails the ONNX checker: {exc}") from None
    return model


def _plain_raw(t: Any, size: int) -> bool:
    """Whether a tensor parsed without its raw_data of `size` bytes passes, with them, every
    check the ONNX checker makes of a tensor: raw_data its one value field, a numeric type,
    n > 0 elements and no fewer bytes than they need. Exactly the bytes of docs/SPEC.md
    section 8.1 rule 4 are asked for, so the walk finds nothing wrong with them either."""
    from onnx import TensorProto

    if t.HasField("raw_data") or t.data_location == TensorProto.EXTERNAL or len(t.external_data):
        return False
    if any(len(getattr(t, name)) for name in _DATA_FIELDS if name != "raw_data"):
        return False
    if t.data_type not in _BITS or any(d <= 0 for d in t.dims):
        return False
    return value_size(t, "") == size


_LEAN_SHARE = 0.5  # the least part of the file its large raw_data must be for `_parse_lean`


@dataclass(eq=False, slots=True)
class _Lean:
    """A model parsed without the large raw_data of its main graph's initializers."""

    file: _ExternalFile  # the model file, open
    payloads: dict[int, onnx_wire.Payload]  # by initializer index
    gaps: list[tuple[int, int]]  # every other byte range of the file, all that was parsed
    gaps_digest: bytes  # SHA-256 over those ranges as they were parsed


def _parse_lean(
    fd: int, size: int, path: Path, shown: str, found: list[onnx_wire.Payload]
) -> tuple[Any, _Lean] | None:
    """`parse_model` of an open model file without the large raw_data payloads of the main
    graph's initializers (`onnx_wire`), which are neither read nor held here.

    None when the model holds no such payload, is not in the plain form, or fails any check:
    `parse_model` of the whole file then gives the result, or the error, it always gave.
    When this succeeds, `parse_model` would have succeeded too: the parse, the unknown-field
    and UTF-8 checks see the same fields, and the checker's verdict is the same with these
    tensors stubbed (docs/SPEC.md section 8.1, rule 2).
    """
    import onnx

    gaps = onnx_wire.gaps(size, found)
    rest = hashlib.sha256()
    pieces: list[tuple[int, bytes]] = []
    for a, b in gaps:
        try:
            piece = os.pread(fd, b - a, a)
        except OSError:
            return None
        if len(piece) != b - a:
            return None
        rest.update(piece)
        pieces.append((a, piece))
    stripped = onnx_wire.strip(onnx_wire.Pieces(size, pieces), found)
    if stripped is None:
        return None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(stripped)
        if not model.HasField("graph") or not model.ir_version or _has_unknown_fields(model):
            return None
        initializers = model.graph.initializer
        for p in found:
            if p.index >= len(initializers):
                return None
            if not _plain_raw(initializers[p.index], p.end - p.start):
                return None
        external: list[Any] = []
        _scan(model, shown, external)
        stubbed = [p.index for p in found]
        onnx.checker.check_model(_checker_view(model, external, shown, stubbed))
    except Exception:  # any failure: the whole file is parsed and the error reported from it
        return None
    own = _ExternalFile(fd, path, shown, size)
    return model, _Lean(own, {p.index: p for p in found}, gaps, rest.digest())


def semantic_fingerprint(
    model: Any, shown: str, base_dir: Path
) -> tuple[SemanticFingerprint, dict[str, tuple[Path, int]]]:
    """The `onnx-semantic/v1` fingerprint of a parsed model, and its external data files.

    The files are keyed by their location as the model writes it, with their real path and
    their size when read. The ONNX checker is not run here (`parse_model` runs it).
    """
    fp, external, _ = _semantic(model, shown, base_dir)
    return fp, {location: (path, d.size) for location, (path, d) in external.items()}


def _semantic(
    model: Any,
    shown: str,
    base_dir: Path,
    lean: _Lean | None = None,
    prefetch: _Prefetch | None = None,
) -> tuple[SemanticFingerprint, dict[str, tuple[Path, FileDigest]], FileDigest | None]:
    """`semantic_fingerprint`, with the digests of the external data files, each read once,
    and with `lean`, the model file's own digest from the same one read of it."""
    _check_fields(model, shown)
    walk = _Walk(shown, base_dir, lean, prefetch)
    try:
        graph, metadata = _walk_model(walk, model)
        own = walk.hash_model_file()
        files = walk.hash_external_data()
    finally:
        walk.close()
    tensors = tuple(TensorDigest(wid, name, _resolved(d)) for wid, name, d in walk.tensors)
    weights = [[wid, _resolved(d)] for wid, d in walk.weights]
    fp = SemanticFingerprint(graph, _sha(weights), metadata, tensors)
    return fp, {n: (walk.external_files[n][0], d) for n, d in files.items()}, own


def _walk_model(walk: _Walk, model: Any) -> tuple[str, str]:
    """The graph and metadata digests; the walk holds the weights and tensors, whose digests
    may wait for the external data to be read."""
    names = _Scope("")
    walk.number_graph(model.graph, names, ("main",))
    names.number_annotations()
    graph_doc = {
        "scheme": SCHEME,
        "opsets": _opsets(model.opset_import),
        "graph": walk.graph(model.graph, names, "main", ("main",)),
        "functions": [
            walk.function(f, i)
            for i, f in enumerate(
                sorted(
                    model.functions,
                    key=lambda f: (_utf8(f.domain), _utf8(f.name), _utf8(f.overload)),
                )
            )
        ],
    }
    walk.meta.extend(
        [
            ["model.ir_version", str(model.ir_version)],
            ["model.producer_name", model.producer_name],
            ["model.producer_version", model.producer_version],
            ["model.domain", model.domain],
            ["model.model_version", str(model.model_version)],
            ["model.doc_string", model.doc_string],
            ["model.metadata_props", _props(model.metadata_props)],
        ]
    )
    walk._names_meta(names)
    # Entries sort by key; two entries with one key (duplicate value_info entries, say) by
    # their values, so that their storage order does not matter either.
    meta = sorted(walk.meta, key=lambda e: (_utf8(e[0]), canonical_json(e[1])))
    return _sha(graph_doc), _sha(meta)


def fingerprint_model(path: Path) -> ModelFingerprint:
    """Fingerprints an ONNX model file: its file digest and its semantic fingerprint.

    The model file is read once. When its large weights are raw_data of main-graph
    initializers (the usual case), the model is parsed and checked without them, and one
    pass over the file gives its digest and their digests on two threads (`_parse_lean`,
    `hashing.digest_fd`); otherwise the file is read whole and its digest computed on another
    thread while it is parsed and checked. Each external data file is read once for both its
    file digest and its tensors' digests.
    """
    from concurrent.futures import ThreadPoolExecutor

    shown = str(path)
    name = argument_name(path)
    base_dir = model_folder(path)  # where the runtimes look: beside a link, not its target
    # Fix: a plain open() blocked forever on a FIFO and read /dev/zero until memory ran out.
    fd = open_regular(path, shown)
    prefetch: _Prefetch | None = None
    try:
        size = fstat_size(fd, shown)
        refuse_larger(size, shown, limit=MODEL_LIMIT, what="model")
        scan = onnx_wire.scan(onnx_wire.FileWindows(fd, size))
        if scan.external:  # before onnx is imported: its import overlaps the reading
            prefetch = _Prefetch.start(scan.external, base_dir, shown)
        held = sum(p.end - p.start for p in scan.payloads)
        # Worth it when the payloads are most of the file: the rest is held twice at once.
        lean = (
            _parse_lean(fd, size, path, shown, scan.payloads)
            if scan.payloads and held >= size * _LEAN_SHARE
            else None
        )
        if lean is not None:
            model, found = lean
            semantic, external, own = _semantic(model, shown, base_dir, found, prefetch)
            assert own is not None
            file_digest = own
        else:
            data = read_fd(fd, shown, limit=MODEL_LIMIT, what="model")
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aichain-model") as pool:
                # hashlib releases the GIL: the file digest overlaps parsing and checking.
                digest = pool.submit(digest_bytes, data)
                model = parse_model(data, shown)
                file_digest = FileDigest(digest.result(), len(data))
            del data
            semantic, external, _ = _semantic(model, shown, base_dir, None, prefetch)
    finally:
        if prefetch is not None:
            prefetch.close()
        os.close(fd)
    ext = tuple((n, external[n][1]) for n in sorted(external, key=_utf8))
    return ModelFingerprint(name, file_digest, ext, semantic)
