"""Hostile safetensors headers and index files: each a one-line ModelError or InputError
(exit 2) before any tensor byte is read; the reference library refuses them too where it
checks the same thing."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from safetensors import deserialize

from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint.model import format_of
from aichain_audit.fingerprint.model.safetensors.fingerprint import fingerprint_file
from aichain_audit.fingerprint.model.safetensors.header import MAX_HEADER
from tests.fingerprint.safetensors.st import raw_file, write


def entry(dtype: str = "U8", shape: Any = (2,), offsets: Any = (0, 2)) -> dict[str, Any]:
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


HOSTILE: dict[str, bytes] = {
    "shorter than 8 bytes": b"\x01\x00",
    "header length past the file": raw_file({"t": entry()}, b"\0\0", length=1 << 20),
    "header larger than 100 MB": struct.pack("<Q", MAX_HEADER + 1) + b"{}",
    "header length near 2**64": struct.pack("<Q", (1 << 64) - 1) + b"{}",
    "not starting with {": raw_file(b' {"t":' + json.dumps(entry()).encode() + b"}", b"\0\0"),
    "not UTF-8": raw_file(b'{"\xff":' + json.dumps(entry()).encode() + b"}", b"\0\0"),
    "not JSON": raw_file(b'{"t":', b""),
    "a duplicate tensor name": raw_file(
        b'{"t":' + json.dumps(entry()).encode() + b',"t":' + json.dumps(entry()).encode() + b"}",
        b"\0\0",
    ),
    "NaN": raw_file(b'{"__metadata__":{"a":NaN}}'),
    "an unknown dtype": raw_file({"t": entry("F128")}, b"\0\0"),
    "a negative dimension": raw_file({"t": entry(shape=(-2,))}, b"\0\0"),
    "a fractional dimension": raw_file({"t": entry(shape=(2.0,))}, b"\0\0"),
    "a boolean dimension": raw_file({"t": entry(shape=(True, 2))}, b"\0\0"),
    "a dimension past 2**64": raw_file({"t": entry(shape=(1 << 64,))}, b"\0\0"),
    "a shape whose bytes overflow": raw_file({"t": entry(shape=(1 << 63, 1 << 63))}, b"\0\0"),
    "too few bytes for the shape": raw_file({"t": entry(shape=(3,))}, b"\0\0"),
    "too many bytes for the shape": raw_file({"t": entry(shape=(1,))}, b"\0\0"),
    "F4 bytes not ceil(4 x n / 8)": raw_file({"t": entry("F4", (5,), (0, 2))}, b"\0\0"),
    "a gap before the first tensor": raw_file({"t": entry(offsets=(1, 3))}, b"\0\0\0"),
    "a gap between tensors": raw_file(
        {"a": entry(offsets=(0, 2)), "b": entry(offsets=(3, 5))}, b"\0" * 5
    ),
    "overlapping tensors": raw_file(
        {"a": entry(offsets=(0, 2)), "b": entry(offsets=(1, 3))}, b"\0" * 3
    ),
    "offsets past the data": raw_file({"t": entry(offsets=(0, 2))}, b"\0"),
    "data after the last tensor": raw_file({"t": entry()}, b"\0\0\0"),
    "reversed offsets": raw_file({"t": entry(offsets=(2, 0))}, b"\0\0"),
    "three offsets": raw_file({"t": entry(offsets=(0, 1, 2))}, b"\0\0"),
    "an unknown member": raw_file({"t": {**entry(), "x": 1}}, b"\0\0"),
    "a missing member": raw_file({"t": {"dtype": "U8", "shape": [2]}}, b"\0\0"),
    "metadata not a map": raw_file({"__metadata__": ["a"]}),
    "metadata of a number": raw_file({"__metadata__": {"a": 1}}),
    "a lone surrogate in a name": raw_file(
        b'{"\\ud800":' + json.dumps(entry()).encode() + b"}", b"\0\0"
    ),
}

# Where the reference reader is more lenient than SPEC 13.1 (it ignores unknown members, and
# reads a header starting with white space); everywhere else it refuses as well.
REFERENCE_ACCEPTS = {
    "an unknown member",
    "not starting with {",
    "a lone surrogate in a name",
    "a duplicate tensor name",  # serde keeps the last
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_header_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(HOSTILE[case])
    with pytest.raises(ModelError) as err:
        fingerprint_file(path)
    assert "\n" not in err.value.message and str(path) in err.value.message
    if case not in REFERENCE_ACCEPTS and case != "F4 bytes not ceil(4 x n / 8)":
        with pytest.raises(Exception):  # noqa: B017 - the reference's own error types vary
            deserialize(HOSTILE[case])


def test_a_header_is_read_without_reading_the_tensors(tmp_path: Path) -> None:
    """A bounded read: a header claiming 100 MB in a small file is refused from its length."""
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", MAX_HEADER) + b"{")
    with pytest.raises(ModelError, match="runs past the end"):
        fingerprint_file(path)


def test_too_many_tensors_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aichain_audit.fingerprint.model.safetensors import header

    monkeypatch.setattr(header, "MAX_TENSORS", 3)
    path = write(tmp_path / "m.safetensors", [(f"t{i}", "U8", [1], b"\0") for i in range(4)])
    with pytest.raises(ModelError, match="more than the 3 allowed"):
        fingerprint_file(path)


def test_metadata_null_is_read_as_no_metadata(tmp_path: Path) -> None:
    a = tmp_path / "a.safetensors"
    a.write_bytes(raw_file({"__metadata__": None, "t": entry()}, b"\0\0"))
    b = write(tmp_path / "b.safetensors", [("t", "U8", [2], b"\0\0")])
    sa, sb = fingerprint_file(a).semantic, fingerprint_file(b).semantic
    assert sa == sb


def _sharded(root: Path, weight_map: dict[str, str], extra: dict[str, Any] | None = None) -> Path:
    root.mkdir()
    write(root / "a.safetensors", [("x", "U8", [1], b"\1")])
    write(root / "b.safetensors", [("y", "U8", [1], b"\2")])
    doc: dict[str, Any] = {"metadata": {}, "weight_map": weight_map, **(extra or {})}
    (root / "model.safetensors.index.json").write_text(json.dumps(doc))
    return root


@pytest.mark.parametrize(
    ("weight_map", "extra", "message"),
    [
        ({"x": "a.safetensors", "q": "b.safetensors"}, None,
         "'y' of b.safetensors is not in the index"),
        ({"x": "a.safetensors", "y": "b.safetensors", "z": "b.safetensors"}, None,
         "maps tensor 'z' to b.safetensors, which does not hold it"),
        ({"x": "a.safetensors", "y": "c.safetensors"}, None, "which the folder does not hold"),
        ({"x": "a.safetensors", "y": "../b.safetensors"}, None, "not a relative path inside"),
        ({"x": "a.safetensors", "y": "/tmp/b.safetensors"}, None, "not a relative path inside"),
        ({"x": "a.safetensors", "y": "sub\\b.safetensors"}, None, "not a relative path inside"),
        ({"x": "a.safetensors", "y": "./b.safetensors"}, None, "not a relative path inside"),
        ({"x": "a.safetensors", "y": 3}, None, "not a string"),
        ({"x": "a.safetensors", "y": "b.safetensors"}, {"extra": 1}, "unknown member 'extra'"),
    ],
)  # fmt: skip
def test_an_index_that_does_not_agree_with_its_shards_is_refused(
    tmp_path: Path, weight_map: dict[str, str], extra: dict[str, Any] | None, message: str
) -> None:
    root = _sharded(tmp_path / "ckpt", weight_map, extra)
    with pytest.raises(InputError) as err:
        format_of(root).fingerprint(root)
    assert message in err.value.message and "\n" not in err.value.message


def test_a_tensor_in_two_shards_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ckpt"
    root.mkdir()
    write(root / "a.safetensors", [("x", "U8", [1], b"\1")])
    write(root / "b.safetensors", [("x", "U8", [1], b"\1")])
    (root / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}})
    )
    with pytest.raises(ModelError, match=r"'x' is in both a\.safetensors and b\.safetensors"):
        format_of(root).fingerprint(root)


def test_a_config_json_that_is_not_strict_json_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ckpt"
    root.mkdir()
    write(root / "model.safetensors", [("x", "U8", [1], b"\1")])
    (root / "config.json").write_text('{"a": 1, "a": 2}')
    with pytest.raises(ModelError, match=r"config\.json.*duplicate key"):
        format_of(root).fingerprint(root)
