"""What a report shows of a safetensors model: read from the headers and config.json only."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from aichain_audit.fingerprint.model.interface import ModelDescription
from aichain_audit.fingerprint.model.safetensors.folder import CONFIG_NAME, list_checkpoint
from aichain_audit.fingerprint.model.safetensors.header import Header, read_header
from aichain_audit.inputfile import fstat_size, open_regular


def _header(path: str, shown: str) -> Header:
    fd = open_regular(path, shown)
    try:
        return read_header(fd, fstat_size(fd, shown), shown)
    finally:
        os.close(fd)


def _architecture(config: Any) -> str:
    if not isinstance(config, dict):
        return ""
    archs = config.get("architectures")
    if isinstance(archs, list) and archs and all(isinstance(a, str) for a in archs):
        return ", ".join(archs)
    kind = config.get("model_type")
    return kind if isinstance(kind, str) else ""


def describe(path: Path, shown: str) -> ModelDescription:
    """Parameters, dtypes and architecture of a single file or a checkpoint folder."""
    from aichain_audit.fingerprint.model.safetensors.fingerprint import (
        _index_shards,
        _read_json,
    )

    config: Any = None
    if os.path.isdir(path):
        ckpt = list_checkpoint(path)
        main = ckpt.path_of(ckpt.main)
        assert main is not None
        names = [ckpt.main]
        if ckpt.main.lower().endswith(".index.json"):
            index, _ = _read_json(main, f"{shown}/{ckpt.main}", "safetensors index")
            names = sorted(set(_index_shards(index, f"{shown}/{ckpt.main}").values()))
        files = [(n, ckpt.path_of(n)) for n in names]
        config_path = ckpt.path_of(CONFIG_NAME)
        if config_path is not None:
            config, _ = _read_json(config_path, f"{shown}/{CONFIG_NAME}", "config.json")
    else:
        files = [(path.name, str(path))]
    headers = [
        _header(p, f"{shown}/{n}" if os.path.isdir(path) else shown)
        for n, p in files
        if p is not None
    ]
    tensors = [t for h in headers for t in h.tensors]
    dtypes = Counter(t.dtype for t in tensors)
    facts: list[tuple[str, str]] = [("weights files", str(len(headers)))]
    if config is not None:
        for key in ("model_type", "torch_dtype", "transformers_version"):
            if isinstance(config.get(key), str):
                facts.append((key, config[key]))
    return ModelDescription(
        format="safetensors",
        architecture=_architecture(config),
        parameters=sum(t.elements for t in tensors),
        dtypes=tuple(sorted(dtypes.items(), key=lambda kv: (-kv[1], kv[0]))),
        facts=tuple(facts),
        tensors=len(tensors),
        tensor_bytes=sum(t.end - t.begin for t in tensors),
    )
