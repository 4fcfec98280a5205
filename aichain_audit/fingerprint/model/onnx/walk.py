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
import os
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aichain_audit.canonical import canonical_json
from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint.hashing import FileDigest, Segment, digest_fd, digest_parallel
from aichain_audit.fingerprint.model.interface import SemanticFingerprint, TensorDigest
from aichain_audit.fingerprint.model.onnx import wire
from aichain_audit.fingerprint.model.onnx.external import (
    Digest,
    _ExternalFile,
    _now,
    _Pending,
    _Prefetch,
    _resolved,
    _segment_key,
)
from aichain_audit.fingerprint.model.onnx.framing import _framed, _sha
from aichain_audit.fingerprint.model.onnx.parse import _Lean, _repeated
from aichain_audit.fingerprint.model.onnx.tables import (
    _KNOWN,
    _MAX_DIGITS,
    _NOT_VALUE,
    _SCALAR_TYPES,
    _STRING,
    ATTR_GRAPH,
    ATTR_GRAPHS,
    SCHEME,
    WEIGHT_ATTRIBUTES,
    value_size,
)
from aichain_audit.fingerprint.paths import resolve_inside

_ATTRIBUTE_NAME = re.compile(r"[\x21-\x7e]{1,256}")


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
        self, t: Any, where: str, h: Any, payload: wire.Payload | None = None
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

    def _tensor_digest(self, t: Any, where: str, payload: wire.Payload | None = None) -> Digest:
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
            if a.type in (ATTR_GRAPH, ATTR_GRAPHS) or len(a.graphs) or a.HasField("g"):
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
