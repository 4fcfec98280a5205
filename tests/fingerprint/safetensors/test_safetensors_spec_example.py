"""docs/SPEC.md 13.5, the worked example: its files built byte by byte from the SPEC's text,
their documents recomputed by a small implementation of 13.3 and 13.4 written from the SPEC
(JCS by the `rfc8785` package), and both checked against the digests the SPEC states and
against the product."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import rfc8785

from aichain_audit.fingerprint.interface import ModelFingerprinter
from aichain_audit.fingerprint.model import format_of
from aichain_audit.lineage import LineageManifest

W = bytes.fromhex("0000803f00000040")
SINGLE_HEADER = (
    b'{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
    b'"b":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}}'
)
SHARD1 = b'{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
SHARD2 = b'{"__metadata__":{"format":"pt"},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
INDEX = (
    b'{"metadata": {"total_size": 9}, "weight_map": {"b": "model-00002-of-00002.safetensors", '
    b'"w": "model-00001-of-00002.safetensors"}}\n'
)
SPEC = {
    "file": "sha256:44592296334dfe3bcc48c7ef9d70c3bd628dca1c5dab02c41e95f9c7ad229c66",
    "b": "sha256:ed6ac0c53383df1f073fc201ec625df792e993dead94c7b846b912ddfc0bf79c",
    "w": "sha256:babebf3b29d2c1a79dc7c7be08daa01142b6c76faa210b5718fd3365e423b219",
    "graph": "sha256:713766e396c05ccaee6b537b545bdd9065abe484fac5c05598b284c1705d8194",
    "weights": "sha256:5da4fd21812a203ca57bec8ddd5c01adfac0ee10770d217191ca2a37161776b7",
    "metadata": "sha256:1584483bf08a972c702744590ba73de59515ae0aaf8497c5bf085564eeb2ccd7",
    "index": "sha256:259053b9e13de5fd11895a7602375bdb87f297f6655e4413eb8fa265d3842906",
    "folder graph": "sha256:b8fb926c8cbebb538c673f32821213dc1f6a33ea36bfd3584bdf4879da3a2132",
    "folder metadata": "sha256:619cfdd857e8c29cf4027510de4748ca3fe44e75ffc76212518f6a814b13adb5",
    "subject": "sha256-modelset:70d6f26d927b43c8310e3d15d66689cae67e8be84ade4da158c8a29105bd8459",
    "root": "3dfb5f7b0a1992983ee8670f6293c5463b0ad684398bb27b0596150c6d89a200",
}


def padded(header: bytes, size: int) -> bytes:
    assert len(header) <= size
    return struct.pack("<Q", size) + header + b" " * (size - len(header))


def sha(doc: Any) -> str:
    return "sha256:" + hashlib.sha256(rfc8785.dumps(doc)).hexdigest()


def tensors_of(
    data: bytes,
) -> tuple[dict[str, Any] | None, list[tuple[str, str, list[int], bytes]]]:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", None)
    body = data[8 + n :]
    out = [(k, v["dtype"], v["shape"], body[v["data_offsets"][0] : v["data_offsets"][1]])
           for k, v in header.items()]  # fmt: skip
    return meta, out


def tensor_digest(dtype: str, shape: list[int], raw: bytes) -> str:
    h = rfc8785.dumps({"dtype": dtype, "shape": [str(d) for d in shape]})
    return "sha256:" + hashlib.sha256(struct.pack(">Q", len(h)) + h + raw).hexdigest()


def documents(files: list[bytes], config: Any, index_meta: Any) -> dict[str, str]:
    metas, tensors = [], []
    for data in files:
        meta, ts = tensors_of(data)
        metas.append(meta)
        tensors.extend(ts)
    tensors.sort(key=lambda t: t[0].encode())
    return {
        "graph": sha({"scheme": "safetensors-semantic/v1", "config": config,
                      "tensors": [[n, d, [str(x) for x in s]] for n, d, s, _ in tensors]}),
        "weights": sha([[n, tensor_digest(d, s, r)] for n, d, s, r in tensors]),
        "metadata": sha({"index": index_meta, "headers": sorted(metas, key=rfc8785.dumps)}),
    }  # fmt: skip


def test_the_single_file_example(tmp_path: Path) -> None:
    data = padded(SINGLE_HEADER, 144) + W + b"\x07"
    assert len(data) == 161 and len(SINGLE_HEADER) == 137
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    assert "sha256:" + hashlib.sha256(data).hexdigest() == SPEC["file"]
    assert tensor_digest("U8", [1], b"\x07") == SPEC["b"]
    assert tensor_digest("F32", [2], W) == SPEC["w"]
    docs = documents([data], None, None)
    assert docs == {p: SPEC[p] for p in ("graph", "weights", "metadata")}
    fp = format_of(path).fingerprint(path)
    assert fp.file.digest == SPEC["file"] and fp.semantic is not None
    assert (fp.semantic.graph, fp.semantic.weights, fp.semantic.metadata) == tuple(docs.values())
    assert {t.id: t.digest for t in fp.semantic.tensors} == {"b": SPEC["b"], "w": SPEC["w"]}


def test_the_two_shard_folder_example(tmp_path: Path) -> None:
    ckpt = tmp_path / "any-name"
    ckpt.mkdir()
    shard1, shard2 = padded(SHARD1, 88) + W, padded(SHARD2, 88) + b"\x07"
    assert (len(shard1), len(shard2), len(INDEX)) == (104, 97, 130)
    (ckpt / "config.json").write_bytes(b'{"model_type": "tiny", "hidden_size": 2}\n')
    (ckpt / "model-00001-of-00002.safetensors").write_bytes(shard1)
    (ckpt / "model-00002-of-00002.safetensors").write_bytes(shard2)
    (ckpt / "model.safetensors.index.json").write_bytes(INDEX)
    assert "sha256:" + hashlib.sha256(INDEX).hexdigest() == SPEC["index"]
    docs = documents([shard1, shard2], {"model_type": "tiny", "hidden_size": 2}, {"total_size": 9})
    assert docs == {"graph": SPEC["folder graph"], "weights": SPEC["weights"],
                    "metadata": SPEC["folder metadata"]}  # fmt: skip
    fingerprinted = ModelFingerprinter().fingerprint([ckpt])
    fp = fingerprinted.model
    assert fp is not None and fp.semantic is not None
    assert (fp.name, fp.file.digest) == ("model.safetensors.index.json", SPEC["index"])
    assert (fp.semantic.graph, fp.semantic.weights, fp.semantic.metadata) == tuple(docs.values())
    manifest = LineageManifest.build(fingerprinted.leaves)
    assert (manifest.subject, manifest.root_hex) == (SPEC["subject"], SPEC["root"])
