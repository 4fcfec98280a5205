"""ONNX models: the file digest and the `onnx-semantic/v1` fingerprint.

The semantic fingerprint has three parts, each a SHA-256 over an RFC 8785
document built by our own walk of the model (never protobuf serialisation, so it
is stable across onnx releases):
- graph: opsets, topology, op types, domains, attributes, types, with tensor
  names replaced by canonical ids given in order of first use;
- weights: every tensor value (initializers, sparse initializers, tensor
  attributes such as Constant values, in subgraphs and functions too),
  independent of storage (raw_data, typed fields, inline or external data);
- metadata: producer, versions, doc strings, metadata_props, graph, node and
  tensor names.
docs/SPEC.md ("onnx-semantic/v1") is the normative description. A model field
this walk does not know is refused rather than ignored, so nothing can change
without changing a digest.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aichain_audit.canonical import canonical_json
from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint.hashing import FileDigest, HashJob, digest_files
from aichain_audit.fingerprint.paths import argument_name, resolve_inside

SCHEME = "onnx-semantic/v1"
_CHUNK = 4 * 1024 * 1024
# Opening external data: never block on a FIFO, never follow a final symlink swapped in after
# resolve_inside checked the real path.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
_OPEN_FLAGS |= getattr(os, "O_CLOEXEC", 0)
_DATA_FIELDS = (
    "float_data",
    "int32_data",
    "string_data",
    "int64_data",
    "raw_data",
    "double_data",
    "uint64_data",
)

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


def _check_fields(msg: Any, where: str) -> None:
    known = _KNOWN[type(msg).__name__]
    for fd, _ in msg.ListFields():
        if fd.name not in known:
            raise ModelError(
                f"{where}: uses the ONNX field {type(msg).__name__}.{fd.name}, "
                f"which {SCHEME} does not cover"
            )


def _props(entries: Any) -> list[list[str]]:
    return sorted([e.key, e.value] for e in entries)


class _Scope:
    """Canonical ids of tensor names in one naming scope, given in order of first use."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.ids: dict[str, str] = {}

    def ref(self, name: str) -> str:
        if not name:
            return ""  # an omitted optional input or output
        vid = self.ids.get(name)
        if vid is None:
            vid = self.ids[name] = f"{self.prefix}v{len(self.ids)}"
        return vid


class _Walk:
    """One pass over a model producing the graph, weights and metadata documents."""

    def __init__(self, model: Any, shown: str, base_dir: Path) -> None:
        self.model = model
        self.shown = shown
        self.base_dir = base_dir
        self.weights: list[list[str]] = []
        self.tensors: list[TensorDigest] = []
        self.meta: list[list[Any]] = []
        self.external_files: set[str] = set()
        self.node_count = 0

    # -- names ------------------------------------------------------------------------
    def _assign_graph(self, g: Any, names: _Scope) -> None:
        for vi in g.input:
            names.ref(vi.name)
        for node in g.node:
            for n in node.input:
                names.ref(n)
            for attr in sorted(node.attribute, key=lambda a: a.name):
                for sub in [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs:
                    self._assign_graph(sub, names)
            for n in node.output:
                names.ref(n)
        for vi in g.output:
            names.ref(vi.name)
        # Initializers no node uses get ids in order of their value digests, so that their
        # storage order (not content) cannot change any digest.
        unused = [t for t in g.initializer if t.name and t.name not in names.ids]
        for t in sorted(unused, key=lambda t: self._tensor_digest(t, f"{self.shown}: {t.name!r}")):
            names.ref(t.name)
        spare = [s for s in g.sparse_initializer if s.values.name not in names.ids]
        for s in sorted(spare, key=lambda s: self._sparse_digest(s, f"{self.shown}: sparse")):
            names.ref(s.values.name)

    def _names_meta(self, names: _Scope) -> None:
        self.meta.extend([f"name:{vid}", name] for name, vid in names.ids.items())

    # -- tensors ----------------------------------------------------------------------
    def _hash_external(self, t: Any, where: str, h: Any) -> None:
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
        for key in ("offset", "length"):
            if key in info and not re.fullmatch(r"[0-9]{1,20}", info[key]):
                raise ModelError(f"{where}: external data {key} {info[key]!r} is not a number")
        offset = int(info.get("offset", "0"))
        length = int(info["length"]) if "length" in info else None
        done = 0
        try:
            # Fix: plain open() blocked forever on a FIFO named like the data file; only regular
            # files are read (the rule for every file we hash, docs/SPEC.md section 4).
            with os.fdopen(os.open(path, _OPEN_FLAGS), "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise ModelError(f"{where}: external data {location!r} is not a regular file")
                f.seek(offset)
                while length is None or done < length:
                    want = _CHUNK if length is None else min(_CHUNK, length - done)
                    block = f.read(want)
                    if not block:
                        break
                    h.update(block)
                    done += len(block)
        except OSError as exc:
            raise ModelError(f"{self.shown}: external data {location!r}: {exc.strerror}") from None
        if length is not None and done != length:
            raise ModelError(f"{where}: external data {location!r} is shorter than declared")
        self.external_files.add(location)

    def _hash_values(self, t: Any, where: str, h: Any) -> None:
        """Feeds the tensor's canonical value bytes to `h`, wherever they are stored."""
        from onnx import TensorProto, numpy_helper

        _check_fields(t, where)
        if t.data_type == TensorProto.UNDEFINED:
            raise ModelError(f"{where}: tensor has no data type")
        if t.data_type == TensorProto.STRING:
            if t.data_location == TensorProto.EXTERNAL:
                raise ModelError(f"{where}: string tensors cannot be stored externally")
            for s in t.string_data:
                h.update(struct.pack("<Q", len(s)) + s)
        elif t.data_location == TensorProto.EXTERNAL:
            self._hash_external(t, where, h)
        elif len(t.external_data):
            raise ModelError(f"{where}: external data entries on a tensor stored inline")
        elif t.HasField("raw_data"):
            h.update(t.raw_data)
        else:
            try:
                # Typed fields are converted to the raw little-endian form ONNX defines.
                h.update(numpy_helper.from_array(numpy_helper.to_array(t)).raw_data)
            except Exception as exc:
                raise ModelError(f"{where}: tensor values cannot be read ({exc})") from None

    def _tensor_digest(self, t: Any, where: str) -> str:
        header = canonical_json(
            {"kind": "dense", "dtype": t.data_type, "dims": [str(d) for d in t.dims]}
        )
        h = hashlib.sha256(struct.pack(">Q", len(header)) + header)
        self._hash_values(t, where, h)
        return "sha256:" + h.hexdigest()

    def _sparse_digest(self, s: Any, where: str) -> str:
        _check_fields(s, where)
        header = canonical_json(
            {
                "kind": "sparse",
                "dims": [str(d) for d in s.dims],
                "values": self._tensor_digest(s.values, where + " values"),
                "indices": self._tensor_digest(s.indices, where + " indices"),
            }
        )
        return "sha256:" + hashlib.sha256(struct.pack(">Q", len(header)) + header).hexdigest()

    def _weight(self, wid: str, name: str, digest: str) -> None:
        self.weights.append([wid, digest])
        self.tensors.append(TensorDigest(wid, name, digest))

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

    # -- graph ------------------------------------------------------------------------
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

    def _value_info(self, vi: Any, names: _Scope, scope: str) -> dict[str, Any]:
        _check_fields(vi, scope)
        vid = names.ref(vi.name)
        if vi.doc_string:
            self.meta.append([f"value:{vid}.doc_string", vi.doc_string])
        if len(vi.metadata_props):
            self.meta.append([f"value:{vid}.metadata_props", _props(vi.metadata_props)])
        return {"id": vid, "type": self._type(vi.type) if vi.HasField("type") else None}

    def graph(self, g: Any, names: _Scope, gid: str) -> dict[str, Any]:
        _check_fields(g, f"{self.shown} graph {gid}")
        self.meta.append([f"graph:{gid}.name", g.name])
        if g.doc_string:
            self.meta.append([f"graph:{gid}.doc_string", g.doc_string])
        if len(g.metadata_props):
            self.meta.append([f"graph:{gid}.metadata_props", _props(g.metadata_props)])
        doc: dict[str, Any] = {
            "inputs": [self._value_info(v, names, gid) for v in g.input],
            "outputs": [self._value_info(v, names, gid) for v in g.output],
        }
        # Initializers are listed by canonical id, so their storage order does not matter.
        inits = []
        for t in g.initializer:
            wid = names.ref(t.name)
            inits.append((wid, t))
        inits.sort(key=lambda p: _id_key(p[0]))
        doc["initializers"] = []
        for wid, t in inits:
            where = f"{self.shown}: initializer {t.name!r}"
            self._weight(wid, t.name, self._tensor_digest(t, where))
            self._tensor_meta(wid, t)
            doc["initializers"].append(
                {"id": wid, "dtype": t.data_type, "dims": [str(d) for d in t.dims]}
            )
        sparse = sorted(
            ((names.ref(s.values.name), s) for s in g.sparse_initializer),
            key=lambda p: _id_key(p[0]),
        )
        doc["sparse_initializers"] = []
        for wid, s in sparse:
            self._weight(
                wid,
                s.values.name,
                self._sparse_digest(s, f"{self.shown}: sparse initializer {s.values.name!r}"),
            )
            self._sparse_meta(wid, s)
            doc["sparse_initializers"].append(
                {"id": wid, "dtype": s.values.data_type, "dims": [str(d) for d in s.dims]}
            )
        doc["nodes"] = [self.node(n, names) for n in g.node]
        # value_info only annotates inferred types: documentation, not computation.
        for vi in g.value_info:
            info = self._value_info(vi, names, gid)
            self.meta.append([f"value:{info['id']}.value_info", info["type"]])
        return doc

    def node(self, n: Any, names: _Scope) -> dict[str, Any]:
        nid = f"{names.prefix}n{self.node_count}"
        self.node_count += 1
        _check_fields(n, f"{self.shown} node {n.name or nid!r}")
        if n.name:
            self.meta.append([f"node:{nid}.name", n.name])
        if n.doc_string:
            self.meta.append([f"node:{nid}.doc_string", n.doc_string])
        if len(n.metadata_props):
            self.meta.append([f"node:{nid}.metadata_props", _props(n.metadata_props)])
        domain = "" if n.domain in ("", "ai.onnx") else n.domain
        # Values that are learned parameters go to the weights view: every value attribute
        # of a Constant, and the list-valued attributes of ai.onnx.ml operators
        # (LinearClassifier coefficients, tree thresholds, scaler offsets...).
        if n.op_type == "Constant" and domain == "":
            weight_types = _SCALAR_TYPES
        elif domain == "ai.onnx.ml":
            weight_types = _LIST_TYPES
        else:
            weight_types = frozenset()
        attrs = [
            self.attribute(a, names, f"{nid}.{a.name}", a.type in weight_types)
            for a in sorted(n.attribute, key=lambda a: a.name)
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

    def attribute(self, a: Any, names: _Scope, aid: str, as_weight: bool) -> dict[str, Any]:
        from onnx import AttributeProto as A

        _check_fields(a, f"{self.shown} attribute {aid}")
        if a.doc_string:
            self.meta.append([f"attribute:{aid}.doc_string", a.doc_string])
        doc: dict[str, Any] = {"name": a.name, "type": A.AttributeType.Name(a.type)}
        if a.ref_attr_name:
            doc["ref"] = a.ref_attr_name
            return doc
        where = f"{self.shown}: attribute {aid}"
        t = a.type
        if t == A.TENSOR:
            self._weight(aid, a.t.name or aid, self._tensor_digest(a.t, where))
            self._tensor_meta(aid, a.t)
            doc["value"] = {
                "weight": aid,
                "dtype": a.t.data_type,
                "dims": [str(d) for d in a.t.dims],
            }
        elif t == A.TENSORS:
            refs = []
            for i, x in enumerate(a.tensors):
                wid = f"{aid}.{i}"
                self._weight(wid, x.name or wid, self._tensor_digest(x, where))
                self._tensor_meta(wid, x)
                refs.append({"weight": wid, "dtype": x.data_type, "dims": [str(d) for d in x.dims]})
            doc["value"] = refs
        elif t == A.SPARSE_TENSOR:
            self._weight(aid, aid, self._sparse_digest(a.sparse_tensor, where))
            self._sparse_meta(aid, a.sparse_tensor)
            doc["value"] = {"weight": aid}
        elif t == A.SPARSE_TENSORS:
            doc["value"] = []
            for i, x in enumerate(a.sparse_tensors):
                self._weight(f"{aid}.{i}", f"{aid}.{i}", self._sparse_digest(x, where))
                self._sparse_meta(f"{aid}.{i}", x)
                doc["value"].append({"weight": f"{aid}.{i}"})
        elif t == A.GRAPH:
            doc["value"] = self.graph(a.g, names, aid)
        elif t == A.GRAPHS:
            doc["value"] = [self.graph(g, names, f"{aid}.{i}") for i, g in enumerate(a.graphs)]
        elif t == A.TYPE_PROTO:
            doc["value"] = self._type(a.tp)
        elif t == A.TYPE_PROTOS:
            doc["value"] = [self._type(x) for x in a.type_protos]
        elif t in (A.FLOAT, A.INT, A.STRING, A.FLOATS, A.INTS, A.STRINGS):
            payload = _scalar_attribute_bytes(a)
            if as_weight:
                header = canonical_json({"kind": "attribute", "type": doc["type"]})
                h = hashlib.sha256(struct.pack(">Q", len(header)) + header + payload)
                self._weight(aid, aid, "sha256:" + h.hexdigest())
                doc["value"] = {"weight": aid}
            else:
                doc["value"] = _scalar_attribute_doc(a)
        else:
            raise ModelError(f"{where}: attribute type {doc['type']} is not supported")
        return doc

    def function(self, f: Any, index: int) -> dict[str, Any]:
        _check_fields(f, f"{self.shown} function {f.domain}:{f.name}")
        names = _Scope(f"f{index}.")
        for x in f.input:
            names.ref(x)
        for node in f.node:
            for x in node.input:
                names.ref(x)
            for x in node.output:
                names.ref(x)
        if f.doc_string:
            self.meta.append([f"function:{index}.doc_string", f.doc_string])
        if len(f.metadata_props):
            self.meta.append([f"function:{index}.metadata_props", _props(f.metadata_props)])
        for vi in f.value_info:
            info = self._value_info(vi, names, f"function {index}")
            self.meta.append([f"value:{info['id']}.value_info", info["type"]])
        saved = self.node_count
        self.node_count = 0
        nodes = [self.node(n, names) for n in f.node]
        self.node_count = saved
        defaults = [
            self.attribute(a, names, f"{names.prefix}attr.{a.name}", False)
            for a in sorted(f.attribute_proto, key=lambda a: a.name)
        ]
        self._names_meta(names)
        return {
            "domain": f.domain,
            "name": f.name,
            "overload": f.overload,
            "inputs": [names.ref(x) for x in f.input],
            "outputs": [names.ref(x) for x in f.output],
            "attributes": list(f.attribute),
            "attribute_defaults": defaults,
            "opsets": sorted([o.domain, str(o.version)] for o in f.opset_import),
            "nodes": nodes,
        }


_SCALAR_TYPES = frozenset({1, 2, 3, 6, 7, 8})  # FLOAT, INT, STRING, FLOATS, INTS, STRINGS
_LIST_TYPES = frozenset({6, 7, 8})  # FLOATS, INTS, STRINGS


def _repeated(fd: Any) -> bool:
    repeated = getattr(fd, "is_repeated", None)  # protobuf >= 5.28
    if repeated is None:  # pragma: no cover - older protobuf
        return bool(fd.label == fd.LABEL_REPEATED)
    return bool(repeated)


def _id_key(wid: str) -> tuple[int, str]:
    tail = wid.rsplit("v", 1)[-1]
    return (int(tail), wid) if tail.isdigit() else (1 << 62, wid)


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


def _scan(msg: Any, shown: str, external: list[Any]) -> None:
    """Refuses string fields that are not UTF-8 and collects the tensors with external data.

    Protobuf hands back a proto2 `string` field holding invalid UTF-8 as `bytes`; the walk
    would then fail with a ValueError or TypeError (an internal error) instead of a ModelError.
    """
    from onnx import TensorProto

    for fd, value in msg.ListFields():
        if fd.type == fd.TYPE_MESSAGE:
            for sub in value if _repeated(fd) else (value,):
                _scan(sub, shown, external)
        elif fd.type == fd.TYPE_STRING:
            for text in value if _repeated(fd) else (value,):
                if not isinstance(text, str):
                    raise ModelError(
                        f"{shown}: {type(msg).__name__}.{fd.name} is not valid UTF-8 "
                        "(corrupt model?)"
                    )
    if isinstance(msg, TensorProto) and msg.data_location == TensorProto.EXTERNAL:
        external.append(msg)


def _checker_view(model: Any, external: list[Any], shown: str) -> Any:
    """The model as the ONNX checker should see it: external tensors without their locations.

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
    if not external:
        return model
    view = onnx.ModelProto()
    view.CopyFrom(model)
    stubs: list[Any] = []
    _scan(view, shown, stubs)
    for t in stubs:
        dims = list(t.dims)
        t.ClearField("external_data")
        t.ClearField("data_location")
        del t.dims[:]
        t.dims.extend([0, *dims[1:]] if dims else [0])  # no elements: no data to check
    return view


def parse_model(data: bytes, shown: str) -> Any:
    """Parses ONNX bytes and runs the ONNX checker; any failure is a ModelError."""
    import onnx
    from google.protobuf.message import DecodeError

    if not data:
        raise ModelError(f"{shown}: empty file, not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{shown}: not an ONNX model (protobuf parse failed: {exc})") from None
    if not model.HasField("graph") or not model.ir_version:
        raise ModelError(f"{shown}: not an ONNX model (no graph or IR version)")
    # Fix: fields this onnx release does not know (from a newer release, or corruption) are
    # kept by protobuf as unknown fields, which ListFields() never shows, so they escaped the
    # refusal of unknown fields (docs/SPEC.md section 8) and all three digests.
    size = model.ByteSize()
    model.DiscardUnknownFields()
    if model.ByteSize() != size:
        raise ModelError(
            f"{shown}: uses protobuf fields unknown to onnx {onnx.__version__}, "
            f"which {SCHEME} does not cover"
        )
    external: list[Any] = []
    _scan(model, shown, external)
    view = _checker_view(model, external, shown)
    try:
        onnx.checker.check_model(view)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid model"
        raise ModelError(f"{shown}: fails the ONNX checker: {first}") from None
    except Exception as exc:  # the checker raises plain errors on some corrupt inputs
        raise ModelError(f"{shown}: fails the ONNX checker: {exc}") from None
    return model


def semantic_fingerprint(
    model: Any, shown: str, base_dir: Path
) -> tuple[SemanticFingerprint, set[str]]:
    """The `onnx-semantic/v1` fingerprint of a parsed model, and its external data files."""
    _check_fields(model, shown)
    walk = _Walk(model, shown, base_dir)
    names = _Scope("")
    walk._assign_graph(model.graph, names)
    graph_doc = {
        "scheme": SCHEME,
        "opsets": sorted(
            ["" if o.domain == "ai.onnx" else o.domain, str(o.version)] for o in model.opset_import
        ),
        "graph": walk.graph(model.graph, names, "main"),
        "functions": [
            walk.function(f, i)
            for i, f in enumerate(
                sorted(model.functions, key=lambda f: (f.domain, f.name, f.overload))
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
    fp = SemanticFingerprint(
        graph=_sha(graph_doc),
        weights=_sha(walk.weights),
        metadata=_sha(sorted(walk.meta, key=lambda e: e[0].encode("utf-8"))),
        tensors=tuple(walk.tensors),
    )
    return fp, walk.external_files


def fingerprint_model(path: Path) -> ModelFingerprint:
    """Fingerprints an ONNX model file: bytes first, then parse, check and semantics."""
    shown = str(path)
    name = argument_name(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{shown}: is a folder; --model takes an .onnx file") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot read ({exc.strerror})") from None
    from aichain_audit.fingerprint.hashing import digest_bytes

    file_digest = FileDigest(digest_bytes(data), len(data))
    model = parse_model(data, shown)
    del data
    base_dir = Path(os.path.realpath(path)).parent
    semantic, external = semantic_fingerprint(model, shown, base_dir)
    ext_names = sorted(external)
    jobs = [
        HashJob(
            str(resolve_inside(base_dir, n)), n, os.path.getsize(resolve_inside(base_dir, n)), True
        )
        for n in ext_names
    ]
    results = digest_files(jobs)
    ext: list[tuple[str, FileDigest]] = []
    for n, r in zip(ext_names, results, strict=True):
        if isinstance(r, InputError):
            raise r
        ext.append((n, r))
    return ModelFingerprint(name, file_digest, tuple(ext), semantic)
