"""The model format registry: every format names a scheme the lineage accepts, and is found
by its own suffixes (so callers can ask the registry instead of testing suffixes)."""

from __future__ import annotations

from pathlib import Path

from aichain_audit.fingerprint.model import (
    FORMATS,
    MODEL_SUFFIXES,
    format_for,
    format_of,
    split_parts,
)
from aichain_audit.lineage import SEMANTIC_SCHEMES


def test_every_registered_format_names_a_scheme_the_lineage_accepts() -> None:
    # an opaque format (scheme None) records no model-semantic leaf
    assert {f.scheme for f in FORMATS if f.scheme is not None} == SEMANTIC_SCHEMES


def test_each_suffix_finds_its_format_in_any_case() -> None:
    for fmt in FORMATS:
        # a suffix a format takes only by the file's first bytes (a pickle's `.bin`) is
        # tested with its format
        for suffix in set(fmt.suffixes) - set(fmt.sniffed):
            # MLflow runs are searched for models with a semantic fingerprint only
            assert (suffix in MODEL_SUFFIXES) == (fmt.scheme is not None)
            assert format_for(Path(f"dir/model{suffix.upper()}")) is fmt


def test_an_unrecognised_name_is_read_as_the_first_format() -> None:
    assert format_for(Path("model.bin")) is None
    assert format_of(Path("model.bin")) is FORMATS[0]


def test_split_parts_names_every_part_of_a_split_gguf_model_by_name_alone() -> None:
    every = ("m-00001-of-00003.gguf", "m-00002-of-00003.gguf", "m-00003-of-00003.gguf")
    assert split_parts("m-00002-of-00003.gguf") == every
    assert split_parts("M-00001-OF-00002.GGUF") == (
        "M-00001-of-00002.GGUF",
        "M-00002-of-00002.GGUF",
    )
    for name in ("m.gguf", "m-00001-of-00001.gguf", "model-00001-of-00002.safetensors"):
        assert split_parts(name) is None  # one file; a safetensors shard is a checkpoint's
