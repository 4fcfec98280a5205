"""The lineage manifest (`aichain.lineage/v1`): leaves, their canonical encoding, the root.

    >>> from aichain_audit.lineage import LineageManifest, name_leaf
    >>> m = LineageManifest.build([name_leaf("demo")])
    >>> LineageManifest.from_json(m.to_json()).root == m.root
    True

Consensus-critical. Each leaf is a small JSON object; its bytes are its RFC 8785
encoding; leaves are ordered by those bytes; the root is the RFC 9162 Merkle
tree hash over SHA-256(0x00 || leaf bytes). Everything hashed is a leaf, so the
root depends on content only. The manifest's other members (`root`, `subject`,
`generator`) are derived or informational and are checked on read. Once v1 is
published its hashing never changes; a change is a new schema version.
docs/SPEC.md is the normative text.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import json.encoder
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aichain_audit import __version__, merkle
from aichain_audit.canonical import (
    MAX_SAFE_INTEGER,
    canonical_json,
    json_encoder,
    parse_json_strict,
)
from aichain_audit.errors import InputError, ManifestError, PathPolicyError

SCHEMA = "aichain.lineage/v1"
PROOF_SCHEMA = "aichain.proof/v1"
ZERO_SUBJECT = "sha256:" + "0" * 64
MAX_MANIFEST_BYTES = 1 << 30
MAX_PROOF_BYTES = 64 << 20  # a proof holds one leaf (a config value is at most 16 MiB)
MLFLOW_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,256}")
# MLflow's own limits on a param (mlflow/utils/validation.py): a key of at most 250 characters
# from `[/\w.\- :]`, a value of at most 6,000 characters.
MLFLOW_PARAM_NAME = re.compile(r"[/\w.\- :]{1,250}")
MAX_MLFLOW_PARAM_VALUE = 6000
# MLflow's limits on a dataset record (mlflow/utils/validation.py, 3.17.2).
MAX_MLFLOW_DATASET_NAME = 500
MAX_MLFLOW_DATASET_DIGEST = 36
MAX_MLFLOW_SOURCE_TYPE = 36
MAX_MLFLOW_DATASET_SOURCE = 65535

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = re.compile(r"^(sha256|sha256-shards):[0-9a-f]{64}$")
_SUBJECT = re.compile(r"^(sha256|sha256-shards|sha256-modelset):[0-9a-f]{64}$")
_POINTER = re.compile(r"^(/([^~/]|~[01])*)*$")
_TENSOR_ID = re.compile(r"^[\x21-\x7e]{1,512}$")
# The schemes a model-semantic leaf may name (docs/SPEC.md section 8): one per model format
# (`fingerprint.model.FORMATS`); adding one is a change to SPEC.
SEMANTIC_SCHEMES = frozenset({"onnx-semantic/v1", "safetensors-semantic/v1", "gguf-semantic/v1"})

Leaf = dict[str, Any]

# --- leaf kinds (docs/SPEC.md section 5): part of v1's hashed bytes, so they never change -
MODEL = "model"
MODEL_DATA = "model-data"  # an external data file of the model
MODEL_SEMANTIC = "model-semantic"
TENSOR = "tensor"
DATASET = "dataset"
SKIPPED = "skipped"  # a dataset entry the path policy skipped, recorded with its reason
CONFIG = "config"
NAME = "name"
PARENT = "parent"
MLFLOW_RUN = "mlflow-run"
MLFLOW_PARAM = "mlflow-param"  # a param of the lineage's MLflow run, as MLflow stores it
MLFLOW_INPUT = "mlflow-input"  # a dataset input of the lineage's MLflow run, as MLflow records it
SUBJECT = "subject"

PATH_KINDS = (MODEL, MODEL_DATA, DATASET, SKIPPED)
FILE_KINDS = (MODEL, MODEL_DATA, DATASET)  # leaves holding a file's digest and size
MODEL_PART_KINDS = (MODEL_DATA, MODEL_SEMANTIC, TENSOR)


# --- paths (docs/SPEC.md section 4) ----------------------------------------------------
def check_relative(name: str) -> tuple[str, ...]:
    """Refuses a manifest path that is absolute, contains `..` or `.`, or is empty; returns
    its parts. Checked on every path read from a manifest, before any file is opened."""
    if not name or name[0] == "/" or "\\" in name or "\x00" in name:
        raise PathPolicyError(f"manifest path {name!r} is not a relative POSIX path")
    parts = tuple(name.split("/"))
    if "" in parts or "." in parts or ".." in parts:
        raise PathPolicyError(f"manifest path {name!r} must not contain '.', '..' or empty parts")
    if not name.isascii() and unicodedata.normalize("NFC", name) != name:
        raise PathPolicyError(f"manifest path {name!r} is not in Unicode NFC")
    return parts


# --- leaf constructors ---------------------------------------------------------------
def file_leaf(kind: str, path: str, digest: str, size: int, link: str | None = None) -> Leaf:
    leaf: Leaf = {"kind": kind, "path": path, "digest": digest, "size": size}
    if link is not None:
        leaf["link"] = link
    return leaf


def skipped_leaf(path: str, reason: str) -> Leaf:
    return {"kind": SKIPPED, "path": path, "reason": reason}


def config_leaf(path: str, pointer: str, value: Any) -> Leaf:
    return {"kind": CONFIG, "path": path, "pointer": pointer, "value": value}


def semantic_leaf(path: str, scheme: str, graph: str, weights: str, metadata: str) -> Leaf:
    return {
        "kind": MODEL_SEMANTIC,
        "path": path,
        "scheme": scheme,
        "graph": graph,
        "weights": weights,
        "metadata": metadata,
    }


def tensor_leaf(path: str, tensor_id: str, name: str, digest: str) -> Leaf:
    return {"kind": TENSOR, "path": path, "tensor": tensor_id, "name": name, "digest": digest}


def name_leaf(name: str) -> Leaf:
    return {"kind": NAME, "value": name}


def parent_leaf(root_hex: str) -> Leaf:
    return {"kind": PARENT, "root": root_hex}


def mlflow_run_leaf(run_id: str) -> Leaf:
    return {"kind": MLFLOW_RUN, "run_id": run_id}


def mlflow_param_leaf(name: str, value: str) -> Leaf:
    return {"kind": MLFLOW_PARAM, "name": name, "value": value}


def mlflow_input_leaf(
    name: str, digest: str, source_type: str, source: str, dataset: str | None = None
) -> Leaf:
    """A dataset input of the run as MLflow records it; `dataset` is the path of the dataset
    leaf its local source was fingerprinted as, when it was."""
    leaf: Leaf = {
        "kind": MLFLOW_INPUT,
        "name": name,
        "digest": digest,
        "source_type": source_type,
        "source": source,
    }
    if dataset is not None:
        leaf["dataset"] = dataset
    return leaf


def subject_leaf(subject: str, leaves: int) -> Leaf:
    """The subject, and the number of leaves in the lineage (this one included): the count
    binds the tree size into the root, which RFC 9162 audit paths alone do not."""
    return {"kind": SUBJECT, "digest": subject, "leaves": leaves}


# --- validation ----------------------------------------------------------------------
class _LeafName:
    """`leaf ITEM`, for error messages: formatted only when an error is raised."""

    __slots__ = ("kind", "leaf")

    def __init__(self, leaf: Leaf, kind: str = "") -> None:
        self.leaf = leaf
        self.kind = kind

    def __str__(self) -> str:
        try:
            name = f"leaf {item_of(self.leaf)}"
        except (KeyError, TypeError):  # a leaf too malformed to name
            name = "leaf ?"
        return f"{name} ({self.kind})" if self.kind else name


Where = str | _LeafName  # where a leaf is, in error messages


def _str(leaf: Leaf, key: str, where: Where, pattern: re.Pattern[str] | None = None) -> str:
    v = leaf.get(key)
    if not isinstance(v, str) or (pattern is not None and not pattern.fullmatch(v)):
        raise ManifestError(f"{where}: field {key!r} is missing or malformed")
    return v


def _path(leaf: Leaf, where: Where, key: str = "path") -> str:
    p = _str(leaf, key, where)
    try:
        check_relative(p)
    except PathPolicyError as exc:
        raise ManifestError(f"{where}: {exc.message}") from None
    return p


_OTHER_ITEM_FORMS = re.compile(r"^#|#/|#$|#semantic$|#tensor/")


def item_conflict(path: str) -> str | None:
    """Why a recorded path would read as another kind's item (docs/SPEC.md section 5), or None.

    Items of files are their paths; other leaves are named `#kind`, `FILE#/pointer`, `FILE#`,
    `MODEL#semantic` and `MODEL#tensor/ID`. A path of one of those shapes is refused, so an
    item always names one kind of leaf.
    """
    m = _OTHER_ITEM_FORMS.search(path) if "#" in path else None  # each form has a '#'
    if m is None:
        return None
    return (
        f"the name {path!r} would read as another kind of item ({m.group(0)!r} marks config "
        "values, model parts and lineage fields); rename it"
    )


def _size(leaf: Leaf, where: Where) -> None:
    v = leaf.get("size")
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_SAFE_INTEGER:
        raise ManifestError(f"{where}: field 'size' is missing or malformed")


_FIELDS: dict[str, set[str]] = {
    MODEL: {"kind", "path", "digest", "size"},
    MODEL_DATA: {"kind", "path", "digest", "size"},
    DATASET: {"kind", "path", "digest", "size"},
    SKIPPED: {"kind", "path", "reason"},
    CONFIG: {"kind", "path", "pointer", "value"},
    MODEL_SEMANTIC: {"kind", "path", "scheme", "graph", "weights", "metadata"},
    TENSOR: {"kind", "path", "tensor", "name", "digest"},
    NAME: {"kind", "value"},
    PARENT: {"kind", "root"},
    MLFLOW_RUN: {"kind", "run_id"},
    MLFLOW_PARAM: {"kind", "name", "value"},
    MLFLOW_INPUT: {"kind", "name", "digest", "source_type", "source"},
    SUBJECT: {"kind", "digest", "leaves"},
}


_OPTIONAL: dict[str, set[str]] = {DATASET: {"link"}, MLFLOW_INPUT: {"dataset"}}
_ALLOWED: dict[str, set[str]] = {
    kind: fields | _OPTIONAL.get(kind, set()) for kind, fields in _FIELDS.items()
}


def validate_leaf(leaf: Any, where: Where) -> Leaf:
    """Checks one leaf against its kind's schema; returns it unchanged."""
    if not isinstance(leaf, dict):
        raise ManifestError(f"{where}: a leaf must be a JSON object")
    kind = leaf.get("kind")
    if kind not in _FIELDS:
        raise ManifestError(f"{where}: unknown leaf kind {kind!r}")
    keys = set(leaf)
    if not (_FIELDS[kind] <= keys <= _ALLOWED[kind]):
        raise ManifestError(f"{where}: a {kind} leaf has fields {sorted(keys)}")
    where = _LeafName(leaf, kind) if isinstance(where, _LeafName) else f"{where} ({kind})"
    if kind in PATH_KINDS:
        conflict = item_conflict(_path(leaf, where))
        if conflict is not None:
            raise ManifestError(f"{where}: {conflict}")
    if kind in FILE_KINDS:
        _str(leaf, "digest", where, _DIGEST)
        _size(leaf, where)
        if "link" in leaf:
            _path(leaf, where, "link")
    elif kind == SKIPPED:
        if leaf["reason"] not in ("symlink", "special", "unreadable"):
            raise ManifestError(f"{where}: unknown skip reason {leaf['reason']!r}")
    elif kind == CONFIG:
        _path(leaf, where)
        _str(leaf, "pointer", where, _POINTER)
        value = leaf["value"]
        if isinstance(value, (dict, list)) and value:
            raise ManifestError(f"{where}: a config value must be a scalar or empty")
        try:
            canonical_json(value)
        except ValueError as exc:
            raise ManifestError(f"{where}: {exc}") from None
    elif kind == MODEL_SEMANTIC:
        _path(leaf, where)
        if _str(leaf, "scheme", where) not in SEMANTIC_SCHEMES:
            raise ManifestError(f"{where}: field 'scheme' is missing or malformed")
        for k in ("graph", "weights", "metadata"):
            _str(leaf, k, where, _DIGEST)
    elif kind == TENSOR:
        _path(leaf, where)
        _str(leaf, "tensor", where, _TENSOR_ID)
        _str(leaf, "name", where)
        _str(leaf, "digest", where, _DIGEST)
    elif kind == NAME:
        if not _str(leaf, "value", where):
            raise ManifestError(f"{where}: a name must not be empty")
    elif kind == PARENT:
        _str(leaf, "root", where, _HEX64)
    elif kind == MLFLOW_RUN:
        run_id = _str(leaf, "run_id", where)
        if not MLFLOW_RUN_ID.fullmatch(run_id):
            raise ManifestError(f"{where}: field 'run_id' is missing or malformed")
    elif kind == MLFLOW_PARAM:
        if not MLFLOW_PARAM_NAME.fullmatch(_str(leaf, "name", where)):
            raise ManifestError(f"{where}: field 'name' is not an MLflow param name")
        if len(_str(leaf, "value", where)) > MAX_MLFLOW_PARAM_VALUE:
            raise ManifestError(f"{where}: field 'value' is longer than MLflow keeps")
    elif kind == MLFLOW_INPUT:
        for key, most in (("name", MAX_MLFLOW_DATASET_NAME), ("digest", MAX_MLFLOW_DATASET_DIGEST),
                          ("source_type", MAX_MLFLOW_SOURCE_TYPE),
                          ("source", MAX_MLFLOW_DATASET_SOURCE)):  # fmt: skip
            if not 1 <= len(_str(leaf, key, where)) <= most:
                raise ManifestError(f"{where}: field {key!r} is empty or longer than MLflow keeps")
        if "dataset" in leaf:
            _path(leaf, where, "dataset")
    elif kind == SUBJECT:
        _str(leaf, "digest", where, _SUBJECT)
        n = leaf["leaves"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_SAFE_INTEGER:
            raise ManifestError(f"{where}: field 'leaves' is missing or malformed")
    return leaf


_DATASET_FIELDS = frozenset(_FIELDS[DATASET])
_encode_string = json.encoder.encode_basestring  # JSON string escapes, the ones RFC 8785 uses


def _plain_dataset(leaf: Any) -> bytes | None:
    """The encoding of a dataset leaf without a link that `validate_leaf` accepts, made
    without the general checks and encoder; None for any other leaf, which then takes them
    (a million files: a third of building the manifest). Property-tested against both."""
    if type(leaf) is not dict or leaf.keys() != _DATASET_FIELDS or leaf["kind"] != DATASET:
        return None
    path, digest, size = leaf["path"], leaf["digest"], leaf["size"]
    if type(path) is not str or type(digest) is not str or type(size) is not int:
        return None
    if not 0 <= size <= MAX_SAFE_INTEGER or not _DIGEST.fullmatch(digest):
        return None
    try:
        check_relative(path)
        if item_conflict(path) is not None:
            return None
        text = (
            f'{{"digest":"{digest}","kind":"dataset","path":{_encode_string(path)},"size":{size}}}'
        )
        return text.encode()
    except (PathPolicyError, UnicodeEncodeError):
        return None


def encode_leaf(leaf: Leaf, where: Where) -> bytes:
    """The leaf's bytes (RFC 8785); a value JCS cannot encode is a ManifestError naming it."""
    try:
        return canonical_json(leaf)
    except ValueError as exc:
        raise ManifestError(f"{where}: {exc}") from None


def item_of(leaf: Leaf) -> str | None:
    """How `aichain prove` names a leaf: its path, CONFIG#POINTER, or MODEL#semantic."""
    kind = leaf["kind"]
    if kind in PATH_KINDS:
        return str(leaf["path"])
    if kind == CONFIG:
        return f"{leaf['path']}#{leaf['pointer']}"
    if kind == MODEL_SEMANTIC:
        return f"{leaf['path']}#semantic"
    if kind == TENSOR:
        return f"{leaf['path']}#tensor/{leaf['tensor']}"
    if kind == MLFLOW_PARAM:
        return f"#mlflow-param/{leaf['name']}"
    if kind == MLFLOW_INPUT:
        return f"#mlflow-input/{leaf['digest']}/{leaf['name']}"
    return f"#{kind}"


def derive_subject(leaves: Iterable[Leaf]) -> str:
    """The lineage subject: the model's digest, a digest over a model with external data
    files, or the zero digest when the lineage has no model (docs/SPEC.md, "Subject")."""
    model = [leaf for leaf in leaves if leaf["kind"] in (MODEL, MODEL_DATA)]
    if not model:
        return ZERO_SUBJECT
    if len(model) == 1:
        return str(model[0]["digest"])
    pairs = sorted(([leaf["path"], leaf["digest"]] for leaf in model), key=lambda p: p[0].encode())
    return "sha256-modelset:" + hashlib.sha256(canonical_json(pairs)).hexdigest()


# --- the manifest --------------------------------------------------------------------
@dataclass(frozen=True)
class LineageManifest:
    """A validated lineage: leaves in canonical order, their encodings, the root."""

    leaves: tuple[Leaf, ...]
    encoded: tuple[bytes, ...]
    root: bytes
    subject: str
    _tree: list[merkle.MerkleTree] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def build(cls, leaves: Sequence[Leaf]) -> LineageManifest:
        """Canonicalises leaves (adding the subject leaf) and computes the root."""
        body = [leaf for leaf in leaves if leaf["kind"] != SUBJECT]
        fast = [_plain_dataset(leaf) for leaf in body]
        for leaf, done in zip(body, fast, strict=True):
            if done is None:
                validate_leaf(leaf, _LeafName(leaf))
        subject = derive_subject(body)
        pairs = [
            (done or encode_leaf(leaf, _LeafName(leaf)), leaf)
            for leaf, done in zip(
                [*body, subject_leaf(subject, len(body) + 1)], [*fast, None], strict=True
            )
        ]
        del fast
        pairs.sort(key=lambda p: p[0])
        for (a, _), (b, leaf) in itertools.pairwise(pairs):
            if a == b:
                raise ManifestError(f"the same leaf appears twice: {item_of(leaf)}")
        _check_unique_items([leaf for _, leaf in pairs])
        encoded = tuple(p[0] for p in pairs)
        ordered = tuple(p[1] for p in pairs)
        del pairs, body  # a million leaves: these copies are what P6 measures
        return cls(ordered, encoded, merkle.root_of_data(encoded), subject)

    @property
    def root_hex(self) -> str:
        return self.root.hex()

    def tree(self) -> merkle.MerkleTree:
        if not self._tree:
            self._tree.append(merkle.MerkleTree([merkle.leaf_hash(e) for e in self.encoded]))
        return self._tree[0]

    def of_kind(self, *kinds: str) -> list[Leaf]:
        """The leaves of the given kinds, in canonical order."""
        return [leaf for leaf in self.leaves if leaf["kind"] in kinds]

    def _one(self, kind: str) -> Leaf | None:
        found = self.of_kind(kind)
        return found[0] if found else None  # validation allows at most one

    def model_leaf(self) -> Leaf | None:
        """The model file's leaf, or None for a lineage without a model."""
        return self._one(MODEL)

    def model_data_leaves(self) -> list[Leaf]:
        """The model's external data files."""
        return self.of_kind(MODEL_DATA)

    def semantic_leaf(self) -> Leaf | None:
        """The model's `onnx-semantic/v1` fingerprint (graph, weights, metadata), or None."""
        return self._one(MODEL_SEMANTIC)

    def tensor_leaves(self) -> list[Leaf]:
        return self.of_kind(TENSOR)

    def dataset_leaves(self) -> list[Leaf]:
        """Dataset files that were hashed (not the skipped entries: see `skipped_leaves`)."""
        return self.of_kind(DATASET)

    def skipped_leaves(self) -> list[Leaf]:
        return self.of_kind(SKIPPED)

    def config_leaves(self) -> list[Leaf]:
        return self.of_kind(CONFIG)

    def to_json(self) -> bytes:
        """The manifest file: indented for people; what is hashed is each leaf's JCS form.

        The bytes are exactly `json.dumps(doc, indent=1, ensure_ascii=False)` and a newline,
        written faster: with `indent` the json module falls back to its pure-Python encoder
        (about 0.5 s for 20,000 leaves), so each leaf, an object of scalars and empty
        containers, is written by the C encoder with the indentation as its separators.
        """
        doc = {
            "schema": SCHEMA,
            "root": self.root_hex,
            "subject": self.subject,
            "leaves": list(self.leaves),
            "generator": {"tool": "aichain-audit", "version": __version__},
        }
        fast = _indented_manifest(doc)
        if fast is not None:
            return fast
        return (json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode()

    @classmethod
    def read(cls, path: Path) -> LineageManifest:
        """Reads and validates a manifest file (a regular file of at most 1 GiB)."""
        from aichain_audit.inputfile import read_input

        data = read_input(path, limit=MAX_MANIFEST_BYTES, what="lineage manifest")
        return cls.from_json(data, str(path))

    @classmethod
    def from_json(cls, data: bytes, shown: str = "manifest") -> LineageManifest:
        """Parses and validates a manifest; any defect is a ManifestError naming it."""
        doc, leaves, encoded = read_leaves(data, shown)
        subject = derive_subject(leaves)
        (subject_leaf_,) = (leaf for leaf in leaves if leaf["kind"] == SUBJECT)
        if subject_leaf_["digest"] != subject or doc.get("subject") != subject:
            raise ManifestError(f"{shown}: subject does not match the model leaves")
        if subject_leaf_["leaves"] != len(leaves):
            raise ManifestError(f"{shown}: the subject leaf's count does not match the leaves")
        root = merkle.root_of_data(encoded)
        if doc.get("root") != root.hex():
            raise ManifestError(
                f"{shown}: root {doc.get('root')!r} does not match its leaves "
                f"(recomputed {root.hex()})"
            )
        return cls(leaves, encoded, root, subject)

    def subject_index(self) -> int:
        return next(i for i, leaf in enumerate(self.leaves) if leaf["kind"] == SUBJECT)

    def find(self, item: str, kind: str | None = None) -> int:
        """The index of the leaf that `item` names (see `item_of`), of `kind` when given."""
        if kind is not None and kind not in _FIELDS:
            raise ManifestError(f"unknown leaf kind {kind!r}; one of {', '.join(_FIELDS)}")
        for i, leaf in enumerate(self.leaves):
            if item_of(leaf) == item:
                if kind is not None and leaf["kind"] != kind:
                    raise ManifestError(
                        f"{item!r} names a {leaf['kind']} leaf in this lineage, not a {kind} leaf"
                    )
                return i
        raise ManifestError(f"no leaf named {item!r} in this lineage")


# A leaf member written on its own line at depth 3 of `json.dumps(..., indent=1)`.
_LEAF_MEMBER = json_encoder(key_separator=": ", item_separator=",\n   ", sort_keys=False)
_SCALARS = (str, int, float, bool, type(None))


def _indented_manifest(doc: dict[str, Any]) -> bytes | None:
    """`json.dumps(doc, indent=1, ensure_ascii=False) + "\\n"` for a manifest whose leaves hold
    only scalars and empty containers (all valid leaves), else None."""
    leaves = doc["leaves"]
    if not leaves:
        return None
    parts = ["{\n"]
    for key in ("schema", "root", "subject"):
        parts.append(f" {_LEAF_MEMBER(key)}: {_LEAF_MEMBER(doc[key])},\n")
    parts.append(' "leaves": [\n')
    last = len(leaves) - 1
    for i, leaf in enumerate(leaves):
        if not leaf or not all(
            isinstance(v, _SCALARS) or (type(v) in (dict, list) and not v) for v in leaf.values()
        ):
            return None
        text = _LEAF_MEMBER(leaf)  # {"kind": "dataset",\n   "path": ...}
        parts.append("  {\n   " + text[1:-1] + ("\n  }\n" if i == last else "\n  },\n"))
    parts.append(" ],\n")
    gen = doc["generator"]
    members = ",\n".join(f"  {_LEAF_MEMBER(k)}: {_LEAF_MEMBER(v)}" for k, v in gen.items())
    parts.append(f' "generator": {{\n{members}\n }}\n}}\n')
    return "".join(parts).encode()


def read_leaves(
    data: bytes, shown: str
) -> tuple[dict[str, Any], tuple[Leaf, ...], tuple[bytes, ...]]:
    """A manifest's document, its validated leaves and their bytes (SPEC section 9).

    Checks the schema, the members, every leaf, their canonical order, the one subject leaf
    and the items; not whether the stated root and subject match the leaves, which
    `LineageManifest.from_json` refuses and verification reports as a finding.
    """
    doc = parse_strict_json(data, shown)
    if not isinstance(doc, dict):
        raise ManifestError(f"{shown}: not a lineage manifest (expected a JSON object)")
    if doc.get("schema") != SCHEMA:
        raise ManifestError(f"{shown}: schema {doc.get('schema')!r} is not {SCHEMA!r}")
    extra = set(doc) - {"schema", "root", "subject", "leaves", "generator"}
    if extra:
        raise ManifestError(f"{shown}: unknown members {sorted(extra)}")
    leaves = doc.get("leaves")
    if not isinstance(leaves, list):
        raise ManifestError(f"{shown}: 'leaves' must be a list")
    for i, leaf in enumerate(leaves):
        validate_leaf(leaf, f"{shown}: leaf {i}")
    encoded = tuple(encode_leaf(leaf, f"{shown}: leaf {i}") for i, leaf in enumerate(leaves))
    if any(a >= b for a, b in itertools.pairwise(encoded)):
        raise ManifestError(f"{shown}: leaves are not in canonical order (or repeat)")
    if sum(leaf["kind"] == SUBJECT for leaf in leaves) != 1:
        raise ManifestError(f"{shown}: expected exactly one subject leaf")
    _check_unique_items(leaves)
    return doc, tuple(leaves), encoded


def hex64_member(value: Any, what: str, shown: str) -> str:
    """A member that must be 64 lowercase hex digits (roots, hashes), else an InputError."""
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise InputError(f"{shown}: {what} must be 64 lowercase hex digits")
    return value


def count_member(value: Any, what: str, shown: str) -> int:
    """A member that must be a non-negative JSON integer (indices, sizes), else an InputError."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(f"{shown}: {what} must be a non-negative integer")
    return value


def _check_unique_items(leaves: Sequence[Leaf]) -> None:
    """No two leaves share an item; at most one model; model parts belong to the model."""
    seen: set[str] = set()
    models: list[str] = []
    semantic = 0
    for leaf in leaves:
        item = item_of(leaf)
        if item is None:
            continue
        if item in seen:
            raise ManifestError(f"two artifacts are recorded as {item!r}; rename one")
        seen.add(item)
        if leaf["kind"] == MODEL:
            models.append(leaf["path"])
        semantic += leaf["kind"] == MODEL_SEMANTIC
    if len(models) > 1:
        raise ManifestError("a lineage has at most one model")
    if semantic > 1:
        raise ManifestError("a lineage has at most one model-semantic leaf")
    _check_mlflow_inputs(leaves)
    for leaf in leaves:
        kind = leaf["kind"]
        if kind not in MODEL_PART_KINDS:
            continue
        if not models:
            raise ManifestError(
                f"a {kind} leaf ({item_of(leaf)!r}) needs the model it belongs to, "
                "and this lineage has no model leaf"
            )
        if kind != MODEL_DATA and leaf["path"] != models[0]:
            raise ManifestError(
                f"the {kind} leaf {item_of(leaf)!r} names another model than {models[0]!r}"
            )


def _check_mlflow_inputs(leaves: Sequence[Leaf]) -> None:
    """`mlflow-input` leaves exist only beside an `mlflow-run` leaf, and the `dataset` of
    each names a dataset leaf of the lineage."""
    inputs = [leaf for leaf in leaves if leaf["kind"] == MLFLOW_INPUT]
    if not inputs:
        return
    if not any(leaf["kind"] == MLFLOW_RUN for leaf in leaves):
        raise ManifestError(
            f"an mlflow-input leaf ({item_of(inputs[0])!r}) needs the mlflow-run leaf of its "
            "run, and this lineage has none"
        )
    datasets = {leaf["path"] for leaf in leaves if leaf["kind"] == DATASET}
    for leaf in inputs:
        if "dataset" in leaf and leaf["dataset"] not in datasets:
            raise ManifestError(
                f"the mlflow-input leaf {item_of(leaf)!r} names dataset {leaf['dataset']!r}, "
                "which this lineage does not hold"
            )


def parse_strict_json(data: bytes, shown: str, *, jcs_numbers: bool = False) -> Any:
    """JSON with duplicate keys, NaN and infinities refused (`jcs_numbers`: see
    `parse_json_strict`)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{shown}: larger than 1 GiB")
    try:
        return parse_json_strict(data.decode("utf-8"), jcs_numbers=jcs_numbers)
    except UnicodeDecodeError:
        raise ManifestError(f"{shown}: not UTF-8") from None
    except ValueError as exc:
        raise ManifestError(f"{shown}: {exc}") from None
