"""Hostile GGUF files: each is refused with one clear line (ModelError, exit 2), before any
allocation its counts or lengths ask for."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from aichain_audit.cli import main as cli_main
from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint.model.gguf import GgufFormat, parse
from tests.fingerprint.gguf.build import (
    ARRAY,
    F32,
    FLOAT32,
    INT32,
    KV,
    Q8_0,
    STRING,
    UINT16,
    UINT64,
    Gguf,
    Tensor,
    f32,
    kv_array,
    kv_int,
    kv_str,
    kv_u32,
    s,
    tiny,
)

NEAR_2_64 = (1 << 64) - 1


def with_kv(*extra: KV) -> Gguf:
    g = tiny()
    g.kvs.extend(extra)
    return g


def with_tensor(t: Tensor) -> Gguf:
    g = tiny()
    g.tensors.append(t)
    return g


def bumped(index: int, offset: int) -> Gguf:
    g = tiny()
    g.tensors[index].offset = offset
    return g


def big_endian() -> bytes:
    data = bytearray(tiny().encode())
    data[4:8] = struct.pack(">I", 3)
    return bytes(data)


def long_string_at_2_64() -> bytes:
    """A key whose length field says 2^64 - 1: refused before any read of that size."""
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    return head + struct.pack("<Q", NEAR_2_64) + b"general.name"


def array_count_at_2_64(element: int) -> bytes:
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    return head + s("tokenizer.ggml.tokens") + struct.pack("<IIQ", ARRAY, element, NEAR_2_64)


# fmt: off
CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "bad magic": (lambda: tiny(magic=b"GGML").encode(), 'does not start with "GGUF"'),
    "empty file": (lambda: b"", 'does not start with "GGUF"'),
    "version 1": (lambda: tiny(version=1).encode(), "version 1 is not supported"),
    "version 4": (lambda: tiny(version=4).encode(), "unsupported GGUF version 4"),
    "big endian": (big_endian, "big-endian GGUF file"),
    "alignment 0": (lambda: with_kv(kv_u32("general.alignment", 0)).encode(),
                    "general.alignment is 0, not a power of two"),
    "alignment 48": (lambda: with_kv(kv_u32("general.alignment", 48)).encode(),
                     "general.alignment is 48, not a power of two"),
    "alignment INT32": (lambda: with_kv(kv_int("general.alignment", INT32, 32)).encode(),
                        "general.alignment is a INT32, not a UINT32"),
    "five dimensions": (lambda: with_tensor(Tensor("x", (1, 1, 1, 1, 1), F32, f32(0))).encode(),
                        "5 dimensions, more than 4"),
    "zero dimension": (lambda: with_tensor(Tensor("x", (4, 0), F32, b"")).encode(),
                       "zero dimension"),
    "overflowing dimensions": (
        lambda: with_tensor(Tensor("x", (1 << 32, 1 << 32), F32, b"")).encode(),
        "the product overflows",
    ),
    "nested arrays": (
        lambda: with_kv(kv_array("x.nested", ARRAY, [struct.pack("<IQ", INT32, 0)])).encode(),
        "an array of arrays",
    ),
    "string length near 2^64": (long_string_at_2_64, "past the end of the file"),
    "array count near 2^64": (lambda: array_count_at_2_64(INT32), "past the end of the file"),
    "string array count near 2^64": (lambda: array_count_at_2_64(STRING),
                                     "past the end of the file"),
    "string element length near 2^64": (
        lambda: with_kv(kv_array("tokenizer.x", STRING, [struct.pack("<Q", NEAR_2_64)])).encode(),
        "a string of 'tokenizer.x'",
    ),
    "key-value count near 2^64": (lambda: tiny(n_kv=NEAR_2_64).encode(), "key-value pairs"),
    "tensor count near 2^64": (lambda: tiny(n_tensors=NEAR_2_64).encode(), "tensor infos"),
    "unknown value type": (lambda: with_kv(KV("x.y", 13, b"\0")).encode(), "unknown type 13"),
    "unknown array element type": (
        lambda: with_kv(KV("x.y", ARRAY, struct.pack("<IQ", 99, 0))).encode(),
        "unknown element type 99",
    ),
    "unknown GGML type": (lambda: with_tensor(Tensor("x", (1,), 4, b"\0" * 4)).encode(),
                          "unknown GGML type 4"),
    "first dimension not a multiple of the block": (
        lambda: with_tensor(Tensor("q", (16,), Q8_0, bytes(34))).encode(),
        "not a multiple of its block of 32",
    ),
    "duplicate keys": (lambda: with_kv(kv_str("general.name", "again")).encode(),
                       "'general.name' occurs twice"),
    "duplicate tensor names": (
        lambda: with_tensor(Tensor("token_embd.weight", (1,), F32, f32(0))).encode(),
        "two tensors are named 'token_embd.weight'",
    ),
    "key not UTF-8": (lambda: with_kv(KV(b"x.\xff", UINT16, b"\0\0")).encode(), "not valid UTF-8"),
    "tensor name of 513 bytes": (lambda: with_tensor(Tensor("x" * 513, (1,), F32, f32(0))).encode(),
                                 "513 bytes long, more than 512"),
    "empty tensor name": (lambda: with_tensor(Tensor("", (1,), F32, f32(0))).encode(),
                          "empty name"),
    "tensor offset not aligned": (lambda: bumped(1, 4).encode(), "not a multiple of the alignment"),
    "tensor out of bounds": (lambda: bumped(1, 1 << 40).encode(), "past the end of the file"),
    "overlapping tensors": (lambda: bumped(1, 0).encode(), "overlaps the tensor before it"),
    "bytes between tensors": (
        lambda: Gguf(tiny().kvs, [Tensor("a", (2,), F32, f32(1, 2)),
                                  Tensor("b", (2,), F32, f32(3, 4), offset=64)],
                     trailing=bytes(64)).encode(),
        "bytes between tensors",
    ),
    "bytes after the data": (lambda: tiny(trailing=b"x").encode(), "1 bytes after the end"),
    "truncated in the header": (lambda: tiny().encode()[:60], "truncated or corrupt"),
    "truncated in the data": (lambda: tiny().encode()[:-40], "past the end of the file"),
    "split keys incomplete": (lambda: with_kv(kv_int("split.count", UINT16, 2)).encode(),
                              "split keys without split.no, split.tensors.count"),
    "split key of another type": (
        lambda: with_kv(kv_int("split.no", UINT64, 0), kv_int("split.count", UINT16, 1),
                        kv_int("split.tensors.count", INT32, 2)).encode(),
        "split.no is a UINT64, not a UINT16",
    ),
    "architecture not a string": (
        lambda: Gguf([KV("general.architecture", FLOAT32, f32(1))], []).encode(),
        "general.architecture is not a STRING",
    ),
}
# fmt: on


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_file_is_refused_with_one_clear_line(tmp_path: Path, case: str) -> None:
    build, expected = CASES[case]
    path = tmp_path / "model.gguf"
    path.write_bytes(build())
    with pytest.raises(ModelError) as err:
        GgufFormat().fingerprint(path)
    message = err.value.message
    assert expected in message
    assert message.startswith(f"{path}: ") and "\n" not in message


@pytest.mark.parametrize("case", ["nested arrays", "string length near 2^64", "bad magic"])
def test_the_cli_exits_2_with_one_line_and_no_traceback(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(CASES[case][0]())
    with pytest.raises(SystemExit) as exc:
        cli_main(["fingerprint", "--model", str(path), "-o", str(tmp_path / "l.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("aichain: error: ") and CASES[case][1] in err[0]
    assert not (tmp_path / "l.json").exists()


def test_a_header_larger_than_the_bound_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parse, "HEADER_LIMIT", 4096)
    path = tiny(kvs=[*tiny().kvs, kv_str("general.description", "x" * 5000)]).write(
        tmp_path / "model.gguf"
    )
    with pytest.raises(ModelError, match="the header is larger than aichain reads"):
        GgufFormat().fingerprint(path)


def test_counts_near_2_64_allocate_nothing_of_their_size(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    tracemalloc.start()
    try:
        for build in (long_string_at_2_64, lambda: array_count_at_2_64(STRING)):
            path.write_bytes(build())
            with pytest.raises(ModelError):
                GgufFormat().fingerprint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_a_fifo_is_refused_before_it_is_read(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        GgufFormat().fingerprint(fifo)


def test_a_padded_and_an_unpadded_last_tensor_are_both_accepted(tmp_path: Path) -> None:
    a = GgufFormat().fingerprint(tiny().write(tmp_path / "a.gguf"))
    b = GgufFormat().fingerprint(tiny(pad_last=False).write(tmp_path / "b.gguf"))
    assert a.semantic == b.semantic and a.file != b.file
