"""The `safetensors-semantic/v1` documents and tensor digests (docs/SPEC.md section 13).

Consensus-critical and free of I/O: what is hashed, and how, never changes within the scheme.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from aichain_audit.canonical import canonical_json
from aichain_audit.fingerprint.model.onnx.framing import _framed, _sha

SCHEME = "safetensors-semantic/v1"
# A tensor's name is its id when a lineage's tensor id may be it (lineage._TENSOR_ID).
_READABLE_ID = re.compile(r"[\x21-\x7e]{1,512}")
FALLBACK_PREFIX = "~sha256:"


def tensor_id(name: str) -> str:
    """The tensor's id in a lineage: its name when that is 1 to 512 printable ASCII characters
    without a space, else `~sha256:` and the hex SHA-256 of the name's UTF-8 bytes."""
    if _READABLE_ID.fullmatch(name):
        return name
    return FALLBACK_PREFIX + hashlib.sha256(name.encode("utf-8")).hexdigest()


def tensor_hasher(dtype: str, shape: Sequence[int]) -> Any:
    """A SHA-256 already fed with the tensor's framing, `u64be(len(H)) || H` with
    `H = JCS({"dtype": dtype, "shape": [decimal strings]})`: its raw bytes follow."""
    return _framed({"dtype": dtype, "shape": [str(d) for d in shape]})


def _utf8(s: str) -> bytes:
    return s.encode("utf-8")


def graph_document(config: Any, tensors: Iterable[tuple[str, str, Sequence[int]]]) -> Any:
    """{"scheme", "config": config.json's value or null, "tensors": [[name, dtype, shape]…]}
    sorted by name."""
    rows = sorted(tensors, key=lambda t: _utf8(t[0]))
    return {
        "scheme": SCHEME,
        "config": config,
        "tensors": [[n, dt, [str(d) for d in shape]] for n, dt, shape in rows],
    }


def weights_document(pairs: Iterable[tuple[str, str]]) -> Any:
    """[[tensor id, tensor digest]…] sorted by id."""
    return [list(p) for p in sorted(pairs, key=lambda p: _utf8(p[0]))]


def metadata_document(index_metadata: Any, headers: Iterable[dict[str, str] | None]) -> Any:
    """{"index": the index's `metadata` or null, "headers": every file's `__metadata__` (null
    when it has none), sorted by their JCS bytes}: not keyed by file name, so renaming a
    single file changes nothing here."""
    return {"index": index_metadata, "headers": sorted(headers, key=canonical_json)}


def digest_of(doc: Any) -> str:
    """`sha256:` + hex(SHA-256(JCS(doc)))."""
    return _sha(doc)
