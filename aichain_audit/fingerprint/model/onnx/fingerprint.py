"""`fingerprint_model`: an ONNX file's digest and its `onnx-semantic/v1` fingerprint, from one
read of the model file and one of each external data file.
"""

from __future__ import annotations

import os
from pathlib import Path

from aichain_audit.fingerprint.hashing import FileDigest, digest_bytes
from aichain_audit.fingerprint.model.interface import ModelFingerprint
from aichain_audit.fingerprint.model.onnx import wire
from aichain_audit.fingerprint.model.onnx.external import _Prefetch
from aichain_audit.fingerprint.model.onnx.parse import _parse_lean, parse_model
from aichain_audit.fingerprint.model.onnx.tables import MODEL_LIMIT
from aichain_audit.fingerprint.model.onnx.walk import _semantic, _utf8
from aichain_audit.fingerprint.paths import argument_name, model_folder
from aichain_audit.inputfile import fstat_size, open_regular, read_fd, refuse_larger

_LEAN_SHARE = 0.5  # the least part of the file its large raw_data must be for `_parse_lean`


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
        scan = wire.scan(wire.FileWindows(fd, size))
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
