"""Independent re-implementation of docs/SPEC.md, checked against the `aichain` CLI.

Everything below is written from docs/SPEC.md alone. The `aichain_audit` package is never
imported: the tool is only *run*, as a black box, through `python -m aichain_audit`.
Canonical JSON comes from the `rfc8785` package; the Merkle tree (SPEC section 2, i.e. RFC 9162
section 2.1), file digests (section 3), paths and leaves (sections 4 and 5), the subject (section 6)
and config flattening (section 7) are implemented here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import os
import struct
import subprocess
import sys
import tomllib
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import rfc8785
import yaml
from onnx import TensorProto, helper, numpy_helper

# --------------------------------------------------------------------------------------------
# Constants (SPEC sections 3, 6, 7)
# --------------------------------------------------------------------------------------------

SHARD_SIZE = 16 * 1024 * 1024  # 16 MiB = 16,777,216 bytes
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ZERO_DIGEST = "sha256:" + "0" * 64
MAX_SAFE = 2**53 - 1  # SPEC 7: integers with magnitude above 2^53 - 1 are refused
LINEAGE_SCHEMA = "aichain.lineage/v1"
PROOF_SCHEMA = "aichain.proof/v1"

# SPEC 5: members of each leaf kind (required, optional).
LEAF_MEMBERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "model": (frozenset({"kind", "path", "digest", "size"}), frozenset()),
    "model-data": (frozenset({"kind", "path", "digest", "size"}), frozenset()),
    "model-semantic": (
        frozenset({"kind", "path", "scheme", "graph", "weights", "metadata"}),
        frozenset(),
    ),
    "tensor": (frozenset({"kind", "path", "tensor", "name", "digest"}), frozenset()),
    "dataset": (frozenset({"kind", "path", "digest", "size"}), frozenset({"link"})),
    "skipped": (frozenset({"kind", "path", "reason"}), frozenset()),
    "config": (frozenset({"kind", "path", "pointer", "value"}), frozenset()),
    "name": (frozenset({"kind", "value"}), frozenset()),
    "parent": (frozenset({"kind", "root"}), frozenset()),
    "mlflow-run": (frozenset({"kind", "run_id"}), frozenset()),
    "subject": (frozenset({"kind", "digest", "leaves"}), frozenset()),
}

Leaf = dict[str, Any]


# --------------------------------------------------------------------------------------------
# Canonical JSON
# --------------------------------------------------------------------------------------------


def jcs(value: Any) -> bytes:
    """RFC 8785 canonical bytes of a JSON value."""
    return rfc8785.dumps(value)


# --------------------------------------------------------------------------------------------
# SPEC 2: Merkle tree (RFC 9162 section 2.1) with SHA-256
# --------------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth_of_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH given the already computed leaf hashes."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(mth_of_hashes(hashes[:k]), mth_of_hashes(hashes[k:]))


def mth(leaves: Sequence[bytes]) -> bytes:
    return mth_of_hashes([leaf_hash(d) for d in leaves])


def inclusion_path(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[n]), siblings from the leaf upwards."""
    n = len(hashes)
    if n <= 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_path(index, hashes[:k]), mth_of_hashes(hashes[k:])]
    return [*inclusion_path(index - k, hashes[k:]), mth_of_hashes(hashes[:k])]


def verify_inclusion(
    leaf_bytes: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2 verification of an inclusion proof."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash(leaf_bytes)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --------------------------------------------------------------------------------------------
# SPEC 3: file digests
# --------------------------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    size = path.stat().st_size
    if size <= SHARD_SIZE:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    shard_hashes: list[bytes] = []
    with path.open("rb") as fh:
        while shard := fh.read(SHARD_SIZE):
            shard_hashes.append(leaf_hash(shard))
    return "sha256-shards:" + mth_of_hashes(shard_hashes).hex()


# --------------------------------------------------------------------------------------------
# SPEC 4/5: dataset leaves
# --------------------------------------------------------------------------------------------


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def _resolved_arg(arg: Path, cwd: Path) -> Path:
    # SPEC 4: "`.` and `..` arguments are resolved first". Symlinks are not involved here.
    p = arg if arg.is_absolute() else cwd / arg
    return Path(os.path.normpath(p))


def dataset_leaves(arg: Path, cwd: Path) -> list[Leaf]:
    """Leaves of one --dataset argument (file: base name; folder: name/relative/posix/path)."""
    real = _resolved_arg(arg, cwd)
    base = nfc(real.name)

    def leaf(rel: str, p: Path) -> Leaf:
        return {"kind": "dataset", "path": rel, "digest": file_digest(p), "size": p.stat().st_size}

    if real.is_file():
        return [leaf(base, real)]
    out: list[Leaf] = []
    for dirpath, _dirnames, filenames in os.walk(real):
        for fn in filenames:
            p = Path(dirpath) / fn
            assert not p.is_symlink()
            out.append(leaf(base + "/" + nfc(p.relative_to(real).as_posix()), p))
    return out


# --------------------------------------------------------------------------------------------
# SPEC 7: config leaves
# --------------------------------------------------------------------------------------------


def _json_no_dups(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _json_refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} refused")


def _toml_dates_to_str(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _toml_dates_to_str(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_toml_dates_to_str(v) for v in value]
    return value


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def flatten(value: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        if not value:
            yield pointer, {}
        for k, v in value.items():
            assert isinstance(k, str)
            yield from flatten(v, pointer + "/" + _escape(k))
    elif isinstance(value, list):
        if not value:
            yield pointer, []
        for i, v in enumerate(value):
            yield from flatten(v, f"{pointer}/{i}")
    else:
        if isinstance(value, float):
            assert math.isfinite(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            assert abs(value) <= MAX_SAFE
        else:
            assert value is None or isinstance(value, str | bool)
        yield pointer, value


def load_config(path: Path) -> Any:
    text = path.read_bytes().decode("utf-8-sig")  # SPEC 7: UTF-8, a BOM is ignored
    suffix = path.suffix.lower()
    if suffix == ".json":
        return json.loads(
            text, object_pairs_hook=_json_no_dups, parse_constant=_json_refuse_constant
        )
    if suffix == ".toml":
        return _toml_dates_to_str(tomllib.loads(text))
    if suffix in (".yaml", ".yml"):
        # NOT a YAML 1.2 core-schema loader: PyYAML implements YAML 1.1. It is only used on the
        # YAML inputs of this module, which contain nothing but plain/quoted strings, decimal
        # ints, floats written with a dot (0.5), true/false and null/~, for which YAML 1.1 and
        # the 1.2 core schema agree (no yes/no/on/off, dates, 1e3, 0o7, 012, <<, sexagesimals).
        return yaml.safe_load(text)
    raise ValueError(f"unknown config format {path}")


def config_leaves(path: Path) -> list[Leaf]:
    name = nfc(path.name)
    return [
        {"kind": "config", "path": name, "pointer": ptr, "value": val}
        for ptr, val in flatten(load_config(path))
    ]


# --------------------------------------------------------------------------------------------
# SPEC 6 and 9: subject and root
# --------------------------------------------------------------------------------------------


def subject_from_leaves(leaves: Sequence[Leaf]) -> str:
    models = [leaf for leaf in leaves if leaf["kind"] == "model"]
    data = [leaf for leaf in leaves if leaf["kind"] == "model-data"]
    assert len(models) <= 1
    if not models:
        return ZERO_DIGEST
    if not data:
        return str(models[0]["digest"])
    pairs = sorted(
        ([leaf["path"], leaf["digest"]] for leaf in [*models, *data]),
        key=lambda pair: pair[0].encode("utf-8"),
    )
    return "sha256-modelset:" + hashlib.sha256(jcs(pairs)).hexdigest()


def sorted_leaf_bytes(leaves: Sequence[Leaf]) -> list[bytes]:
    return sorted(jcs(leaf) for leaf in leaves)


def root_from_manifest(doc: dict[str, Any]) -> str:
    leaf_bytes = [jcs(leaf) for leaf in doc["leaves"]]
    for a, b in itertools.pairwise(leaf_bytes):
        assert a < b, f"leaves not strictly increasing: {a!r} !< {b!r}"
    return mth(leaf_bytes).hex()


def subject_leaf(content: Sequence[Leaf]) -> Leaf:
    """SPEC 5/9: the subject leaf of a lineage whose other leaves are `content`."""
    return {"kind": "subject", "digest": subject_from_leaves(content), "leaves": len(content) + 1}


def lineage_leaf_bytes(content: Sequence[Leaf]) -> list[bytes]:
    return sorted_leaf_bytes([*content, subject_leaf(content)])


def expected_root(content: Sequence[Leaf]) -> str:
    """Root of a lineage built from these content leaves plus the derived subject leaf."""
    return mth(lineage_leaf_bytes(content)).hex()


# --------------------------------------------------------------------------------------------
# Running the tool (black box)
# --------------------------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def fingerprint(args: Sequence[str], cwd: Path, out: Path) -> dict[str, Any]:
    proc = run_cli("fingerprint", *args, "-o", str(out), cwd=cwd)
    assert proc.returncode == 0, f"fingerprint failed: {proc.stdout}\n{proc.stderr}"
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def leaf_set(leaves: Sequence[Leaf]) -> set[bytes]:
    return {jcs(leaf) for leaf in leaves}


def of_kind(doc: dict[str, Any], *kinds: str) -> list[Leaf]:
    return [leaf for leaf in doc["leaves"] if leaf["kind"] in kinds]


def show(items: set[bytes]) -> list[str]:
    return sorted(b.decode("utf-8") for b in items)


def assert_same_leaves(tool: Sequence[Leaf], mine: Sequence[Leaf]) -> None:
    t, m = leaf_set(tool), leaf_set(mine)
    assert len(t) == len(tool) and len(m) == len(mine)
    assert t == m, f"only in tool: {show(t - m)}\nonly in mine: {show(m - t)}"


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------

JSON_CONFIG = """\ufeff{
  "model": {"lr": 0.1, "layers": [64, 32, {"dropout": 0.5}], "big": 1e21, "tiny": 5e-324,
            "negz": -0.0, "int53m1": 9007199254740991, "neg_int53m1": -9007199254740991},
  "flags": {"on": true, "off": false, "none": null},
  "empty_obj": {}, "empty_arr": [], "nested_empty": [[], {}, [[]]],
  "text": "h\\u00e9llo w\\u00f6rld \\u65e5\\u672c \\ud83d\\ude00", "nfd": "e\\u0301",
  "ctrl": "tab\\tnl\\n\\u0001\\u007f\\u2028", "quote": "\\"back\\\\slash\\"",
  "a/b": "slash", "m~n": "tilde", "~1": "tricky", "": "empty key", "x/~/y": [1, 2],
  "one_float": 1.0, "one_exp": 1e0, "neg_zero_int": -0, "small": 1e-7, "third": 0.3333333333333333
}
"""

TOML_CONFIG = """\
title = "TOML \u00fcn\u00efcode \u2713"
lr = 0.1
big = 1e21
negz = -0.0
flag = true
off = false
count = 42
odt = 1979-05-27T07:32:00Z
odt_offset = 1979-05-27T00:32:00.999999-07:00
odt_minus_zero = 1979-05-27T07:32:00-00:00
odt_subus = 1979-05-27T07:32:00.1234567Z
ldt = 1979-05-27T07:32:00
ld = 1979-05-27
lt = 07:32:00
lt_frac = 00:32:00.5
empty_arr = []
mixed = [1, "two", 3.5, [], {}]
"a/b" = 1
"m~n" = 2
"~1" = 3

[table]
nested = { x = 1, y = [true, false], e = {} }

[empty_table]

[[items]]
name = "one"

[[items]]
"""

YAML_CONFIG = """\
name: plain string
epochs: 10
lr: 0.5
neg: -3
flag: true
other: false
nothing: null
tilde: ~
nested:
  list: [1, 2, three]
  deeper: {k: v}
empty_map: {}
empty_seq: []
unicode: "gr\u00fc\u00dfe \u2713"
"a/b": 1
"m~n": 2
"""

NAME = "churn-v3 caf\u00e9"
PARENT = "ab" * 32


def _pattern(n: int, salt: int) -> bytes:
    block = bytes((i * 7 + salt) % 256 for i in range(4096))
    reps, rest = divmod(n, len(block))
    return block * reps + block[:rest]


def write_datasets(base: Path, big: bool) -> list[str]:
    """Create dataset inputs under base; return the --dataset arguments (relative to base)."""
    data = base / "data"
    (data / "sub" / "deeper").mkdir(parents=True)
    (data / "empty_dir").mkdir()
    (data / "train.csv").write_bytes(b"a,b\n1,2\n3,4\n")
    (data / "sub" / "b.csv").write_bytes(b"x\n" * 100)
    (data / "sub" / "deeper" / "c.txt").write_text("deep \u00e9\n", encoding="utf-8")
    (data / "empty.bin").write_bytes(b"")
    (data / ".hidden").write_bytes(b"dotfile")
    if big:
        (data / "exact.bin").write_bytes(_pattern(SHARD_SIZE, 1))
        (data / "big.bin").write_bytes(_pattern(SHARD_SIZE, 2) + b"\x07")
    donnees = base / nfc("donn\u00e9es")
    (donnees / "sous").mkdir(parents=True)
    (donnees / nfc("\u00e9.csv")).write_text("col\n\u00e9t\u00e9\n", encoding="utf-8")
    (donnees / "sous" / nfc("\u65e5\u672c.txt")).write_bytes(b"\x00\xff\x01")
    (base / "single.txt").write_bytes(b"just one file\n")
    return ["data", donnees.name, "single.txt"]


def write_configs(base: Path) -> list[str]:
    (base / "train.json").write_text(JSON_CONFIG, encoding="utf-8")
    (base / "params.toml").write_text(TOML_CONFIG, encoding="utf-8")
    (base / "simple.yaml").write_text(YAML_CONFIG, encoding="utf-8")
    (base / "whole.json").write_text("{}", encoding="utf-8")  # the document itself, pointer ""
    return ["train.json", "params.toml", "simple.yaml", "whole.json"]


@dataclass
class Lineage:
    base: Path
    manifest_path: Path
    doc: dict[str, Any]
    datasets: list[str]
    configs: list[str]


@pytest.fixture(scope="module")
def lineage(tmp_path_factory: pytest.TempPathFactory) -> Lineage:
    base = tmp_path_factory.mktemp("lineage")
    datasets = write_datasets(base, big=True)
    configs = write_configs(base)
    args: list[str] = []
    for d in datasets:
        args += ["--dataset", d]
    for c in configs:
        args += ["--config", c]
    args += ["--name", NAME, "--parent", PARENT]
    out = base / "lineage.json"
    doc = fingerprint(args, base, out)
    return Lineage(base, out, doc, datasets, configs)


def my_content_leaves(lin: Lineage) -> list[Leaf]:
    leaves: list[Leaf] = []
    for d in lin.datasets:
        leaves += dataset_leaves(Path(d), lin.base)
    for c in lin.configs:
        leaves += config_leaves(lin.base / c)
    leaves.append({"kind": "name", "value": NAME})
    leaves.append({"kind": "parent", "root": PARENT})
    return leaves


# --------------------------------------------------------------------------------------------
# Self-checks of the independent implementation (so that a wrong helper cannot hide findings)
# --------------------------------------------------------------------------------------------


def test_own_merkle_helpers_follow_rfc9162() -> None:
    assert mth([]).hex() == EMPTY_SHA256
    assert mth([b"a"]) == hashlib.sha256(b"\x00a").digest()
    three = [b"0", b"1", b"2"]
    h = [leaf_hash(x) for x in three]
    assert mth(three) == node_hash(node_hash(h[0], h[1]), h[2])
    for n in range(1, 18):
        data = [bytes([i]) for i in range(n)]
        hashes = [leaf_hash(d) for d in data]
        root = mth(data)
        for i in range(n):
            path = inclusion_path(i, hashes)
            assert verify_inclusion(data[i], i, n, path, root)
            assert not verify_inclusion(data[i] + b"x", i, n, path, root)
            if path:
                bad = [bytes(32), *path[1:]]
                assert not verify_inclusion(data[i], i, n, bad, root)


def test_own_file_digest_plain_and_sharded(tmp_path: Path) -> None:
    empty = tmp_path / "e"
    empty.write_bytes(b"")
    assert file_digest(empty) == "sha256:" + EMPTY_SHA256
    exact = tmp_path / "x"
    exact.write_bytes(b"\x01" * SHARD_SIZE)
    assert file_digest(exact).startswith("sha256:")
    over = tmp_path / "o"
    over.write_bytes(b"\x01" * SHARD_SIZE + b"\x02")
    shard1 = hashlib.sha256(b"\x00" + b"\x01" * SHARD_SIZE).digest()
    shard2 = hashlib.sha256(b"\x00\x02").digest()
    expected = hashlib.sha256(b"\x01" + shard1 + shard2).hexdigest()
    assert file_digest(over) == "sha256-shards:" + expected


# --------------------------------------------------------------------------------------------
# Tool vs. specification
# --------------------------------------------------------------------------------------------


def test_manifest_is_well_formed_per_spec(lineage: Lineage) -> None:
    doc = lineage.doc
    assert set(doc) == {"schema", "root", "subject", "leaves", "generator"}
    assert doc["schema"] == LINEAGE_SCHEMA
    assert isinstance(doc["root"], str) and len(doc["root"]) == 64
    assert doc["root"] == doc["root"].lower()
    for leaf in doc["leaves"]:
        required, optional = LEAF_MEMBERS[leaf["kind"]]
        assert required <= set(leaf) <= required | optional, leaf
        if "size" in leaf:
            assert type(leaf["size"]) is int
        if "path" in leaf:
            parts = leaf["path"].split("/")
            assert all(p not in ("", ".", "..") for p in parts), leaf
            assert nfc(leaf["path"]) == leaf["path"]
    subjects = of_kind(doc, "subject")
    assert len(subjects) == 1
    assert len(of_kind(doc, "model")) <= 1


def test_root_and_subject_recomputed_from_leaves_match_manifest(lineage: Lineage) -> None:
    doc = lineage.doc
    assert root_from_manifest(doc) == doc["root"]
    assert subject_from_leaves(doc["leaves"]) == doc["subject"]
    (subj,) = of_kind(doc, "subject")
    assert subj["digest"] == doc["subject"]
    assert type(subj["leaves"]) is int and subj["leaves"] == len(doc["leaves"])
    assert doc["subject"] == ZERO_DIGEST  # no model in this lineage


def test_whole_lineage_root_equals_root_from_input_files(lineage: Lineage) -> None:
    """The root is a function of the input files alone (not only of the manifest's leaves)."""
    assert expected_root(my_content_leaves(lineage)) == lineage.doc["root"]


def test_dataset_leaves_equal_leaves_computed_from_files(lineage: Lineage) -> None:
    mine: list[Leaf] = []
    for d in lineage.datasets:
        mine += dataset_leaves(Path(d), lineage.base)
    assert_same_leaves(of_kind(lineage.doc, "dataset", "skipped"), mine)
    by_path = {leaf["path"]: leaf for leaf in of_kind(lineage.doc, "dataset")}
    # the edge cases are really there
    assert by_path["data/empty.bin"]["digest"] == "sha256:" + EMPTY_SHA256
    assert by_path["data/empty.bin"]["size"] == 0
    assert by_path["data/exact.bin"]["digest"].startswith("sha256:")
    assert by_path["data/exact.bin"]["size"] == SHARD_SIZE
    assert by_path["data/big.bin"]["digest"].startswith("sha256-shards:")
    assert by_path["data/big.bin"]["size"] == SHARD_SIZE + 1
    assert nfc("donn\u00e9es/\u00e9.csv") in by_path
    assert "single.txt" in by_path


def test_config_leaves_equal_flattened_config_files(lineage: Lineage) -> None:
    mine: list[Leaf] = []
    for c in lineage.configs:
        mine += config_leaves(lineage.base / c)
    assert_same_leaves(of_kind(lineage.doc, "config"), mine)
    got = {
        (leaf["path"], leaf["pointer"]): leaf["value"] for leaf in of_kind(lineage.doc, "config")
    }
    # spot checks written out by hand from SPEC 7
    assert got[("train.json", "/a~1b")] == "slash"
    assert got[("train.json", "/m~0n")] == "tilde"
    assert got[("train.json", "/~01")] == "tricky"
    assert got[("train.json", "/")] == "empty key"
    assert got[("train.json", "/x~1~0~1y/1")] == 2
    assert got[("train.json", "/empty_obj")] == {}
    assert got[("train.json", "/nested_empty/2/0")] == []
    assert got[("train.json", "/nfd")] == "e\u0301"
    assert got[("whole.json", "")] == {}
    assert got[("params.toml", "/odt")] == "1979-05-27T07:32:00+00:00"
    assert got[("params.toml", "/odt_offset")] == "1979-05-27T00:32:00.999999-07:00"
    assert got[("params.toml", "/ld")] == "1979-05-27"
    assert got[("params.toml", "/lt_frac")] == "00:32:00.500000"
    assert got[("params.toml", "/items/1")] == {}
    assert got[("simple.yaml", "/tilde")] is None
    configs_json = {jcs(leaf) for leaf in of_kind(lineage.doc, "config")}
    for text in (
        b'{"kind":"config","path":"train.json","pointer":"/model/negz","value":0}',
        b'{"kind":"config","path":"train.json","pointer":"/model/big","value":1e+21}',
        b'{"kind":"config","path":"train.json","pointer":"/one_exp","value":1}',
        b'{"kind":"config","path":"train.json","pointer":"/model/int53m1","value":9007199254740991}',
    ):
        assert text in configs_json


def test_name_and_parent_leaves(lineage: Lineage, tmp_path: Path) -> None:
    assert of_kind(lineage.doc, "name") == [{"kind": "name", "value": NAME}]
    assert of_kind(lineage.doc, "parent") == [{"kind": "parent", "root": PARENT}]
    # Without --name there is no name leaf (SPEC 5: value "omitted when none was given", and
    # `value` is not an optional member, so the leaf itself must be absent).
    (tmp_path / "f.txt").write_bytes(b"x")
    doc = fingerprint(["--dataset", "f.txt"], tmp_path, tmp_path / "l.json")
    assert of_kind(doc, "name") == []
    assert of_kind(doc, "parent") == []
    assert doc["root"] == expected_root(dataset_leaves(Path("f.txt"), tmp_path))
    assert doc["subject"] == ZERO_DIGEST


# --------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------


def make_tiny_model(path: Path) -> np.ndarray:
    w = np.array([[1.0, 2.0], [3.0, -0.5]], dtype=np.float32)
    init = numpy_helper.from_array(w, name="W")
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])
    node = helper.make_node("MatMul", ["X", "W"], ["Y"])
    graph = helper.make_graph([node], "tiny", [x], [y], initializer=[init])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return w


def dense_tensor_digest(dtype: int, dims: Sequence[int], value_bytes: bytes) -> str:
    header = jcs({"kind": "dense", "dtype": dtype, "dims": [str(d) for d in dims]})
    body = struct.pack(">Q", len(header)) + header + value_bytes
    return "sha256:" + hashlib.sha256(body).hexdigest()


def test_model_leaf_digest_and_subject_with_onnx_model(tmp_path: Path) -> None:
    w = make_tiny_model(tmp_path / "tiny.onnx")
    (tmp_path / "d.csv").write_bytes(b"k,v\n")
    doc = fingerprint(
        ["--model", "tiny.onnx", "--dataset", "d.csv"], tmp_path, tmp_path / "lineage.json"
    )
    model_file = tmp_path / "tiny.onnx"
    digest = file_digest(model_file)
    assert of_kind(doc, "model") == [
        {"kind": "model", "path": "tiny.onnx", "digest": digest, "size": model_file.stat().st_size}
    ]
    assert of_kind(doc, "model-data") == []
    assert doc["subject"] == digest
    assert subject_from_leaves(doc["leaves"]) == digest
    n = len(doc["leaves"])
    assert of_kind(doc, "subject") == [{"kind": "subject", "digest": digest, "leaves": n}]
    assert root_from_manifest(doc) == doc["root"]
    assert_same_leaves(of_kind(doc, "dataset"), dataset_leaves(Path("d.csv"), tmp_path))

    # SPEC 8.1/8.2: the only weight is initializer W; walk: inputs X -> v0, node inputs X, W -> v1,
    # node outputs Y -> v2. Its digest uses the little-endian raw bytes of the float32 tensor.
    w_digest = dense_tensor_digest(TensorProto.FLOAT, w.shape, w.astype("<f4").tobytes())
    assert of_kind(doc, "tensor") == [
        {"kind": "tensor", "path": "tiny.onnx", "tensor": "v1", "name": "W", "digest": w_digest}
    ]
    (semantic,) = of_kind(doc, "model-semantic")
    assert semantic["path"] == "tiny.onnx"
    assert semantic["scheme"] == "onnx-semantic/v1"
    # SPEC 8.3: weights = JCS([[id, digest]...]) in walk order.
    assert semantic["weights"] == "sha256:" + hashlib.sha256(jcs([["v1", w_digest]])).hexdigest()
    for member in ("graph", "metadata"):
        assert semantic[member].startswith("sha256:") and len(semantic[member]) == 7 + 64


def test_model_with_external_data_has_modelset_subject(tmp_path: Path) -> None:
    inline_dir, ext_dir = tmp_path / "inline", tmp_path / "external"
    inline_dir.mkdir()
    ext_dir.mkdir()
    make_tiny_model(inline_dir / "tiny.onnx")
    model = onnx.load(str(inline_dir / "tiny.onnx"))
    onnx.save_model(
        model,
        str(ext_dir / "tiny.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    doc_in = fingerprint(["--model", "tiny.onnx"], inline_dir, tmp_path / "in.json")
    doc_ex = fingerprint(["--model", "tiny.onnx"], ext_dir, tmp_path / "ex.json")
    model_file, data_file = ext_dir / "tiny.onnx", ext_dir / "weights.bin"
    model_leaf = {
        "kind": "model",
        "path": "tiny.onnx",
        "digest": file_digest(model_file),
        "size": model_file.stat().st_size,
    }
    data_leaf = {
        "kind": "model-data",
        "path": "weights.bin",
        "digest": file_digest(data_file),
        "size": data_file.stat().st_size,
    }
    assert of_kind(doc_ex, "model") == [model_leaf]
    assert of_kind(doc_ex, "model-data") == [data_leaf]
    # SPEC 6: pairs sorted by the UTF-8 bytes of path ("tiny.onnx" < "weights.bin")
    pairs = [["tiny.onnx", model_leaf["digest"]], ["weights.bin", data_leaf["digest"]]]
    subject = "sha256-modelset:" + hashlib.sha256(jcs(pairs)).hexdigest()
    assert doc_ex["subject"] == subject == subject_from_leaves(doc_ex["leaves"])
    assert root_from_manifest(doc_ex) == doc_ex["root"]
    # SPEC 8: re-saving weights as external data changes the file digest, not graph or weights
    (sem_in,) = of_kind(doc_in, "model-semantic")
    (sem_ex,) = of_kind(doc_ex, "model-semantic")
    assert sem_in["graph"] == sem_ex["graph"]
    assert sem_in["weights"] == sem_ex["weights"]
    assert of_kind(doc_in, "tensor") == of_kind(doc_ex, "tensor")
    assert of_kind(doc_in, "model")[0]["digest"] != model_leaf["digest"]


def test_lineage_without_model_has_zero_subject(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text('{"seed": 7}', encoding="utf-8")
    doc = fingerprint(["--config", "c.json"], tmp_path, tmp_path / "l.json")
    assert doc["subject"] == ZERO_DIGEST
    assert of_kind(doc, "subject") == [{"kind": "subject", "digest": ZERO_DIGEST, "leaves": 2}]
    assert doc["root"] == expected_root(config_leaves(tmp_path / "c.json"))


# --------------------------------------------------------------------------------------------
# Proofs
# --------------------------------------------------------------------------------------------

PROOF_ITEMS = [
    nfc("donn\u00e9es/\u00e9.csv"),
    "data/sub/deeper/c.txt",
    "data/big.bin",
    "train.json#/a~1b",
    "train.json#/model/negz",
    "params.toml#/odt",
    "simple.yaml#/nested/list/2",
    "#name",
    "#subject",
]


def _item_matches(leaf: Leaf, item: str) -> bool:
    if item.startswith("#"):
        return bool(leaf["kind"] == item[1:])
    if "#" in item:
        path, pointer = item.split("#", 1)
        return bool(
            leaf["kind"] == "config" and leaf["path"] == path and leaf["pointer"] == pointer
        )
    return bool(
        leaf["kind"] in ("dataset", "model", "model-data", "skipped") and leaf["path"] == item
    )


def _alternative_sizes(proof: dict[str, Any], leaf: bytes, subj: bytes, root: bytes) -> list[int]:
    """Other tree sizes for which both audit paths of the proof still verify (RFC 9162 alone
    does not authenticate the size, SPEC 1)."""
    path = [bytes.fromhex(h) for h in proof["path"]]
    spath = [bytes.fromhex(h) for h in proof["size_proof"]["path"]]
    j = proof["size_proof"]["index"]
    return [
        n
        for n in range(1, 2 * proof["size"] + 2)
        if n != proof["size"]
        and verify_inclusion(leaf, proof["index"], n, path, root)
        and verify_inclusion(subj, j, n, spath, root)
    ]


def verify_proof_file(proof: dict[str, Any], trusted_root: bytes) -> bool:
    """SPEC 10 acceptance rule, independently implemented."""
    if proof["root"] != trusted_root.hex():
        return False
    sp = proof["size_proof"]
    if sp["leaf"].get("kind") != "subject" or sp["leaf"].get("leaves") != proof["size"]:
        return False
    main = [bytes.fromhex(h) for h in proof["path"]]
    size_path = [bytes.fromhex(h) for h in sp["path"]]
    return verify_inclusion(
        jcs(proof["leaf"]), proof["index"], proof["size"], main, trusted_root
    ) and verify_inclusion(jcs(sp["leaf"]), sp["index"], proof["size"], size_path, trusted_root)


def check_proof(proof: dict[str, Any], root: bytes, where: Path) -> int:
    f = where / "candidate.json"
    f.write_bytes(jcs(proof) + b"\n")
    return run_cli("check-proof", str(f), "--root", root.hex(), cwd=where).returncode


@pytest.mark.parametrize("item", PROOF_ITEMS)
def test_proof_from_tool_verifies_against_independent_root(
    lineage: Lineage, item: str, tmp_path: Path
) -> None:
    content = my_content_leaves(lineage)
    my_leaf_bytes = lineage_leaf_bytes(content)
    my_subject = jcs(subject_leaf(content))
    my_root = mth(my_leaf_bytes)
    hashes = [leaf_hash(b) for b in my_leaf_bytes]
    proof_path = tmp_path / "proof.json"
    proc = run_cli("prove", str(lineage.manifest_path), item, "-o", str(proof_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    raw = proof_path.read_bytes()
    proof = json.loads(raw)
    assert raw == jcs(proof) + b"\n"  # SPEC 10: JCS followed by a newline
    assert set(proof) == {"schema", "leaf", "index", "size", "path", "root", "size_proof"}
    assert set(proof["size_proof"]) == {"leaf", "index", "path"}
    assert proof["schema"] == PROOF_SCHEMA
    leaf_bytes = jcs(proof["leaf"])
    assert _item_matches(proof["leaf"], item), proof["leaf"]
    assert leaf_bytes in my_leaf_bytes
    assert proof["index"] == my_leaf_bytes.index(leaf_bytes)
    assert proof["size"] == len(my_leaf_bytes)
    assert proof["root"] == my_root.hex()
    assert all(h == h.lower() and len(h) == 64 for h in proof["path"])
    path = [bytes.fromhex(h) for h in proof["path"]]
    assert path == inclusion_path(proof["index"], hashes)
    assert verify_inclusion(leaf_bytes, proof["index"], proof["size"], path, my_root)
    # the size proof: the subject leaf (stating the number of leaves) at its own index
    sp = proof["size_proof"]
    assert jcs(sp["leaf"]) == my_subject
    assert sp["index"] == my_leaf_bytes.index(my_subject)
    assert [bytes.fromhex(h) for h in sp["path"]] == inclusion_path(sp["index"], hashes)
    assert verify_proof_file(proof, my_root)

    assert check_proof(proof, my_root, tmp_path) == 0
    wrong_root = bytes([my_root[0] ^ 1]) + my_root[1:]
    assert not verify_proof_file(proof, wrong_root)
    assert check_proof(proof, wrong_root, tmp_path) == 1
    if path:  # a tampered audit path must fail both verifiers
        tampered = dict(proof, path=[bytes(32).hex(), *proof["path"][1:]])
        assert not verify_proof_file(tampered, my_root)
        assert check_proof(tampered, my_root, tmp_path) == 1
    # a different tree size that RFC 9162 alone would accept is refused thanks to size_proof
    alternatives = _alternative_sizes(proof, leaf_bytes, my_subject, my_root)
    if item == "data/big.bin":  # make sure this check is exercised (leaf 0)
        assert alternatives
    for n in alternatives[:2]:
        resized = dict(proof, size=n)
        assert not verify_proof_file(resized, my_root)
        assert check_proof(resized, my_root, tmp_path) == 1


def test_changing_any_byte_of_a_proof_makes_it_invalid_or_malformed(
    lineage: Lineage, tmp_path: Path
) -> None:
    root = bytes.fromhex(expected_root(my_content_leaves(lineage)))
    proof_path = tmp_path / "proof.json"
    proc = run_cli(
        "prove", str(lineage.manifest_path), "train.json#/a~1b", "-o", str(proof_path), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    raw = proof_path.read_bytes()
    assert (
        run_cli("check-proof", str(proof_path), "--root", root.hex(), cwd=tmp_path).returncode == 0
    )
    bad = tmp_path / "bad.json"
    for pos in sorted({0, 5, len(raw) // 3, len(raw) // 2, len(raw) - 10, len(raw) - 2}):
        for replacement in (b"0", b"1"):
            if raw[pos : pos + 1] == replacement:
                continue
            bad.write_bytes(raw[:pos] + replacement + raw[pos + 1 :])
            rc = run_cli("check-proof", str(bad), "--root", root.hex(), cwd=tmp_path).returncode
            assert rc in (1, 2), (pos, replacement, rc)
            break


# SPEC 7 YAML 1.2 core schema, expected values written by hand from the rules (no YAML loader).
YAML_12_CASES: list[tuple[str, str, Any]] = [
    ("a: yes", "/a", "yes"),
    ("b: on", "/b", "on"),
    ("c: no", "/c", "no"),
    ("d: 2024-01-01", "/d", "2024-01-01"),
    ("e: 1e3", "/e", 1000.0),
    ("f: 0o17", "/f", 15),
    ("g: 0x1F", "/g", 31),
    ("h: 012", "/h", 12),
    ("i: .5", "/i", 0.5),
    ("j: +1", "/j", 1),
    ("k: 1_000", "/k", "1_000"),
    ("l: 1:20", "/l", "1:20"),
    ('"<<": plain', "/<<", "plain"),
    ("m: Null", "/m", None),
    ("n:", "/n", None),
    ("o: ~", "/o", None),
    ("p: TRUE", "/p", True),
    ("q: False", "/q", False),
    ("r: !!str 12", "/r", "12"),
    ("s: '12'", "/s", "12"),
    ("t: 1.", "/t", 1.0),
    ("u: -.5e-3", "/u", -0.0005),
    ("v: 0b101", "/v", "0b101"),
    ("w: -0.0", "/w", 0.0),
    ("x: 0o8", "/x", "0o8"),
    ("y: y", "/y", "y"),
]


def test_yaml_uses_yaml_1_2_core_schema(tmp_path: Path) -> None:
    text = "\n".join(line for line, _, _ in YAML_12_CASES) + "\n"
    (tmp_path / "y.yaml").write_text(text, encoding="utf-8")
    doc = fingerprint(["--config", "y.yaml"], tmp_path, tmp_path / "l.json")
    mine = [
        {"kind": "config", "path": "y.yaml", "pointer": ptr, "value": val}
        for _, ptr, val in YAML_12_CASES
    ]
    assert_same_leaves(of_kind(doc, "config"), mine)
    assert doc["root"] == expected_root(mine)


# --------------------------------------------------------------------------------------------
# Determinism and sensitivity
# --------------------------------------------------------------------------------------------


def test_root_independent_of_cwd_and_timestamps_but_sensitive_to_content(tmp_path: Path) -> None:
    base = tmp_path / "work"
    base.mkdir()
    datasets = write_datasets(base, big=False)
    (base / "train.json").write_text('{"lr": 0.1, "layers": [8, 4]}', encoding="utf-8")

    def content_leaves() -> list[Leaf]:
        leaves: list[Leaf] = []
        for d in datasets:
            leaves += dataset_leaves(Path(d), base)
        return leaves + config_leaves(base / "train.json")

    # 1) from base, relative arguments
    args1: list[str] = []
    for d in datasets:
        args1 += ["--dataset", d]
    args1 += ["--config", "train.json"]
    doc1 = fingerprint(args1, base, tmp_path / "l1.json")
    assert doc1["root"] == expected_root(content_leaves())

    # 2) after touching every timestamp, from inside data/ with `.` and `..` arguments
    for dirpath, dirnames, filenames in os.walk(base):
        for n in [*dirnames, *filenames]:
            os.utime(Path(dirpath) / n, (1_000_000_000, 1_000_000_000))
    args2 = ["--dataset", "."]
    for d in datasets[1:]:
        args2 += ["--dataset", f"../{d}"]
    args2 += ["--config", "../train.json"]
    doc2 = fingerprint(args2, base / "data", tmp_path / "l2.json")
    assert doc2["root"] == doc1["root"]
    assert leaf_set(doc2["leaves"]) == leaf_set(doc1["leaves"])

    # 3) from an unrelated folder with absolute arguments
    other = tmp_path / "elsewhere"
    other.mkdir()
    args3: list[str] = []
    for d in datasets:
        args3 += ["--dataset", str(base / d)]
    args3 += ["--config", str(base / "train.json")]
    doc3 = fingerprint(args3, other, tmp_path / "l3.json")
    assert doc3["root"] == doc1["root"]

    # 4) one byte of one dataset file changes the root (to what the spec says)
    target = base / "data" / "sub" / "b.csv"
    original = target.read_bytes()
    target.write_bytes(b"y" + original[1:])
    doc4 = fingerprint(args1, base, tmp_path / "l4.json")
    assert doc4["root"] != doc1["root"]
    assert doc4["root"] == expected_root(content_leaves())
    target.write_bytes(original)

    # 5) one config value changes the root
    (base / "train.json").write_text('{"lr": 0.2, "layers": [8, 4]}', encoding="utf-8")
    doc5 = fingerprint(args1, base, tmp_path / "l5.json")
    assert doc5["root"] not in (doc1["root"], doc4["root"])
    assert doc5["root"] == expected_root(content_leaves())

    # 6) restoring the inputs restores the root
    (base / "train.json").write_text('{"lr": 0.1, "layers": [8, 4]}', encoding="utf-8")
    doc6 = fingerprint(args1, base, tmp_path / "l6.json")
    assert doc6["root"] == doc1["root"]


@pytest.mark.parametrize("number", ["9007199254740992", "-9007199254740992", "1" + "0" * 30])
def test_integer_beyond_safe_range_is_refused(tmp_path: Path, number: str) -> None:
    """SPEC 7: integers with magnitude above 2^53 - 1 are refused (exit 2)."""
    (tmp_path / "c.json").write_text(f'{{"n": {number}}}', encoding="utf-8")
    proc = run_cli("fingerprint", "--config", "c.json", "-o", "l.json", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert not (tmp_path / "l.json").exists()


@pytest.mark.parametrize("number", ["9007199254740991", "-9007199254740991"])
def test_integer_at_safe_limit_is_accepted(tmp_path: Path, number: str) -> None:
    (tmp_path / "c.json").write_text(f'{{"n": {number}}}', encoding="utf-8")
    proc = run_cli("fingerprint", "--config", "c.json", "-o", "l.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "l.json").read_text(encoding="utf-8"))
    (leaf,) = of_kind(doc, "config")
    expected = f'{{"kind":"config","path":"c.json","pointer":"/n","value":{number}}}'
    assert jcs(leaf) == expected.encode()
    assert doc["root"] == expected_root(config_leaves(tmp_path / "c.json"))
