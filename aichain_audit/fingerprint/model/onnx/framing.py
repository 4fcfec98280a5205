"""The two hashes every `onnx-semantic/v1` digest is made of (docs/SPEC.md section 8):
SHA-256 of an RFC 8785 document, and a framed SHA-256 over a header and raw bytes.
Consensus-critical: they never change within the scheme.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from aichain_audit.canonical import canonical_json


def _sha(doc: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(doc)).hexdigest()


def _framed(header: Any, *payload: bytes) -> hashlib._Hash:
    """SHA-256 over u64be(len(H)) || H || payload, H the JCS of `header`."""
    h = canonical_json(header)
    out = hashlib.sha256(struct.pack(">Q", len(h)) + h)
    for part in payload:
        out.update(part)
    return out
