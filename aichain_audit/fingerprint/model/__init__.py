"""Model formats: one package per format behind `interface.ModelFormat`, and this registry.

Callers ask the registry (`format_for`, `format_of`, `MODEL_SUFFIXES`) instead of testing
suffixes. Adding a format is one package implementing `ModelFormat`, one entry in `FORMATS`,
and one scheme in docs/SPEC.md (and `lineage.SEMANTIC_SCHEMES`). Nothing here imports a
format's parser (start-up, P8).
"""

from __future__ import annotations

import os
from pathlib import Path

from aichain_audit.errors import InputError
from aichain_audit.fingerprint.model.gguf import GgufFormat
from aichain_audit.fingerprint.model.interface import (
    ModelDescription,
    ModelFingerprint,
    ModelFormat,
    SemanticFingerprint,
    TensorDigest,
)
from aichain_audit.fingerprint.model.onnx import OnnxFormat
from aichain_audit.fingerprint.model.opaque import PickleFormat
from aichain_audit.fingerprint.model.safetensors import SafetensorsFile, SafetensorsFolder

__all__ = [
    "FOLDER_MARKERS",
    "FOLDER_SCHEMES",
    "FORMATS",
    "MODEL_SUFFIXES",
    "ModelDescription",
    "ModelFingerprint",
    "ModelFormat",
    "SemanticFingerprint",
    "TensorDigest",
    "folder_format",
    "format_for",
    "format_of",
    "split_parts",
]

# The first is the format a path no format recognises is read as (an ONNX file named
# `model.bin` has always been fingerprinted as ONNX).
FORMATS: tuple[ModelFormat, ...] = (
    OnnxFormat(),
    PickleFormat(),  # opaque: bytes only, never unpickled
    # safetensors (docs/SPEC.md section 13): a file, and a checkpoint folder
    SafetensorsFile(),
    SafetensorsFolder(),
    # GGUF (docs/SPEC.md section 14)
    GgufFormat(),
)
# The models a run's artifacts are searched for (MLflow: `tracking.client.model_paths`):
# model files by name, and checkpoint folders by the names a folder format's `markers` give
# the files that mark one. Formats with a semantic fingerprint only: a pickle is never taken
# from a run unasked (MLflow's pytorch flavour logs one beside the model a run exports, which
# would make every such run ambiguous).
MODEL_SUFFIXES: tuple[str, ...] = tuple(
    s for f in FORMATS if f.scheme is not None and not f.folders for s in f.suffixes
)
FOLDER_MARKERS: tuple[str, ...] = tuple(
    s for f in FORMATS if f.scheme is not None and f.folders for s in f.markers
)
# The schemes of folder models, whose model-data names are relative to the folder itself.
FOLDER_SCHEMES: frozenset[str] = frozenset(
    f.scheme for f in FORMATS if f.folders and f.scheme is not None
)


def split_parts(name: str) -> tuple[str, ...] | None:
    """The names of every part of the split model a file named `name` is a part of, first
    part first (`ModelFormat.parts`: GGUF's, SPEC 14.5), by name alone; None when `name` is no
    part of one. MLflow discovery (`tracking.client.model_paths`) takes them as one model."""
    low = name.lower()
    for f in FORMATS:
        if f.scheme is not None and not f.folders and low.endswith(f.suffixes):
            found = f.parts(name)
            if found is not None:
                return found
    return None


def format_for(path: Path) -> ModelFormat | None:
    """The format that recognises `path` (a file by its name, a folder by its top level), or
    None."""
    folder = os.path.isdir(path)
    return next((f for f in FORMATS if f.folders == folder and f.recognises(path)), None)


def format_of(path: Path) -> ModelFormat:
    """The format a model at `path` is read as: the one that recognises it, else (a file) the
    first; a folder no format reads is an `InputError`."""
    found = format_for(path)
    if found is not None:
        return found
    if os.path.isdir(path):
        readers = [f.name for f in FORMATS if f.folders]
        raise InputError(
            f"{path}: a folder, and no model format reads it"
            + (f" (a folder model is a {' or '.join(readers)})" if readers else "")
        )
    return FORMATS[0]


def folder_format(scheme: str) -> ModelFormat | None:
    """The folder format of a semantic scheme (a lineage's), or None."""
    return next((f for f in FORMATS if f.folders and f.scheme == scheme), None)
