"""External data files read before the model is parsed (`onnx.external._Prefetch`, guessed from the
wire format) give exactly the fingerprint, or the error, that reading them after the parse
gives; and `hashing.digest_parallel` gives `digest_fd`'s digests."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint import hashing
from aichain_audit.fingerprint.hashing import Segment, digest_fd, digest_parallel
from aichain_audit.fingerprint.model import ModelFingerprint
from aichain_audit.fingerprint.model.onnx import fingerprint as onnx_fingerprint
from aichain_audit.fingerprint.model.onnx.fingerprint import fingerprint_model


def _outcome(path: Path) -> ModelFingerprint | str:
    try:
        return fingerprint_model(path)
    except (ModelError, InputError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _both(path: Path) -> tuple[ModelFingerprint | str, ModelFingerprint | str, bool]:
    """Without the prefetch, with it (for files of any size), and whether it read a file."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(onnx_fingerprint._Prefetch, "MIN_SIZE", 1 << 40)
        after = _outcome(path)
        mp.setattr(onnx_fingerprint._Prefetch, "MIN_SIZE", 0)
        used: list[bool] = []
        real = onnx_fingerprint._Prefetch.result

        def spy(self: Any, location: str) -> Any:
            used.append(True)
            return real(self, location)

        mp.setattr(onnx_fingerprint._Prefetch, "result", spy)
        before = _outcome(path)
    return after, before, bool(used)


def _external(
    name: str, dims: list[int], location: str, offset: int | None, length: int | None
) -> TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value=location)
    if offset is not None:
        t.external_data.add(key="offset", value=str(offset))
    if length is not None:
        t.external_data.add(key="length", value=str(length))
    return t


@st.composite
def _layouts(draw: st.DrawFn) -> dict[str, Any]:
    """1-4 float tensors in 1-2 data files; the last one of a file with or without a length,
    one length perhaps wrong, some tensors unused (read before the others), a file perhaps
    missing or shorter."""
    files = draw(st.sampled_from([["a.bin"], ["a.bin", "b.bin"]]))
    tensors = []
    for k in range(draw(st.integers(1, 4))):
        elements = draw(st.integers(1, 64))
        tensors.append(
            {
                "name": f"W{k}",
                "elements": elements,
                "file": draw(st.sampled_from(files)),
                "give_offset": draw(st.booleans()),
                "give_length": draw(st.booleans()),
                "used": draw(st.booleans()),
            }
        )
    return {
        "files": files,
        "tensors": tensors,
        "flaw": draw(st.sampled_from(["none", "wrong length", "missing file", "short file"])),
    }


def _write(folder: Path, layout: dict[str, Any]) -> Path:
    offsets = dict.fromkeys(layout["files"], 0)
    inits, nodes, outputs = [], [], []
    for spec in layout["tensors"]:
        size = spec["elements"] * 4
        at = offsets[spec["file"]]
        offsets[spec["file"]] += size
        last = spec is [t for t in layout["tensors"] if t["file"] == spec["file"]][-1]
        # Without a length a tensor runs to the end of its file: only the last one may.
        length = None if last and not spec["give_length"] else size
        t = _external(
            spec["name"],
            [spec["elements"]],
            spec["file"],
            at if spec["give_offset"] or at else None,
            length,
        )
        inits.append(t)
        if spec["used"]:
            nodes.append(helper.make_node("Identity", [spec["name"]], [spec["name"] + "y"]))
            outputs.append(
                helper.make_tensor_value_info(
                    spec["name"] + "y", TensorProto.FLOAT, [spec["elements"]]
                )
            )
    for name, size in offsets.items():
        (folder / name).write_bytes(os.urandom(size))
    if layout["flaw"] == "wrong length":
        entries = {e.key: e for e in inits[0].external_data}
        if "length" in entries:
            entries["length"].value = str(int(entries["length"].value) + 4)
        else:
            inits[0].external_data.add(key="length", value=str(inits[0].dims[0] * 4 + 4))
    elif layout["flaw"] == "missing file":
        (folder / layout["tensors"][-1]["file"]).unlink()
    elif layout["flaw"] == "short file":
        first = layout["tensors"][0]["file"]
        os.truncate(folder / first, offsets[first] - 4)
    graph = helper.make_graph(nodes, "g", [], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(layout=_layouts())
def test_prefetched_external_data_gives_the_fingerprint_or_error_read_after_the_parse(
    tmp_path_factory: pytest.TempPathFactory, layout: dict[str, Any]
) -> None:
    folder = tmp_path_factory.mktemp("ext")
    path = _write(folder, layout)
    after, before, used = _both(path)
    assert before == after
    if layout["flaw"] == "none":
        assert isinstance(after, ModelFingerprint)
        assert used, "the prefetch must have read the data files"
    if layout["flaw"] == "short file":
        assert isinstance(after, str)


def test_a_guess_that_the_parse_contradicts_costs_no_digest(tmp_path: Path) -> None:
    """Two locations naming one file, and one range under three tensor headers: each tensor is
    hashed under the header the parsed model gives it."""
    (tmp_path / "w.bin").write_bytes(os.urandom(64))
    os.link(tmp_path / "w.bin", tmp_path / "same.bin")
    inits = [
        _external("A", [16], "w.bin", None, 64),
        _external("B", [4, 4], "same.bin", 0, 64),  # same bytes, another location and header
        _external("C", [2, 8], "w.bin", 0, None),
    ]
    graph = helper.make_graph([], "g", [], [], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    after, before, used = _both(path)
    assert used and before == after
    assert isinstance(after, ModelFingerprint)
    assert len({t.digest for t in after.semantic.tensors}) == 3  # three headers, one payload


def test_a_refused_model_leaves_no_prefetch_thread_or_open_file(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(os.urandom(1 << 20))
    graph = helper.make_graph(
        [helper.make_node("NoSuchOp", ["W"], ["Y"])],
        "g",
        [],
        [],
        [_external("W", [1 << 18], "w.bin", None, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    fds_before = set(os.listdir("/proc/self/fd"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(onnx_fingerprint._Prefetch, "MIN_SIZE", 0)
        with pytest.raises(ModelError, match="checker"):
            fingerprint_model(path)
    assert not [t for t in threading.enumerate() if t.name.startswith("aichain-")]
    assert set(os.listdir("/proc/self/fd")) <= fds_before


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 300),
    raw_spans=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), max_size=6),
    workers=st.integers(1, 3),
)
def test_parallel_reads_give_the_digests_of_one_read(
    tmp_path_factory: pytest.TempPathFactory,
    size: int,
    raw_spans: list[tuple[int, int]],
    workers: int,
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hashing, "SHARD_SIZE", 64)
        mp.setattr(hashing, "_CHUNK", 16)  # digest_fd's blocks must not cross shards
        mp.setattr(hashing, "_PARALLEL_BLOCK", 16)
        path = tmp_path_factory.mktemp("par") / "weights.bin"
        path.write_bytes(os.urandom(size))
        spans = [(min(o, size), min(c, size - min(o, size))) for o, c in raw_spans]
        fd = os.open(path, os.O_RDONLY)
        try:
            one = [Segment(o, c, hashlib.sha256(b"H")) for o, c in spans]
            two = [Segment(o, c, hashlib.sha256(b"H")) for o, c in spans]
            assert digest_parallel(fd, size, "w", two, workers=workers) == digest_fd(
                fd, size, "w", one
            )
            assert [s.hasher.digest() for s in two] == [s.hasher.digest() for s in one]
        finally:
            os.close(fd)


class _Meddler:
    """A hasher that writes to the file it is hashing the first time it is fed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inner = hashlib.sha256()

    def update(self, data: Any) -> None:
        if self.path.exists():
            with open(self.path, "r+b") as f:
                f.write(b"!")
            self.path = self.path.with_suffix(".done")
        self.inner.update(data)


def test_a_file_written_while_read_in_parallel_is_refused(
    tmp_path: Path, small_shards: None
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(200))
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(InputError, match="changed while being hashed"):
            digest_parallel(fd, 200, "weights.bin", [Segment(10, 50, _Meddler(path))])
        with pytest.raises(InputError, match="changed size"):
            digest_parallel(fd, 201, "weights.bin")
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("size", "spans"),
    [
        (50, [(0, 50)]),  # one piece, held whole by a segment
        (50, [(0, 50), (0, 50), (10, 5)]),  # held by the first only
        (256, [(0, 64), (64, 128), (192, 64)]),  # shards held whole, segments aligned
        (250, [(0, 130), (130, 120)]),  # shards straddled, the last short one held
        (256, [(1, 254)]),  # no shard whole inside
    ],
)
def test_pieces_held_by_segments_are_hashed_from_their_blocks(
    tmp_path: Path, small_shards: None, size: int, spans: list[tuple[int, int]]
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(size))
    fd = os.open(path, os.O_RDONLY)
    try:
        one = [Segment(o, c, hashlib.sha256(b"H")) for o, c in spans]
        two = [Segment(o, c, hashlib.sha256(b"H")) for o, c in spans]
        assert digest_parallel(fd, size, "w", two) == digest_fd(fd, size, "w", one)
        assert [s.hasher.digest() for s in two] == [s.hasher.digest() for s in one]
    finally:
        os.close(fd)


def test_a_model_with_large_raw_weights_and_external_data_takes_both_fast_paths(
    tmp_path: Path,
) -> None:
    from aichain_audit.fingerprint.model.onnx import wire as onnx_wire

    (tmp_path / "w.bin").write_bytes(os.urandom(4096))
    raw = TensorProto(name="R", data_type=TensorProto.INT8, dims=[100_000])
    raw.raw_data = os.urandom(100_000)
    inits = [raw, _external("E", [1024], "w.bin", 0, 4096)]
    nodes = [helper.make_node("Identity", [t.name], [t.name + "y"]) for t in inits]
    outs = [
        helper.make_tensor_value_info("Ry", TensorProto.INT8, [100_000]),
        helper.make_tensor_value_info("Ey", TensorProto.FLOAT, [1024]),
    ]
    graph = helper.make_graph(nodes, "g", [], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(onnx_fingerprint._Prefetch, "MIN_SIZE", 1 << 40)
        mp.setattr(onnx_wire, "MIN_PAYLOAD", 1 << 40)
        plain = fingerprint_model(path)
        mp.setattr(onnx_fingerprint._Prefetch, "MIN_SIZE", 0)
        mp.setattr(onnx_wire, "MIN_PAYLOAD", 1024)
        taken: list[str] = []
        lean, prefetch = onnx_fingerprint._parse_lean, onnx_fingerprint._Prefetch.result
        mp.setattr(onnx_fingerprint, "_parse_lean", lambda *a: taken.append("lean") or lean(*a))
        prefetched = onnx_fingerprint._Prefetch
        mp.setattr(prefetched, "result", lambda s, loc: taken.append("pre") or prefetch(s, loc))
        fast = fingerprint_model(path)
    assert sorted(taken) == ["lean", "pre"]
    assert fast == plain
