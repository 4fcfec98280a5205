"""Split GGUF models (`NAME-00001-of-0000N.gguf`, ...) are one model: the first part is the
model file, the others its model-data files; splitting keeps graph, weights and metadata."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint.interface import ModelFingerprinter
from aichain_audit.fingerprint.model.gguf import GgufFormat
from aichain_audit.lineage import derive_subject
from tests.fingerprint.gguf.build import (
    F32,
    INT32,
    UINT16,
    Gguf,
    Tensor,
    f32,
    kv_int,
    kv_str,
    tiny,
    write_with_gguf,
)

TENSORS = [
    ("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4)),
    ("blk.0.ffn_up.weight", np.arange(8, dtype=np.float16).reshape(2, 4)),
    ("output_norm.weight", np.ones(4, dtype=np.float32)),
]


def split_model(folder: Path, per_part: int = 1) -> Path:
    """The TENSORS model split by gguf-py's writer; returns its first part."""
    folder.mkdir(exist_ok=True)
    write_with_gguf(folder / "m.gguf", tensors=TENSORS, split_max_tensors=per_part)
    count = -(-len(TENSORS) // per_part)
    return folder / f"m-00001-of-{count:05d}.gguf"


def test_a_split_model_has_the_semantics_of_the_same_model_in_one_file(tmp_path: Path) -> None:
    whole = GgufFormat().fingerprint(write_with_gguf(tmp_path / "m.gguf", tensors=TENSORS))
    first = split_model(tmp_path / "split")
    split = GgufFormat().fingerprint(first)
    assert split.semantic == whole.semantic  # graph, weights, metadata and every tensor
    assert split.name == "m-00001-of-00003.gguf" and split.file != whole.file
    assert [n for n, _ in split.external] == ["m-00002-of-00003.gguf", "m-00003-of-00003.gguf"]
    assert GgufFormat().data_files(first) == ("m-00002-of-00003.gguf", "m-00003-of-00003.gguf")


def test_resplitting_keeps_graph_and_weights(tmp_path: Path) -> None:
    a = GgufFormat().fingerprint(split_model(tmp_path / "one", per_part=1))
    b = GgufFormat().fingerprint(split_model(tmp_path / "two", per_part=2))
    assert a.semantic == b.semantic and len(a.external) == 2 and len(b.external) == 1


def test_the_lineage_holds_every_part_and_the_subject_covers_them(tmp_path: Path) -> None:
    first = split_model(tmp_path / "s")
    leaves = ModelFingerprinter().fingerprint([first]).leaves
    data = sorted(leaf["path"] for leaf in leaves if leaf["kind"] == "model-data")
    assert data == ["m-00002-of-00003.gguf", "m-00003-of-00003.gguf"]
    assert derive_subject(leaves).startswith("sha256-modelset:")
    fmt = GgufFormat()
    for leaf in leaves:
        if leaf["kind"] == "model-data":
            got = fmt.digest_data_file(first.parent, leaf["path"], leaf["path"])
            assert (got.digest, got.size) == (leaf["digest"], leaf["size"])


def test_naming_a_later_part_is_refused_with_the_first_parts_name(tmp_path: Path) -> None:
    split_model(tmp_path / "s")
    with pytest.raises(InputError, match=r"part 2 of 3 .* name its first part, m-00001-of-00003"):
        GgufFormat().fingerprint(tmp_path / "s" / "m-00002-of-00003.gguf")


def test_a_missing_part_is_refused(tmp_path: Path) -> None:
    first = split_model(tmp_path / "s")
    os.unlink(first.parent / "m-00003-of-00003.gguf")
    with pytest.raises(InputError, match=r"m-00003-of-00003\.gguf: no such file"):
        GgufFormat().fingerprint(first)


def test_a_first_part_under_another_name_is_refused(tmp_path: Path) -> None:
    first = split_model(tmp_path / "s")
    os.rename(first, first.parent / "model.gguf")
    with pytest.raises(ModelError, match="part 1 of 3 of a split GGUF model"):
        GgufFormat().fingerprint(first.parent / "model.gguf")


def test_a_single_file_named_as_a_part_is_refused(tmp_path: Path) -> None:
    path = tiny().write(tmp_path / "m-00001-of-00002.gguf")
    with pytest.raises(ModelError, match=r"no split\.count above 1"):
        GgufFormat().fingerprint(path)


def part(no: int, count: int, total: int, *tensors: Tensor, keys: bool = False) -> Gguf:
    split = [kv_int("split.no", UINT16, no), kv_int("split.count", UINT16, count),
             kv_int("split.tensors.count", INT32, total)]  # fmt: skip
    return Gguf([*(tiny().kvs if keys else []), *split], list(tensors))


A = Tensor("a", (1,), F32, f32(1))
B = Tensor("b", (1,), F32, f32(2))


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (part(0, 2, 2, B), "has split.no 0, split.count 2, split.tensors.count 2, not split.no 1"),
        (part(1, 3, 2, B), "split.count 3"),
        (part(1, 2, 3, B), "split.tensors.count 3"),
        (part(1, 2, 2, A), "the tensor 'a' is also in m-00001-of-00002.gguf"),
        (part(1, 2, 2, B, keys=True), "the key 'general.architecture' is also in"),
        (part(1, 2, 2), "the parts hold 1 tensors, split.tensors.count says 2"),
        (Gguf([kv_str("general.name", "x")], [B]), "has no split keys"),
    ],
)
def test_parts_that_disagree_are_refused(tmp_path: Path, second: Gguf, expected: str) -> None:
    part(0, 2, 2, A, keys=True).write(tmp_path / "m-00001-of-00002.gguf")
    second.write(tmp_path / "m-00002-of-00002.gguf")
    with pytest.raises(ModelError) as err:
        GgufFormat().fingerprint(tmp_path / "m-00001-of-00002.gguf")
    assert expected in err.value.message


def test_a_part_outside_the_folder_through_a_link_is_refused(tmp_path: Path) -> None:
    first = split_model(tmp_path / "s", per_part=2)
    outside = tmp_path / "elsewhere.gguf"
    os.rename(first.parent / "m-00002-of-00002.gguf", outside)
    os.symlink(outside, first.parent / "m-00002-of-00002.gguf")
    with pytest.raises(InputError, match="escapes its base folder"):
        GgufFormat().fingerprint(first)
