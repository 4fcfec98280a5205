"""Independent re-implementation of docs/SPEC.md, checked against the `aichain` CLI.

Everything below is written from docs/SPEC.md alone. The `aichain_audit` package is never
imported: the tool is only *run*, as a black box, through `python -m aichain_audit`.
Canonical JSON comes from the `rfc8785` package; the Merkle tree (SPEC section 2, i.e. RFC 9162
section 2.1), file digests (section 3), paths and leaves (sections 4 and 5), the subject
(section 6), config flattening (section 7) and the ONNX `onnx-semantic/v1` documents (section 8:
canonical ids, tensor digests, the graph, weights and metadata documents) are implemented here.
`onnx` is used only to build models and read their protobuf fields; the tool is compared on a
corpus of models built below (each passes `onnx.checker.check_model`) and on random ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import tomllib
import unicodedata
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import rfc8785
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

pytestmark = pytest.mark.slow  # runs the CLI (or waits out a budget) in processes

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


def read_proof_json(raw: bytes) -> Any:
    """SPEC 10: a proof is JCS, where an integer literal beyond 2^53 - 1 can only be a double
    (JCS writes integral doubles below 1e21 without a fraction)."""

    def number(text: str) -> int | float:
        return int(text) if abs(int(text)) <= MAX_SAFE else float(text)

    return json.loads(raw, parse_int=number)


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


# SPEC 7: a literal is a float by its form, and a float is never limited to 2^53 - 1; JCS
# writes an integral double below 1e21 without a fraction (SPEC 10 proofs hold those bytes).
FLOAT_FORMS: list[tuple[str, str, float]] = [
    ("a: 9007199254740992.0", "/a", 2.0**53),
    ("b: -9007199254740994.0", "/b", -(2.0**53) - 2),
    ("c: 123456789012345678000.0", "/c", 123456789012345678000.0),
    ("d: 1e21", "/d", 1e21),
    ("e: !!float 9007199254740993", "/e", 2.0**53),  # rounded to the nearest double
    ("f: !!float 0x1F", "/f", 31.0),  # any integer form of the core schema
    ("g: !!float 0o17", "/g", 15.0),
    ("h: !!float -12", "/h", -12.0),
    ("i: !!float 0x20000000000001", "/i", 2.0**53),
    (f"j: !!float {'9' * 100}", "/j", float("9" * 100)),
]


def test_integral_floats_beyond_2_53_are_accepted_and_their_proofs_check(tmp_path: Path) -> None:
    """SPEC 7 and 10: integral floats at and beyond 2^53 (written as floats, or as integers
    under `!!float`) are accepted; the tool's proof of each verifies with `check-proof`."""
    text = "\n".join(line for line, _, _ in FLOAT_FORMS) + "\n"
    (tmp_path / "f.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "f.json").write_text('{"x": 9007199254740992.0, "y": -1e20}', encoding="utf-8")
    mine = [
        {"kind": "config", "path": "f.yaml", "pointer": ptr, "value": val}
        for _, ptr, val in FLOAT_FORMS
    ] + [
        {"kind": "config", "path": "f.json", "pointer": "/x", "value": 2.0**53},
        {"kind": "config", "path": "f.json", "pointer": "/y", "value": -1e20},
    ]
    doc = fingerprint(["--config", "f.yaml", "--config", "f.json"], tmp_path, tmp_path / "l.json")
    assert_same_leaves(of_kind(doc, "config"), mine)
    root = expected_root(mine)
    assert doc["root"] == root
    for item in ("f.yaml#/a", "f.yaml#/b", "f.yaml#/c", "f.yaml#/e", "f.json#/x"):
        proc = run_cli("prove", "l.json", item, "-o", "p.json", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        raw = (tmp_path / "p.json").read_bytes()
        proof = read_proof_json(raw)
        assert raw == jcs(proof) + b"\n"
        assert verify_proof_file(proof, bytes.fromhex(root))
        proc = run_cli("check-proof", "p.json", "--root", root, cwd=tmp_path)
        assert proc.returncode == 0, (item, proc.stdout, proc.stderr)


def test_floats_beyond_the_double_range_are_refused_in_every_form(tmp_path: Path) -> None:
    """SPEC 7: a float beyond the double range is an infinity and refused (exit 2), whether
    written as a float or as a (decimal, octal or hexadecimal) integer under `!!float`."""
    _refused_configs(
        tmp_path,
        [
            ("a.yaml", b"a: 1e400\n"),
            ("b.yaml", f"a: !!float {'9' * 400}\n".encode()),
            ("c.yaml", f"a: !!float 0x{'f' * 300}\n".encode()),
            ("d.yaml", f"a: !!float 0o{'7' * 400}\n".encode()),
            ("e.yaml", f"a: !!float -{'1' * 400}\n".encode()),
        ],
    )


# ============================================================================================
# SPEC 8: `onnx-semantic/v1`, the graph, weights and metadata documents, written from SPEC 8
# alone (8.1 accepted models, 8.2 canonical ids, 8.3 tensor digests and weights, 8.4 documents)
# ============================================================================================

ATTR_TYPE = onnx.AttributeProto.AttributeType
_A = onnx.AttributeProto

# SPEC 8.3: the table of non-tensor attributes that are weights, by (domain, op_type).
WEIGHT_ATTRIBUTES: dict[tuple[str, str], frozenset[str]] = {
    ("", "Constant"): frozenset(
        {
            "value_float",
            "value_floats",
            "value_int",
            "value_ints",
            "value_string",
            "value_strings",
        }
    ),
    ("", "TfIdfVectorizer"): frozenset(
        {"ngram_counts", "ngram_indexes", "pool_int64s", "pool_strings", "weights"}
    ),
    ("ai.onnx.ml", "CategoryMapper"): frozenset({"cats_int64s", "cats_strings"}),
    ("ai.onnx.ml", "DictVectorizer"): frozenset({"int64_vocabulary", "string_vocabulary"}),
    ("ai.onnx.ml", "Imputer"): frozenset({"imputed_value_floats", "imputed_value_int64s"}),
    ("ai.onnx.ml", "LabelEncoder"): frozenset(
        {
            "classes_strings",
            "keys_floats",
            "keys_int64s",
            "keys_strings",
            "values_floats",
            "values_int64s",
            "values_strings",
        }
    ),
    ("ai.onnx.ml", "LinearClassifier"): frozenset(
        {"classlabels_ints", "classlabels_strings", "coefficients", "intercepts"}
    ),
    ("ai.onnx.ml", "LinearRegressor"): frozenset({"coefficients", "intercepts"}),
    ("ai.onnx.ml", "OneHotEncoder"): frozenset({"cats_int64s", "cats_strings"}),
    ("ai.onnx.ml", "SVMClassifier"): frozenset(
        {
            "classlabels_ints",
            "classlabels_strings",
            "coefficients",
            "kernel_params",
            "prob_a",
            "prob_b",
            "rho",
            "support_vectors",
            "vectors_per_class",
        }
    ),
    ("ai.onnx.ml", "SVMRegressor"): frozenset(
        {"coefficients", "kernel_params", "n_supports", "rho", "support_vectors"}
    ),
    ("ai.onnx.ml", "Scaler"): frozenset({"offset", "scale"}),
    ("ai.onnx.ml", "TreeEnsemble"): frozenset(
        {
            "leaf_targetids",
            "nodes_falseleafs",
            "nodes_falsenodeids",
            "nodes_featureids",
            "nodes_missing_value_tracks_true",
            "nodes_trueleafs",
            "nodes_truenodeids",
            "tree_roots",
        }
    ),
    ("ai.onnx.ml", "TreeEnsembleClassifier"): frozenset(
        {
            "base_values",
            "class_ids",
            "class_nodeids",
            "class_treeids",
            "class_weights",
            "classlabels_int64s",
            "classlabels_strings",
            "nodes_falsenodeids",
            "nodes_featureids",
            "nodes_hitrates",
            "nodes_missing_value_tracks_true",
            "nodes_modes",
            "nodes_nodeids",
            "nodes_treeids",
            "nodes_truenodeids",
            "nodes_values",
        }
    ),
    ("ai.onnx.ml", "TreeEnsembleRegressor"): frozenset(
        {
            "base_values",
            "nodes_falsenodeids",
            "nodes_featureids",
            "nodes_hitrates",
            "nodes_missing_value_tracks_true",
            "nodes_modes",
            "nodes_nodeids",
            "nodes_treeids",
            "nodes_truenodeids",
            "nodes_values",
            "target_ids",
            "target_nodeids",
            "target_treeids",
            "target_weights",
        }
    ),
    ("ai.onnx.ml", "ZipMap"): frozenset({"classlabels_int64s", "classlabels_strings"}),
}
_SCALAR_TYPES = {_A.FLOAT, _A.INT, _A.STRING, _A.FLOATS, _A.INTS, _A.STRINGS}
_TENSOR_TYPES = {_A.TENSOR, _A.TENSORS, _A.SPARSE_TENSOR, _A.SPARSE_TENSORS}


def _b(s: str) -> bytes:
    """Sort key: 'sorted by name' = by the UTF-8 bytes (SPEC 8)."""
    return s.encode("utf-8")


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _framed_digest(header: Any, payload: bytes = b"") -> str:
    """sha256:hex(SHA-256(u64be(len(H)) || H || payload)) with H = JCS(header) (SPEC 8.3)."""
    h = jcs(header)
    return _sha(struct.pack(">Q", len(h)) + h + payload)


def _domain(d: str) -> str:
    return "" if d == "ai.onnx" else d


def tensor_value_bytes(t: onnx.TensorProto, base: Path) -> bytes:
    """SPEC 8.3 value bytes of a dense tensor (8.1 rule 5 for external data)."""
    if t.data_location == TensorProto.EXTERNAL:
        entries = {e.key: e.value for e in t.external_data}
        data = (base / entries["location"]).read_bytes()
        offset = int(entries.get("offset", "0"))
        if "length" in entries:
            return data[offset : offset + int(entries["length"])]
        return data[offset:]
    if t.data_type == TensorProto.STRING:
        return b"".join(struct.pack("<Q", len(s)) + s for s in t.string_data)
    if t.HasField("raw_data"):
        return t.raw_data
    return bytes(numpy_helper.from_array(numpy_helper.to_array(t)).raw_data)


def dense_digest(t: onnx.TensorProto, base: Path) -> str:
    header = {"kind": "dense", "dtype": t.data_type, "dims": [str(d) for d in t.dims]}
    return _framed_digest(header, tensor_value_bytes(t, base))


def sparse_digest(sp: onnx.SparseTensorProto, base: Path) -> str:
    header = {
        "kind": "sparse",
        "dims": [str(d) for d in sp.dims],
        "values": dense_digest(sp.values, base),
        "indices": dense_digest(sp.indices, base),
    }
    return _framed_digest(header)


def _attr_payload(a: onnx.AttributeProto) -> bytes:
    def s(x: bytes) -> bytes:
        return struct.pack("<Q", len(x)) + x

    if a.type == _A.FLOAT:
        return struct.pack("<f", a.f)
    if a.type == _A.INT:
        return struct.pack("<q", a.i)
    if a.type == _A.STRING:
        return s(a.s)
    if a.type == _A.FLOATS:
        return b"".join(struct.pack("<f", f) for f in a.floats)
    if a.type == _A.INTS:
        return b"".join(struct.pack("<q", i) for i in a.ints)
    assert a.type == _A.STRINGS
    return b"".join(s(x) for x in a.strings)


def attribute_digest(a: onnx.AttributeProto) -> str:
    return _framed_digest({"kind": "attribute", "type": ATTR_TYPE.Name(a.type)}, _attr_payload(a))


def type_doc(msg: Any) -> dict[str, Any]:
    """SPEC 8.4 T(tp): one member per field set (ListFields), scalars as strings."""
    out: dict[str, Any] = {}
    for fd, val in msg.ListFields():
        if fd.is_repeated:
            out[fd.name] = [type_doc(v) if fd.message_type else str(v) for v in val]
        elif fd.message_type is not None:
            out[fd.name] = type_doc(val)
        else:
            out[fd.name] = val if isinstance(val, str) else str(val)
    return out


def props(entries: Sequence[onnx.StringStringEntryProto]) -> list[list[str]]:
    """SPEC 8.4 P(props)."""
    return sorted(([e.key, e.value] for e in entries), key=lambda kv: (_b(kv[0]), _b(kv[1])))


def opsets(imports: Sequence[onnx.OperatorSetIdProto]) -> list[list[str]]:
    """SPEC 8.4 O(imports)."""
    pairs = [[_domain(o.domain), str(o.version)] for o in imports]
    return sorted(pairs, key=lambda p: (_b(p[0]), _b(p[1])))


def _sorted_attrs(attrs: Sequence[onnx.AttributeProto]) -> list[onnx.AttributeProto]:
    return sorted(attrs, key=lambda a: _b(a.name))


@dataclass
class Semantic:
    """The three documents, their digests and the tensor leaves (id, name, digest)."""

    graph_doc: dict[str, Any]
    weights_doc: list[list[str]]
    metadata_doc: list[list[Any]]
    tensors: list[tuple[str, str, str]]

    @property
    def digests(self) -> dict[str, str]:
        return {
            "graph": _sha(jcs(self.graph_doc)),
            "weights": _sha(jcs(self.weights_doc)),
            "metadata": _sha(jcs(self.metadata_doc)),
        }


class _Scope:
    """One numbering scope of SPEC 8.2 (the main graph, or one model-local function)."""

    def __init__(self, prefix: str, base: Path) -> None:
        self.prefix = prefix
        self.base = base
        self.ids: dict[str, str] = {}
        self.value_infos: list[onnx.ValueInfoProto] = []
        self.nodes = 0

    def number(self, name: str) -> None:
        if name and name not in self.ids:
            self.ids[name] = f"{self.prefix}v{len(self.ids)}"

    def id(self, name: str) -> str:
        return self.ids[name] if name else ""

    def n_of(self, value_id: str) -> int:
        return int(value_id[len(self.prefix) + 1 :])

    def walk_nodes(self, nodes: Sequence[onnx.NodeProto]) -> None:
        """Step 2 of the numbering walk W."""
        for node in nodes:
            for name in node.input:
                self.number(name)
            for a in _sorted_attrs(node.attribute):
                if a.ref_attr_name:
                    continue
                if a.type == _A.GRAPH:
                    self.walk_graph(a.g)
                elif a.type == _A.GRAPHS:
                    for g in a.graphs:
                        self.walk_graph(g)
            for name in node.output:
                self.number(name)

    def walk_graph(self, g: onnx.GraphProto) -> None:
        """The numbering walk W(G) (SPEC 8.2 steps 1 to 5)."""
        self.value_infos.extend(g.value_info)
        for vi in g.input:
            self.number(vi.name)
        self.walk_nodes(g.node)
        for vi in g.output:
            self.number(vi.name)
        inits = [t for t in g.initializer if t.name not in self.ids]
        for t in sorted(inits, key=lambda t: (_b(dense_digest(t, self.base)), _b(t.name))):
            self.number(t.name)
        sparse = [s for s in g.sparse_initializer if s.values.name not in self.ids]
        for s in sorted(sparse, key=lambda s: (_b(sparse_digest(s, self.base)), _b(s.values.name))):
            self.number(s.values.name)

    def finish(self) -> None:
        """Last in each scope: value_info names without an id, sorted by name, each once."""
        for name in sorted({vi.name for vi in self.value_infos} - set(self.ids), key=_b):
            self.number(name)


class SemanticBuilder:
    """One walk over the model building the documents of SPEC 8.4."""

    def __init__(self, model: onnx.ModelProto, base: Path) -> None:
        self.model = model
        self.base = base
        self.meta: list[tuple[str, Any]] = []
        self.weights: list[list[str]] = []
        self.tensors: list[tuple[str, str, str]] = []

    # -- weights ---------------------------------------------------------------------------
    def _dense_weight(self, wid: str, t: onnx.TensorProto, name: str, key: str) -> None:
        digest = dense_digest(t, self.base)
        self.weights.append([wid, digest])
        self.tensors.append((wid, name, digest))
        self._tensor_meta(key, t)

    def _sparse_weight(self, wid: str, sp: onnx.SparseTensorProto, name: str) -> None:
        digest = sparse_digest(sp, self.base)
        self.weights.append([wid, digest])
        self.tensors.append((wid, name, digest))
        self._tensor_meta(f"tensor:{wid}.values", sp.values)
        self._tensor_meta(f"tensor:{wid}.indices", sp.indices)

    def _tensor_meta(self, key: str, t: onnx.TensorProto) -> None:
        if t.name:
            self.meta.append((f"{key}.name", t.name))
        if t.doc_string:
            self.meta.append((f"{key}.doc_string", t.doc_string))
        if t.metadata_props:
            self.meta.append((f"{key}.metadata_props", props(t.metadata_props)))
        for e in t.external_data:
            if e.key == "checksum":
                self.meta.append((f"{key}.external_data.checksum", e.value))

    # -- documents ---------------------------------------------------------------------------
    def attribute(
        self, a: onnx.AttributeProto, aid: str, scope: _Scope, table: frozenset[str]
    ) -> dict[str, Any]:
        tname = ATTR_TYPE.Name(a.type)
        assert tname != "UNDEFINED"
        if a.doc_string:
            self.meta.append((f"attribute:{aid}.doc_string", a.doc_string))
        if a.ref_attr_name:
            return {"name": a.name, "type": tname, "ref": a.ref_attr_name}
        value: Any
        if a.type in _SCALAR_TYPES and a.name in table:
            value = {"weight": aid}
            digest = attribute_digest(a)
            self.weights.append([aid, digest])
            self.tensors.append((aid, aid, digest))
        elif a.type == _A.FLOAT:
            value = struct.pack("<f", a.f).hex()
        elif a.type == _A.INT:
            value = str(a.i)
        elif a.type == _A.STRING:
            value = a.s.hex()
        elif a.type == _A.FLOATS:
            value = [struct.pack("<f", f).hex() for f in a.floats]
        elif a.type == _A.INTS:
            value = [str(i) for i in a.ints]
        elif a.type == _A.STRINGS:
            value = [s.hex() for s in a.strings]
        elif a.type in (_A.TENSOR, _A.TENSORS):
            ts = [a.t] if a.type == _A.TENSOR else list(a.tensors)
            items = []
            for k, t in enumerate(ts):
                wid = aid if a.type == _A.TENSOR else f"{aid}.{k}"
                self._dense_weight(wid, t, t.name or wid, f"tensor:{wid}")
                items.append(
                    {"weight": wid, "dtype": t.data_type, "dims": [str(d) for d in t.dims]}
                )
            value = items[0] if a.type == _A.TENSOR else items
        elif a.type in (_A.SPARSE_TENSOR, _A.SPARSE_TENSORS):
            sps = [a.sparse_tensor] if a.type == _A.SPARSE_TENSOR else list(a.sparse_tensors)
            items = []
            for k, sp in enumerate(sps):
                wid = aid if a.type == _A.SPARSE_TENSOR else f"{aid}.{k}"
                self._sparse_weight(wid, sp, sp.values.name or wid)
                items.append(
                    {"weight": wid, "dtype": sp.values.data_type, "dims": [str(d) for d in sp.dims]}
                )
            value = items[0] if a.type == _A.SPARSE_TENSOR else items
        elif a.type == _A.GRAPH:
            value = self.graph(a.g, aid, scope)
        elif a.type == _A.GRAPHS:
            value = [self.graph(g, f"{aid}.{k}", scope) for k, g in enumerate(a.graphs)]
        elif a.type == _A.TYPE_PROTO:
            value = type_doc(a.tp)
        else:
            assert a.type == _A.TYPE_PROTOS
            value = [type_doc(tp) for tp in a.type_protos]
        return {"name": a.name, "type": tname, "value": value}

    def node(self, node: onnx.NodeProto, scope: _Scope) -> dict[str, Any]:
        nid = f"{scope.prefix}n{scope.nodes}"
        scope.nodes += 1
        for field in ("name", "doc_string"):
            if getattr(node, field):
                self.meta.append((f"node:{nid}.{field}", getattr(node, field)))
        if node.metadata_props:
            self.meta.append((f"node:{nid}.metadata_props", props(node.metadata_props)))
        table = WEIGHT_ATTRIBUTES.get((_domain(node.domain), node.op_type), frozenset())
        return {
            "id": nid,
            "op": node.op_type,
            "domain": _domain(node.domain),
            "overload": node.overload,
            "inputs": [scope.id(n) for n in node.input],
            "outputs": [scope.id(n) for n in node.output],
            "attributes": [
                self.attribute(a, f"{nid}.{a.name}", scope, table)
                for a in _sorted_attrs(node.attribute)
            ],
        }

    def _value_info_meta(self, key: str, vi: onnx.ValueInfoProto) -> None:
        if vi.doc_string:
            self.meta.append((f"{key}.doc_string", vi.doc_string))
        if vi.metadata_props:
            self.meta.append((f"{key}.metadata_props", props(vi.metadata_props)))

    def graph(self, g: onnx.GraphProto, gid: str, scope: _Scope) -> dict[str, Any]:
        self.meta.append((f"graph:{gid}.name", g.name))
        if g.doc_string:
            self.meta.append((f"graph:{gid}.doc_string", g.doc_string))
        if g.metadata_props:
            self.meta.append((f"graph:{gid}.metadata_props", props(g.metadata_props)))

        def vi_doc(vi: onnx.ValueInfoProto, what: str) -> dict[str, Any]:
            self._value_info_meta(f"graph:{gid}.{what}:{scope.id(vi.name)}", vi)
            return {
                "id": scope.id(vi.name),
                "type": type_doc(vi.type) if vi.HasField("type") else None,
            }

        inputs = [vi_doc(vi, "input") for vi in g.input]
        outputs = [vi_doc(vi, "output") for vi in g.output]
        inits = []
        for t in sorted(g.initializer, key=lambda t: scope.n_of(scope.ids[t.name])):
            wid = scope.ids[t.name]
            self._dense_weight(wid, t, t.name, f"tensor:{wid}")
            inits.append({"id": wid, "dtype": t.data_type, "dims": [str(d) for d in t.dims]})
        sparse = []
        for sp in sorted(g.sparse_initializer, key=lambda s: scope.n_of(scope.ids[s.values.name])):
            wid = scope.ids[sp.values.name]
            self._sparse_weight(wid, sp, sp.values.name)
            sparse.append(
                {"id": wid, "dtype": sp.values.data_type, "dims": [str(d) for d in sp.dims]}
            )
        nodes = [self.node(n, scope) for n in g.node]
        for vi in g.value_info:
            self._value_info_meta_full(f"graph:{gid}.value_info:{scope.id(vi.name)}", vi)
        return {
            "inputs": inputs,
            "outputs": outputs,
            "initializers": inits,
            "sparse_initializers": sparse,
            "nodes": nodes,
        }

    def _value_info_meta_full(self, key: str, vi: onnx.ValueInfoProto) -> None:
        self.meta.append((f"{key}.type", type_doc(vi.type) if vi.HasField("type") else None))
        self._value_info_meta(key, vi)

    def function(self, f: onnx.FunctionProto, i: int, scope: _Scope) -> dict[str, Any]:
        if f.doc_string:
            self.meta.append((f"function:{i}.doc_string", f.doc_string))
        if f.metadata_props:
            self.meta.append((f"function:{i}.metadata_props", props(f.metadata_props)))
        nodes = [self.node(n, scope) for n in f.node]
        defaults = [
            self.attribute(a, f"f{i}.attr.{a.name}", scope, frozenset())
            for a in _sorted_attrs(f.attribute_proto)
        ]
        for vi in f.value_info:
            self._value_info_meta_full(f"function:{i}.value_info:{scope.id(vi.name)}", vi)
        return {
            "domain": f.domain,
            "name": f.name,
            "overload": f.overload,
            "inputs": [scope.id(n) for n in f.input],
            "outputs": [scope.id(n) for n in f.output],
            "attributes": sorted(f.attribute, key=_b),
            "attribute_defaults": defaults,
            "opsets": opsets(f.opset_import),
            "nodes": nodes,
        }

    def build(self) -> Semantic:
        m = self.model
        main = _Scope("", self.base)
        main.walk_graph(m.graph)
        main.finish()
        functions = sorted(m.functions, key=lambda f: (_b(f.domain), _b(f.name), _b(f.overload)))
        scopes = []
        for i, f in enumerate(functions):
            sc = _Scope(f"f{i}.", self.base)
            for name in f.input:
                sc.number(name)
            sc.walk_nodes(f.node)
            for name in f.output:
                sc.number(name)
            sc.value_infos.extend(f.value_info)
            sc.finish()
            scopes.append(sc)

        graph_doc = {
            "scheme": "onnx-semantic/v1",
            "opsets": opsets(m.opset_import),
            "graph": self.graph(m.graph, "main", main),
            "functions": [self.function(f, i, scopes[i]) for i, f in enumerate(functions)],
        }
        self.meta += [
            ("model.ir_version", str(m.ir_version)),
            ("model.model_version", str(m.model_version)),
            ("model.producer_name", m.producer_name),
            ("model.producer_version", m.producer_version),
            ("model.domain", m.domain),
            ("model.doc_string", m.doc_string),
            ("model.metadata_props", props(m.metadata_props)),
        ]
        for sc in [main, *scopes]:
            self.meta += [(f"name:{vid}", name) for name, vid in sc.ids.items()]
        metadata = sorted(([k, v] for k, v in self.meta), key=lambda kv: (_b(kv[0]), jcs(kv[1])))
        return Semantic(graph_doc, self.weights, metadata, self.tensors)


def semantic_of(path: Path) -> Semantic:
    """SPEC 8 fingerprint of the model file at `path` (external data read beside it)."""
    model = onnx.load(str(path), load_external_data=False)
    return SemanticBuilder(model, path.parent).build()


# --------------------------------------------------------------------------------------------
# SPEC 8: a corpus of models exercising every rule (each passes onnx.checker.check_model)
# --------------------------------------------------------------------------------------------

_ML = "ai.onnx.ml"


def _vi(
    name: str,
    elem: int | None = TensorProto.FLOAT,
    shape: Sequence[int | str] | None = None,
    doc: str = "",
    meta: dict[str, str] | None = None,
) -> onnx.ValueInfoProto:
    if elem is None:  # a ValueInfoProto without type
        vi = onnx.ValueInfoProto(name=name)
    else:
        vi = helper.make_tensor_value_info(name, elem, shape)
    vi.doc_string = doc
    for k, v in (meta or {}).items():
        vi.metadata_props.add(key=k, value=v)
    return vi


def _meta(msg: Any, **entries: str) -> Any:
    for k, v in entries.items():
        msg.metadata_props.add(key=k, value=v)
    return msg


def _f32(name: str, values: Sequence[float], dims: Sequence[int], raw: bool) -> onnx.TensorProto:
    if raw:
        return numpy_helper.from_array(np.array(values, dtype="<f4").reshape(dims), name)
    return helper.make_tensor(name, TensorProto.FLOAT, dims, list(values))


def _sparse(
    name: str, values: Sequence[float], indices: Sequence[int], dims: Sequence[int]
) -> onnx.SparseTensorProto:
    vals = helper.make_tensor(name, TensorProto.FLOAT, [len(values)], list(values))
    idx = helper.make_tensor(name + "_idx", TensorProto.INT64, [len(indices)], list(indices))
    return helper.make_sparse_tensor(vals, idx, list(dims))


def _model(
    graph: onnx.GraphProto,
    imports: Sequence[tuple[str, int]],
    ir_version: int = 10,
    functions: Sequence[onnx.FunctionProto] = (),
    check: bool = True,
) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in imports],
        functions=list(functions),
    )
    model.ir_version = ir_version
    if check:  # a model with external data is checked from its file (see model_external)
        onnx.checker.check_model(model)
    return model


def _typed_initializers() -> list[onnx.TensorProto]:
    """One unused initializer per storage form and data type (typed fields unless raw)."""
    mk = helper.make_tensor
    out = [
        mk("i64", TensorProto.INT64, [3], [1, -2, 2**40]),
        mk("dbl", TensorProto.DOUBLE, [2], [0.1, -1e300]),
        mk("f16", TensorProto.FLOAT16, [2], [1.0, -2.5]),
        mk("bf16", TensorProto.BFLOAT16, [2], [1.0, 3.0]),
        mk("bool", TensorProto.BOOL, [3], [True, False, True]),
        mk("u64", TensorProto.UINT64, [1], [2**64 - 1]),
        mk("u32", TensorProto.UINT32, [2], [1, 2**32 - 1]),
        mk("i8", TensorProto.INT8, [2], [-1, 127]),
        mk("u16", TensorProto.UINT16, [1], [65535]),
        mk("i4", TensorProto.INT4, [3], [1, -2, 3]),
        mk("u2", TensorProto.UINT2, [5], [1, 2, 3, 0, 1]),
        mk("f4e2m1", TensorProto.FLOAT4E2M1, [3], [1.0, 0.5, 2.0]),
        mk("f6", TensorProto.FLOAT6E2M3, [2], [1.0, 0.5]),
        mk("f8", TensorProto.FLOAT8E4M3FN, [2], [1.0, 0.5]),
        mk("f8e8m0", TensorProto.FLOAT8E8M0, [2], [1.0, 2.0]),
        mk("c64", TensorProto.COMPLEX64, [1], [1 + 2j]),
        mk("c128", TensorProto.COMPLEX128, [1], [3 - 4j]),
        mk("scalar", TensorProto.FLOAT, [], [7.0]),
        mk("empty", TensorProto.FLOAT, [0, 3], []),
        mk("str", TensorProto.STRING, [2, 1], [b"caf\xc3\xa9", b""]),
        numpy_helper.from_array(np.array([[1, 2], [3, -4]], dtype="<i4"), "raw_i32"),
        numpy_helper.from_array(np.array([-3, 3], dtype="<i2"), "\u65e5\u672c\u8a9e"),
    ]
    return out


def model_rich_main() -> onnx.ModelProto:
    """Main graph only: initializers (used, unused, identical unused), sparse initializers,
    every attribute type on a custom-domain node, GRAPH/GRAPHS subgraphs, value_info, an
    omitted optional input and output, Constant variants, doc strings and metadata_props on
    every message SPEC 8.4 lists."""
    sub_init = _f32("sub_w", [5.0, 6.0], [2], raw=False)
    sub_init.doc_string = "in a subgraph"
    sub = helper.make_graph(
        [helper.make_node("Add", ["C", "sub_w"], ["sub_out"], name="inner add")],
        "attr graph",
        [],
        [_vi("sub_out", TensorProto.FLOAT, [2], doc="subgraph output doc")],
        initializer=[sub_init],
        value_info=[_vi("sub_ghost", TensorProto.INT8, [1], doc="annotates nothing")],
        doc_string="subgraph doc",
    )
    _meta(sub, sg="1")
    g_a = helper.make_graph(
        [helper.make_node("Neg", ["H"], ["ga_out"])], "a", [], [_vi("ga_out", None)]
    )
    g_b = helper.make_graph(
        [helper.make_node("Identity", ["ga_out2_in"], ["gb_out"])],
        "second",
        [_vi("ga_out2_in", shape=[2], doc="subgraph input doc", meta={"k": "v"})],
        [_vi("gb_out", shape=[2])],
    )
    ttype = helper.make_tensor_type_proto(TensorProto.FLOAT, [0, "N"])
    ttype.tensor_type.shape.dim[1].denotation = "BATCH"
    ttype.denotation = "TENSOR"
    seq_type = helper.make_sequence_type_proto(helper.make_tensor_type_proto(TensorProto.INT64, []))
    map_type = helper.make_map_type_proto(
        TensorProto.STRING, helper.make_tensor_type_proto(TensorProto.DOUBLE, None)
    )
    opt_type = helper.make_optional_type_proto(
        helper.make_sparse_tensor_type_proto(TensorProto.FLOAT, [3])
    )
    opaque = onnx.TypeProto()
    opaque.opaque_type.domain = "custom.a"
    opaque.opaque_type.name = "Blob"
    t_attr = _f32("t_attr_name", [1.5, -2.0], [1, 2], raw=True)
    t_attr.doc_string = "tensor attribute doc"
    _meta(t_attr, origin="attr")
    t_noname = helper.make_tensor("", TensorProto.INT32, [2], [4, 5])
    ts = [helper.make_tensor("ts0", TensorProto.INT64, [1], [9]), t_noname]
    sps = [_sparse("sp_attr0", [1.0], [2], [4]), _sparse("", [2.0, 3.0], [0, 1], [2, 2])]
    everything = helper.make_node(
        "Everything",
        ["C", "", "SP_used"],
        ["E1", "", "E2"],
        domain="custom.a",
        name="every attribute type",
        doc_string="node doc",
        zf=-0.0,
        an_int=-3,
        s=b"\x00bytes\xff",
        t=t_attr,
        g=sub,
        floats=[1.0, float("inf"), float("nan")],
        ints=[0, -1, 2**62],
        strings=[b"a", b"", "\u00e9".encode()],
        tensors=ts,
        graphs=[g_a, g_b],
        sp=_sparse("sp_attr", [4.0], [1], [3]),
        sps=sps,
        tp=ttype,
        tps=[seq_type, map_type, opt_type, opaque, onnx.TypeProto()],
    )
    _meta(everything, owner="me", a="b")
    for a in everything.attribute:
        if a.name in ("g", "zf"):
            a.doc_string = f"doc of {a.name}"
    everything.attribute.extend([helper.make_attribute("empty_floats", [], attr_type=_A.FLOATS)])
    w = _f32("W", [float(i) for i in range(16)], [4, 4], raw=True)
    b = _f32("B", [0.5, 0.25, -1.0, 2.0], [4], raw=False)
    b.doc_string = "bias"
    _meta(b, unit="logit")
    maxv = _f32("maxv", [6.0], [], raw=False)
    zeta = _f32("zeta", [1.0, 1.0], [2], raw=True)
    alpha = _f32("alpha", [1.0, 1.0], [2], raw=False)  # identical to zeta, unused
    x_default = _f32("X_default", [0.0, 0.0], [2], raw=True)  # an initializer also an input
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["H"], name="mm", doc_string="matmul"),
        helper.make_node("Add", ["H", "B"], ["H2"]),
        helper.make_node("Clip", ["H2", "", "maxv"], ["C"], name="clip"),
        everything,
        helper.make_node("Constant", [], ["K1"], value_floats=[1.0, 2.0]),
        helper.make_node("Constant", [], ["K2"], value=t_noname),
        helper.make_node("Constant", [], ["K3"], sparse_value=_sparse("k3", [1.0], [0], [2])),
        helper.make_node("Constant", [], ["K4"], value_string="s\u00e9"),
        helper.make_node("Constant", [], ["K5"], value_int=-7),
        helper.make_node("Constant", [], ["K6"], value_strings=["x", "y"]),
        helper.make_node("Constant", [], ["K7"], value_float=0.1),
        helper.make_node("Constant", [], ["K8"]),
        helper.make_node("Dropout", ["H", "", ""], ["D"]),
        helper.make_node("Add", ["X_default", "D"], ["D2"]),
        helper.make_node("Mul", ["D2", "D2"], ["Z"]),
    ]
    nodes[11].attribute.append(helper.make_attribute("value_ints", [], attr_type=_A.INTS))
    graph = helper.make_graph(
        nodes,
        "rich \u00e9",
        [
            _vi("X", TensorProto.FLOAT, ["N", 4], doc="input doc", meta={"z": "1", "a": "2"}),
            _vi("X_default", TensorProto.FLOAT, [2]),
        ],
        [
            _vi("Z", TensorProto.FLOAT, ["N", 4], doc="output doc"),
            _vi("E1", TensorProto.FLOAT, [1]),
            _vi("E2", TensorProto.FLOAT, []),
            _vi("K2", TensorProto.INT32, [2], meta={"m": "n"}),
        ],
        initializer=[zeta, *_typed_initializers(), w, alpha, b, maxv, x_default],
        value_info=[
            _vi("H2", None, doc="no type"),
            _vi("H", TensorProto.FLOAT, ["N", 4], doc="hidden", meta={"q": "r"}),
            _vi("ghost_b", TensorProto.FLOAT, [1]),
            _vi("ghost_a", TensorProto.FLOAT, [1], meta={"g": "h"}),
        ],
        doc_string="main graph doc",
        sparse_initializer=[
            _sparse("SP_unused_b", [1.0, 2.0], [0, 3], [4]),
            _sparse("SP_used", [3.0], [1], [2]),
            _sparse("SP_unused_a", [1.0, 2.0], [0, 3], [4]),
        ],
    )
    _meta(graph, z="last", a="first", m="x")
    used_sparse = graph.sparse_initializer[1]
    used_sparse.values.doc_string = "sparse values doc"
    _meta(used_sparse.indices, role="indices")
    used_sparse.indices.doc_string = "sparse indices doc"
    # equal metadata keys: P sorts by key then value; entries sort by key then JCS(value)
    graph.node[0].metadata_props.add(key="dup", value="z")
    graph.node[0].metadata_props.add(key="dup", value="a")
    graph.value_info.extend(
        [_vi("H", TensorProto.FLOAT, ["N", 4], doc="zz again"), _vi("H", None, doc="aa third")]
    )
    model = _model(
        graph,
        [("", 21), ("custom.a", 10), ("custom.a", 9), ("ai.onnx", 21), ("b.dom", 1)],
    )
    model.producer_name = "pr\u00f6ducer"
    model.producer_version = "1.2.3"
    model.domain = "org.example"
    model.model_version = 7
    model.doc_string = "a model doc \u2713"
    _meta(model, zkey="1", akey="2", mkey="")
    onnx.checker.check_model(model)
    return model


@dataclass
class ModelRun:
    """The tool's answer for one model: `--json` summary, manifest, and our computation."""

    path: Path
    summary: dict[str, Any]
    manifest: dict[str, Any]
    mine: Semantic


def run_model(path: Path) -> ModelRun:
    out = path.parent / (path.name + ".lineage.json")
    proc = run_cli("fingerprint", "--model", path.name, "--json", "-o", str(out), cwd=path.parent)
    assert proc.returncode == 0, f"{path.name}: {proc.stdout}\n{proc.stderr}"
    summary = json.loads(proc.stdout)
    manifest = json.loads(out.read_text(encoding="utf-8"))
    return ModelRun(path, summary, manifest, semantic_of(path))


def compare_model(run: ModelRun) -> list[str]:
    """Every difference between the tool and SPEC 8 as computed here (empty when none)."""
    problems: list[str] = []
    name = run.path.name
    mine = run.mine.digests
    if run.summary["model"]["semantic"] != mine:
        problems.append(f"--json semantic {run.summary['model']['semantic']} != {mine}")
    (sem,) = of_kind(run.manifest, "model-semantic")
    expected_sem = {"kind": "model-semantic", "path": name, "scheme": "onnx-semantic/v1", **mine}
    if sem != expected_sem:
        problems.append(f"model-semantic leaf {sem} != {expected_sem}")
    tool_tensors = {(t["tensor"], t["name"], t["digest"]) for t in of_kind(run.manifest, "tensor")}
    my_tensors = set(run.mine.tensors)
    assert len(my_tensors) == len(run.mine.tensors)
    if tool_tensors != my_tensors or any(
        t["path"] != name for t in of_kind(run.manifest, "tensor")
    ):
        problems.append(
            f"tensor leaves: only in tool {sorted(tool_tensors - my_tensors)}; "
            f"only mine {sorted(my_tensors - tool_tensors)}"
        )
    if root_from_manifest(run.manifest) != run.manifest["root"]:
        problems.append("manifest root does not recompute")
    return problems


def model_control_flow() -> onnx.ModelProto:
    """If / Loop / Scan with their own initializers, nested subgraphs, outer-scope references,
    subgraph value_info and doc strings (SPEC 8.2 one scope for the main graph and its
    subgraphs; pre-order node ids; graph ids AID and AID.k)."""
    f = TensorProto.FLOAT
    inner_then = helper.make_graph(
        [helper.make_node("Add", ["X", "deep_w"], ["it_out"], name="deepest")],
        "inner_then",
        [],
        [_vi("it_out", f, [2])],
        initializer=[_f32("deep_w", [9.0, 9.0], [2], raw=True)],
    )
    inner_else = helper.make_graph(
        [helper.make_node("Identity", ["main_w"], ["ie_out"])],
        "inner_else",
        [],
        [_vi("ie_out", f, [2])],
        # an initializer identical to one of the main graph, under another name
        initializer=[_f32("copy_of_main_w", [1.0, 2.0], [2], raw=False)],
    )
    then_g = helper.make_graph(
        [helper.make_node("Add", ["X", "then_w"], ["then_out"])],
        "then",
        [],
        [_vi("then_out", f, [2], doc="then output")],
        initializer=[_f32("then_w", [3.0, 4.0], [2], raw=True)],
        doc_string="then branch",
    )
    else_g = helper.make_graph(
        [
            helper.make_node(
                "If", ["cond"], ["else_out"], then_branch=inner_then, else_branch=inner_else
            )
        ],
        "else",
        [],
        [_vi("else_out", f, [2])],
        value_info=[_vi("never", f, [3], doc="annotation in a nested graph")],
    )
    _meta(else_g, branch="else")
    body = helper.make_graph(
        [
            helper.make_node("Add", ["x_in", "loop_w"], ["x_out"], name="loop add"),
            helper.make_node("Identity", ["c_in"], ["c_out"]),
            helper.make_node("Mul", ["x_out", "main_w"], ["scan_o"]),
        ],
        "loop body",
        [_vi("i", TensorProto.INT64, []), _vi("c_in", TensorProto.BOOL, []), _vi("x_in", f, [2])],
        [_vi("c_out", TensorProto.BOOL, []), _vi("x_out", f, [2]), _vi("scan_o", f, [2])],
        initializer=[_f32("loop_w", [0.5, 0.5], [2], raw=False)],
        value_info=[_vi("x_out", f, [2], doc="body value")],
    )
    scan_body = helper.make_graph(
        [
            helper.make_node("Add", ["s_state", "s_in"], ["s_next"]),
            helper.make_node("Mul", ["s_next", "scan_k"], ["s_out"]),
        ],
        "scan body",
        [_vi("s_state", f, [2]), _vi("s_in", f, [2])],
        [_vi("s_next", f, [2]), _vi("s_out", f, [2])],
        initializer=[_f32("scan_k", [2.0, 2.0], [2], raw=True)],
        sparse_initializer=[_sparse("scan_sparse", [1.0], [1], [2])],
    )
    nodes = [
        helper.make_node(
            "If", ["cond"], ["if_out"], name="branch", then_branch=then_g, else_branch=else_g
        ),
        helper.make_node("Loop", ["trip", "cond", "if_out"], ["final", "scans"], body=body),
        helper.make_node(
            "Scan", ["X", "seq"], ["scan_state", "scan_outs"], body=scan_body, num_scan_inputs=1
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "control flow",
        [
            _vi("X", f, [2]),
            _vi("cond", TensorProto.BOOL, []),
            _vi("trip", TensorProto.INT64, []),
            _vi("seq", f, [3, 2]),
        ],
        [
            _vi("final", f, [2]),
            _vi("scans", f, ["T", 2]),
            _vi("scan_state", f, [2]),
            _vi("scan_outs", f, [3, 2]),
        ],
        initializer=[_f32("main_w", [1.0, 2.0], [2], raw=True)],
    )
    return _model(graph, [("", 21)])


def _function(
    domain: str,
    name: str,
    overload: str,
    inputs: list[str],
    outputs: list[str],
    nodes: list[onnx.NodeProto],
    attributes: Sequence[str] = (),
    defaults: Sequence[onnx.AttributeProto] = (),
    value_info: Sequence[onnx.ValueInfoProto] = (),
    imports: Sequence[tuple[str, int]] = (("", 21),),
    doc: str = "",
) -> onnx.FunctionProto:
    f = helper.make_function(
        domain,
        name,
        inputs,
        outputs,
        nodes,
        [helper.make_opsetid(d, v) for d, v in imports],
        attributes=list(attributes),
        attribute_protos=list(defaults),
        doc_string=doc,
        overload=overload,
    )
    f.value_info.extend(value_info)
    return f


def model_functions() -> onnx.ModelProto:
    """Model-local functions stored out of their sorted order, with overloads, declared
    attributes, attribute defaults (FLOAT, TENSOR, TENSORS, INTS), reference attributes,
    a Constant of a reference attribute, a subgraph with an initializer inside a function,
    function value_info, doc strings and metadata_props (SPEC 8.2 scopes fI., 8.4 F)."""
    f = TensorProto.FLOAT
    ref_alpha = helper.make_attribute_ref("value_float", _A.FLOAT)
    ref_alpha.ref_attr_name = "alpha"
    const_alpha = helper.make_node("Constant", [], ["a"])
    const_alpha.attribute.append(ref_alpha)
    ref_t = helper.make_attribute_ref("value", _A.TENSOR)
    ref_t.ref_attr_name = "wt"
    ref_t.doc_string = "reference attribute doc"
    const_wt = helper.make_node("Constant", [], ["w2"], name="from default")
    const_wt.attribute.append(ref_t)
    then_g = helper.make_graph(
        [helper.make_node("Add", ["y0", "fn_then_w"], ["t_out"])],
        "fn then",
        [],
        [_vi("t_out", f, [2])],
        initializer=[_f32("fn_then_w", [7.0, 8.0], [2], raw=True)],
    )
    else_g = helper.make_graph(
        [helper.make_node("Identity", ["y0"], ["e_out"])], "fn else", [], [_vi("e_out", f, [2])]
    )
    wt = _f32("wt_default", [0.0, 1.0], [2], raw=False)
    wt.doc_string = "default tensor"
    defaults = [
        helper.make_attribute("wt", wt),
        helper.make_attribute("alpha", 0.5, doc_string="alpha default"),
        helper.make_attribute("zs", [1, 2, 3]),
        helper.make_attribute(
            "tl",
            [helper.make_tensor("", TensorProto.INT64, [1], [5]), _f32("tl1", [1.0], [1], True)],
        ),
    ]
    alpha_plain = _function(
        "custom.a",
        "Alpha",
        "",
        ["x", "cond"],
        ["y"],
        [
            const_alpha,
            helper.make_node("Mul", ["x", "a"], ["y0"], name="scale", doc_string="fn node doc"),
            helper.make_node("If", ["cond"], ["y1"], then_branch=then_g, else_branch=else_g),
            const_wt,
            helper.make_node("Add", ["y1", "w2"], ["y"]),
            helper.make_node("Constant", [], ["unused_c"], value=_f32("", [3.0], [1], True)),
            helper.make_node("Constant", [], ["unused_i"], value_ints=[1, 2]),
        ],
        attributes=["beta", "Zeta"],
        defaults=defaults,
        value_info=[
            _vi("y0", f, [2], doc="function value info", meta={"vi": "1"}),
            _vi("only_annotated", None),
        ],
        doc="Alpha doc",
    )
    _meta(alpha_plain, fkey="fval")
    alpha_v2 = _function(
        "custom.a", "Alpha", "v2", ["x"], ["y"], [helper.make_node("Neg", ["x"], ["y"])]
    )
    zed = _function(
        "custom.b",
        "Zed",
        "",
        ["p", "q"],
        ["r"],
        [
            helper.make_node(
                "Alpha", ["p", "q"], ["r"], domain="custom.a", alpha=2.0, name="calls Alpha"
            )
        ],
        imports=[("", 21), ("custom.a", 1)],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Zed", ["X", "C"], ["Z1"], domain="custom.b"),
            helper.make_node("Alpha", ["Z1"], ["Z2"], domain="custom.a"),
            helper.make_node("Alpha", ["Z2", "C"], ["Y"], domain="custom.a", alpha=3.0, zs=[4]),
        ],
        "functions",
        [_vi("X", f, [2]), _vi("C", TensorProto.BOOL, [])],
        [_vi("Y", f, [2])],
    )
    graph.node[1].overload = "v2"  # calls the overload "v2" of custom.a Alpha
    return _model(
        graph,
        [("", 21), ("custom.a", 1), ("custom.b", 1)],
        functions=[zed, alpha_v2, alpha_plain],
    )


def _ml_nodes() -> list[onnx.NodeProto]:
    """One node per operator of the SPEC 8.3 table (and some non-weight settings beside)."""
    mk = helper.make_node
    return [
        mk(
            "TfIdfVectorizer",
            ["I"],
            ["tfidf"],
            mode="TFIDF",
            min_gram_length=1,
            max_gram_length=2,
            max_skip_count=0,
            ngram_counts=[0, 2],
            ngram_indexes=[0, 1, 2],
            pool_int64s=[2, 3, 5, 4],
            weights=[1.0, 0.5, 0.25],
        ),
        mk(
            "TfIdfVectorizer",
            ["S"],
            ["tfidf_s"],
            mode="TF",
            min_gram_length=1,
            max_gram_length=1,
            max_skip_count=0,
            ngram_counts=[0],
            ngram_indexes=[0, 1],
            pool_strings=["a", "b"],
        ),
        mk("Constant", [], ["const_f"], value_float=1.25),
        mk(
            "CategoryMapper",
            ["S"],
            ["cm"],
            domain=_ML,
            cats_int64s=[1, 2],
            cats_strings=["a", "b"],
            default_int64=-1,
        ),
        mk("DictVectorizer", ["D"], ["dv"], domain=_ML, string_vocabulary=["a", "b"]),
        mk(
            "Imputer",
            ["X"],
            ["imp"],
            domain=_ML,
            imputed_value_floats=[0.0, 1.0, 2.0],
            replaced_value_float=-1.0,
        ),
        mk(
            "LabelEncoder",
            ["S"],
            ["le"],
            domain=_ML,
            keys_strings=["a", "b"],
            values_int64s=[1, 2],
            default_int64=-1,
        ),
        mk(
            "LinearClassifier",
            ["X"],
            ["lc_label", "lc_scores"],
            domain=_ML,
            coefficients=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            intercepts=[0.0, 1.0],
            classlabels_ints=[0, 1],
            post_transform="LOGISTIC",
            multi_class=0,
        ),
        mk(
            "LinearRegressor",
            ["X"],
            ["lr"],
            domain=_ML,
            coefficients=[1.0, 2.0, 3.0],
            intercepts=[0.5],
            targets=1,
        ),
        mk("OneHotEncoder", ["S"], ["ohe"], domain=_ML, cats_strings=["a", "b"], zeros=1),
        mk(
            "SVMClassifier",
            ["X"],
            ["svc_label", "svc_scores"],
            domain=_ML,
            classlabels_strings=["no", "yes"],
            coefficients=[1.0, -1.0],
            kernel_params=[0.1, 0.0, 3.0],
            kernel_type="RBF",
            prob_a=[0.5],
            prob_b=[0.1],
            rho=[0.2],
            support_vectors=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            vectors_per_class=[1, 1],
        ),
        mk(
            "SVMRegressor",
            ["X"],
            ["svr"],
            domain=_ML,
            coefficients=[1.0],
            kernel_params=[0.1, 0.0, 3.0],
            n_supports=1,
            rho=[0.3],
            support_vectors=[1.0, 2.0, 3.0],
        ),
        mk("Scaler", ["X"], ["sc"], domain=_ML, offset=[1.0, 2.0, 3.0], scale=[0.5, 0.5, 0.5]),
        mk(
            "TreeEnsembleClassifier",
            ["X"],
            ["tc_label", "tc_scores"],
            domain=_ML,
            base_values=[0.0, 0.0],
            class_ids=[0, 1],
            class_nodeids=[1, 2],
            class_treeids=[0, 0],
            class_weights=[1.0, 1.0],
            classlabels_int64s=[0, 1],
            nodes_falsenodeids=[2, 0, 0],
            nodes_featureids=[0, 0, 0],
            nodes_hitrates=[1.0, 1.0, 1.0],
            nodes_missing_value_tracks_true=[0, 0, 0],
            nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"],
            nodes_nodeids=[0, 1, 2],
            nodes_treeids=[0, 0, 0],
            nodes_truenodeids=[1, 0, 0],
            nodes_values=[0.5, 0.0, 0.0],
            post_transform="NONE",
        ),
        mk(
            "TreeEnsembleRegressor",
            ["X"],
            ["tr"],
            domain=_ML,
            n_targets=1,
            base_values=[0.0],
            nodes_falsenodeids=[2, 0, 0],
            nodes_featureids=[1, 0, 0],
            nodes_hitrates=[1.0, 1.0, 1.0],
            nodes_missing_value_tracks_true=[1, 0, 0],
            nodes_modes=["BRANCH_LT", "LEAF", "LEAF"],
            nodes_nodeids=[0, 1, 2],
            nodes_treeids=[0, 0, 0],
            nodes_truenodeids=[1, 0, 0],
            nodes_values=[1.5, 0.0, 0.0],
            target_ids=[0, 0],
            target_nodeids=[1, 2],
            target_treeids=[0, 0],
            target_weights=[-1.0, 1.0],
            aggregate_function="SUM",
        ),
        mk("ZipMap", ["lc_scores"], ["zm"], domain=_ML, classlabels_int64s=[0, 1]),
        mk(
            "TreeEnsembleClassifier",
            ["X"],
            ["tc2_label", "tc2_scores"],
            domain=_ML,
            class_ids=[0],
            class_nodeids=[0],
            class_treeids=[0],
            class_weights=[1.0],
            classlabels_strings=["only"],
            nodes_falsenodeids=[0],
            nodes_featureids=[0],
            nodes_modes=["LEAF"],
            nodes_nodeids=[0],
            nodes_treeids=[0],
            nodes_truenodeids=[0],
            nodes_values=[0.0],
        ),
        mk("Binarizer", ["X"], ["bin"], domain=_ML, threshold=0.5),
        mk("FeatureVectorizer", ["X", "imp"], ["fv"], domain=_ML, inputdimensions=[3, 3]),
        mk("Normalizer", ["X"], ["norm"], domain=_ML, norm="L2"),
    ]


def model_ml_ops() -> onnx.ModelProto:
    f = TensorProto.FLOAT
    nodes = _ml_nodes()
    outputs = [_vi(o, None) for n in nodes for o in n.output]
    d_type = helper.make_map_type_proto(TensorProto.STRING, helper.make_tensor_type_proto(f, []))
    graph = helper.make_graph(
        nodes,
        "ml",
        [
            _vi("X", f, [1, 3]),
            _vi("I", TensorProto.INT64, [4]),
            _vi("S", TensorProto.STRING, [2]),
            helper.make_value_info("D", d_type),
        ],
        [_vi("tr", f, [1, 1])],
        value_info=outputs,
    )
    return _model(graph, [("", 21), (_ML, 3)])


def model_ml_ops_v5() -> onnx.ModelProto:
    """ai.onnx.ml opset 5 (TreeEnsemble with tensor attributes), the other attributes of the
    table, and ops that look like table entries but are not (custom domain)."""
    f = TensorProto.FLOAT
    mk = helper.make_node
    nodes = [
        mk(
            "TreeEnsemble",
            ["X"],
            ["te"],
            domain=_ML,
            aggregate_function=1,
            leaf_targetids=[0, 0],
            leaf_weights=helper.make_tensor("", f, [2], [1.0, -1.0]),
            n_targets=1,
            nodes_falseleafs=[1],
            nodes_falsenodeids=[1],
            nodes_featureids=[0],
            nodes_missing_value_tracks_true=[0],
            nodes_modes=helper.make_tensor("modes", TensorProto.UINT8, [1], [0]),
            nodes_splits=helper.make_tensor("splits", f, [1], [0.5]),
            nodes_trueleafs=[1],
            nodes_truenodeids=[0],
            post_transform=0,
            tree_roots=[0],
        ),
        mk(
            "LabelEncoder",
            ["X"],
            ["le_f"],
            domain=_ML,
            keys_floats=[0.5, 1.5],
            values_floats=[1.0, 2.0],
            default_float=-0.0,
        ),
        mk(
            "LabelEncoder",
            ["I"],
            ["le_t"],
            domain=_ML,
            keys_tensor=helper.make_tensor("", TensorProto.INT64, [2], [1, 2]),
            values_strings=["one", "two"],
        ),
        mk(
            "Imputer",
            ["I"],
            ["imp_i"],
            domain=_ML,
            imputed_value_int64s=[0],
            replaced_value_int64=-1,
        ),
        mk("DictVectorizer", ["D"], ["dv"], domain=_ML, int64_vocabulary=[3, 1, 2]),
        mk("OneHotEncoder", ["I"], ["ohe"], domain=_ML, cats_int64s=[1, 2, 3]),
        mk(
            "LinearClassifier",
            ["X"],
            ["lc_label", "lc_scores"],
            domain=_ML,
            coefficients=[0.1, 0.2],
            classlabels_strings=["a", "b"],
        ),
        mk("ZipMap", ["lc_scores"], ["zm"], domain=_ML, classlabels_strings=["a", "b"]),
        mk(
            "SVMClassifier",
            ["X"],
            ["svc_label", "svc_scores"],
            domain=_ML,
            classlabels_ints=[4, 5],
            coefficients=[1.0, 2.0],
            kernel_type="LINEAR",
        ),
        # custom domains: the table does not apply (the attributes are graph)
        mk("Scaler", ["X"], ["not_ml"], domain="custom.ml", offset=[1.0], scale=[2.0]),
        mk("Constant", [], ["not_const"], domain="custom.ml", value_float=2.0),
    ]
    outputs = [_vi(o, None) for n in nodes for o in n.output]
    d_type = helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(f, []))
    graph = helper.make_graph(
        nodes,
        "ml5",
        [
            _vi("X", f, [1, 2]),
            _vi("I", TensorProto.INT64, [2]),
            helper.make_value_info("D", d_type),
        ],
        [_vi("te", f, [1, 1])],
        value_info=outputs,
    )
    return _model(graph, [("", 21), (_ML, 5), ("custom.ml", 1)])


def _external(t: onnx.TensorProto, location: str, **entries: str) -> onnx.TensorProto:
    """Turn t into an external tensor (its bytes must already be at that place)."""
    t.ClearField("raw_data")
    for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
        t.ClearField(field)
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value=location)
    for k, v in entries.items():
        t.external_data.add(key=k, value=v)
    return t


def model_external(folder: Path, name: str, sparse_external: bool = False) -> Path:
    """External data in weights.bin and sub/more.bin beside the model (SPEC 8.1 rule 5):
    offsets with leading zeros, a missing length (to the end of the file), a checksum,
    external sparse values and an external attribute tensor."""
    f = TensorProto.FLOAT
    w = np.arange(4, dtype="<f4")
    b = np.array([0.5, -0.5], dtype="<f4")
    tail = np.array([1, 2, 3], dtype="<i8")
    sp_vals = np.array([9.0], dtype="<f4")
    const = np.array([[1.0, 2.0]], dtype="<f4")
    blob = w.tobytes() + b"\xee" * 4 + b.tobytes() + sp_vals.tobytes() + tail.tobytes()
    (folder / "weights.bin").write_bytes(blob)
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "more.bin").write_bytes(b"\x00" * 3 + const.tobytes())
    w_t = _external(numpy_helper.from_array(w.reshape(2, 2), "W"), "weights.bin", length="16")
    b_t = _external(
        numpy_helper.from_array(b, "B"),
        "weights.bin",
        offset="0020",
        length="8",
        checksum="0123abcd",
    )
    b_t.doc_string = "external bias"
    tail_t = _external(numpy_helper.from_array(tail, "tail"), "weights.bin", offset="32")
    sp_values = numpy_helper.from_array(sp_vals, "SPX")
    if sparse_external:
        _external(sp_values, "weights.bin", offset="28", length="4")
    sp = helper.make_sparse_tensor(
        sp_values, helper.make_tensor("SPX_i", TensorProto.INT64, [1], [1]), [2]
    )
    const_t = _external(
        numpy_helper.from_array(const, "const_ext"), "sub/more.bin", offset="3", checksum="ff"
    )
    inline = _f32("inline", [1.0, 2.0], [2], raw=True)
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["H"]),
        helper.make_node("Add", ["H", "const"], ["H1"]),
        helper.make_node("Constant", [], ["const"], value=const_t),
        helper.make_node(
            "LabelEncoder",
            ["S"],
            ["le"],
            domain=_ML,
            classes_strings=["x", "y"],
            default_int64=-1,
        ),
    ]
    nodes[1], nodes[2] = nodes[2], nodes[1]
    graph = helper.make_graph(
        nodes,
        "external",
        [_vi("X", f, [1, 2]), _vi("S", TensorProto.STRING, [1])],
        [_vi("H1", f, [1, 2]), _vi("le", TensorProto.INT64, [1])],
        initializer=[w_t, b_t, tail_t, inline],
        sparse_initializer=[sp],
    )
    path = folder / name
    onnx.save(_model(graph, [("", 21), (_ML, 1)], check=False), str(path))
    onnx.checker.check_model(str(path))
    return path


def _graphs_of(model: onnx.ModelProto) -> Iterator[onnx.GraphProto]:
    """Every graph of the model: the main graph, subgraphs, graphs inside functions."""

    def sub(nodes: Sequence[onnx.NodeProto]) -> Iterator[onnx.GraphProto]:
        for node in nodes:
            for a in node.attribute:
                for g in [a.g] if a.type == _A.GRAPH else list(a.graphs):
                    yield g
                    yield from sub(g.node)

    yield model.graph
    yield from sub(model.graph.node)
    for f in model.functions:
        yield from sub(f.node)


def _tensors_of(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    def of_attrs(attrs: Sequence[onnx.AttributeProto]) -> Iterator[onnx.TensorProto]:
        for a in attrs:
            if a.ref_attr_name:
                continue
            yield from [a.t] if a.type == _A.TENSOR else a.tensors
            for sp in [a.sparse_tensor] if a.type == _A.SPARSE_TENSOR else a.sparse_tensors:
                yield from (sp.values, sp.indices)

    for g in _graphs_of(model):
        yield from g.initializer
        for sp in g.sparse_initializer:
            yield from (sp.values, sp.indices)
        for node in g.node:
            yield from of_attrs(node.attribute)
    for f in model.functions:
        yield from of_attrs(f.attribute_proto)
        for node in f.node:
            yield from of_attrs(node.attribute)


def as_raw_data(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same model with every non-string inline tensor re-stored as raw_data."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for t in _tensors_of(out):
        if t.data_type != TensorProto.STRING and not t.HasField("raw_data"):
            raw = numpy_helper.from_array(numpy_helper.to_array(t)).raw_data
            for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
                t.ClearField(field)
            t.raw_data = raw
    onnx.checker.check_model(out)
    return out


def reordered_and_renamed(model: onnx.ModelProto) -> onnx.ModelProto:
    """SPEC 8.4: storage order of initializers, sparse initializers, value_info entries and
    declared function attributes changes no semantic digest; renaming values changes only
    metadata. This returns the model with all of those changed."""
    out = onnx.ModelProto()
    out.CopyFrom(model)

    def rename(name: str) -> str:
        return "" if not name else "r\u00e9:" + name[::-1]

    def reverse(field: Any) -> None:
        items = list(field)
        del field[:]
        field.extend(reversed(items))

    def rename_nodes(nodes: Sequence[onnx.NodeProto]) -> None:
        for node in nodes:
            node.input[:] = [rename(n) for n in node.input]
            node.output[:] = [rename(n) for n in node.output]

    for g in _graphs_of(out):
        for vi in [*g.input, *g.output, *g.value_info]:
            vi.name = rename(vi.name)
        for t in g.initializer:
            t.name = rename(t.name)
        for sp in g.sparse_initializer:
            sp.values.name = rename(sp.values.name)
        rename_nodes(g.node)
        for field in (g.initializer, g.sparse_initializer, g.value_info):
            reverse(field)
    for f in out.functions:
        f.input[:] = [rename(n) for n in f.input]
        f.output[:] = [rename(n) for n in f.output]
        for vi in f.value_info:
            vi.name = rename(vi.name)
        rename_nodes(f.node)
        reverse(f.attribute)
        reverse(f.value_info)
        reverse(f.attribute_proto)
    onnx.checker.check_model(out)
    return out


# --------------------------------------------------------------------------------------------
# SPEC 8: small random valid models (hypothesis)
# --------------------------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=5)
_NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=4)
_F32 = st.floats(width=32, allow_nan=False)
# Attribute names stay printable ASCII: a weight attribute named otherwise is refused by the
# tool (see test_weight_attribute_with_non_ascii_name_is_accepted, an xfail).
_ATTR_NAMES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=4)


@st.composite
def _random_tensor(draw: st.DrawFn, name: str) -> onnx.TensorProto:
    kind = draw(st.sampled_from(["f32raw", "f32", "i64", "f64", "f16", "str", "bool"]))
    n = draw(st.integers(0, 3))
    dims = (
        draw(st.sampled_from([[n], [1, n], [n, 1]])) if n != 1 else draw(st.sampled_from([[], [1]]))
    )
    count = max(n, 1) if dims == [] else n
    if kind == "f32raw":
        arr = np.array(draw(st.lists(_F32, min_size=count, max_size=count)), dtype="<f4")
        t = numpy_helper.from_array(arr.reshape(dims), name)
    elif kind == "str":
        vals = draw(st.lists(st.binary(max_size=3), min_size=count, max_size=count))
        t = helper.make_tensor(name, TensorProto.STRING, dims, vals)
    else:
        dtype, elems = {
            "f32": (TensorProto.FLOAT, _F32),
            "i64": (TensorProto.INT64, st.integers(-(2**63), 2**63 - 1)),
            "f64": (TensorProto.DOUBLE, st.floats(allow_nan=False)),
            "f16": (TensorProto.FLOAT16, st.floats(width=16, allow_nan=False)),
            "bool": (TensorProto.BOOL, st.booleans()),
        }[kind]
        vals = draw(st.lists(elems, min_size=count, max_size=count))
        t = helper.make_tensor(name, dtype, dims, vals)
    if draw(st.booleans()):
        t.doc_string = draw(_TEXT)
    _meta(t, **draw(st.dictionaries(_NAMES, _TEXT, max_size=2)))
    return t


@st.composite
def _random_attribute(draw: st.DrawFn, name: str) -> onnx.AttributeProto:
    kind = draw(st.sampled_from(["f", "i", "s", "fs", "is", "ss", "t", "ts"]))
    value: Any
    if kind == "f":
        value = draw(_F32)
    elif kind == "i":
        value = draw(st.integers(-(2**63), 2**63 - 1))
    elif kind == "s":
        value = draw(st.binary(max_size=4))
    elif kind == "fs":
        value = draw(st.lists(_F32, min_size=1, max_size=3))
    elif kind == "is":
        value = draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=3))
    elif kind == "ss":
        value = draw(st.lists(st.binary(max_size=3), min_size=1, max_size=3))
    elif kind == "t":
        value = draw(_random_tensor(draw(st.sampled_from(["", "attr_t"]))))
    else:
        value = [draw(_random_tensor("")), draw(_random_tensor("named"))]
    attr = helper.make_attribute(name, value)
    if draw(st.booleans()):
        attr.doc_string = draw(_TEXT)
    return attr


@st.composite
def random_models(draw: st.DrawFn) -> onnx.ModelProto:
    """A small random model that passes onnx.checker.check_model: float inputs, random
    initializers (some unused, some identical), a chain of default-domain, Constant and
    custom-domain nodes, value_info annotations and random metadata everywhere."""
    names = draw(st.lists(_NAMES, min_size=24, max_size=24, unique=True))
    fresh = iter(names)
    inputs = [next(fresh) for _ in range(draw(st.integers(1, 2)))]
    inits = [draw(_random_tensor(next(fresh))) for _ in range(draw(st.integers(0, 4)))]
    if inits and draw(st.booleans()):  # an identical copy under another name
        twin = onnx.TensorProto()
        twin.CopyFrom(inits[0])
        twin.name = next(fresh)
        inits.append(twin)
    available = inputs + [t.name for t in inits]
    nodes: list[onnx.NodeProto] = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["unary", "binary", "const", "custom", "clip"]))
        out = next(fresh)
        pick = st.sampled_from(available)
        if kind == "unary":
            op = draw(st.sampled_from(["Relu", "Neg", "Abs", "Identity"]))
            node = helper.make_node(op, [draw(pick)], [out])
        elif kind == "binary":
            op = draw(st.sampled_from(["Add", "Mul", "Sub", "MatMul"]))
            node = helper.make_node(op, [draw(pick), draw(pick)], [out])
        elif kind == "clip":
            node = helper.make_node("Clip", [draw(pick), "", draw(pick)], [out])
        elif kind == "const":
            attr = draw(
                st.sampled_from(
                    [
                        "value_float",
                        "value_floats",
                        "value_int",
                        "value_ints",
                        "value_string",
                        "value_strings",
                        "value",
                    ]
                )
            )
            value: Any = {
                "value_float": _F32,
                "value_floats": st.lists(_F32, min_size=1, max_size=3),
                "value_int": st.integers(-(2**63), 2**63 - 1),
                "value_ints": st.lists(st.integers(-5, 5), min_size=1, max_size=3),
                "value_string": _TEXT,
                "value_strings": st.lists(_TEXT, min_size=1, max_size=3),
                "value": _random_tensor(""),
            }[attr]
            node = helper.make_node("Constant", [], [out], **{attr: draw(value)})
        else:
            attr_names = draw(st.lists(_ATTR_NAMES, max_size=3, unique=True))
            node = helper.make_node(
                draw(st.sampled_from(["Op", "Scaler", "Constant"])),
                draw(st.lists(pick, max_size=2)),
                [out],
                domain="x.custom",
            )
            node.attribute.extend(draw(_random_attribute(n)) for n in attr_names)
        node.name = draw(_TEXT)
        node.doc_string = draw(_TEXT)
        _meta(node, **draw(st.dictionaries(_NAMES, _TEXT, max_size=2)))
        nodes.append(node)
        available.append(out)
    produced = [o for n in nodes for o in n.output]
    outputs = [produced[-1], *draw(st.lists(st.sampled_from(produced), max_size=1))]
    outputs = list(dict.fromkeys(outputs))
    annotated = draw(st.lists(st.sampled_from([*produced, next(fresh)]), max_size=3, unique=True))

    def vi(name: str, typed: bool) -> onnx.ValueInfoProto:
        elem = TensorProto.FLOAT if typed else None
        meta = draw(st.dictionaries(_NAMES, _TEXT, max_size=1))
        return _vi(name, elem, [draw(st.sampled_from([2, "N"]))], draw(_TEXT), meta)

    graph = helper.make_graph(
        nodes,
        draw(_NAMES),
        [vi(n, True) for n in inputs],
        [vi(n, True) for n in outputs],
        initializer=inits,
        value_info=[vi(n, draw(st.booleans())) for n in annotated],
        doc_string=draw(_TEXT),
    )
    _meta(graph, **draw(st.dictionaries(_NAMES, _TEXT, max_size=2)))
    model = _model(graph, [("", 21), ("x.custom", draw(st.integers(1, 12)))])
    model.producer_name = draw(_TEXT)
    model.doc_string = draw(_TEXT)
    model.model_version = draw(st.integers(0, 2**63 - 1))
    _meta(model, **draw(st.dictionaries(_NAMES, _TEXT, max_size=2)))
    onnx.checker.check_model(model)
    return model


# --------------------------------------------------------------------------------------------
# SPEC 8: the tests
# --------------------------------------------------------------------------------------------

# SPEC 8.5, copied from the text: the three documents of the worked example and their digests.
WORKED_GRAPH = (
    '{"functions":[],"graph":{"initializers":[{"dims":["2","2"],"dtype":1,"id":"v1"}],'
    '"inputs":[{"id":"v0","type":{"tensor_type":{"elem_type":"1","shape":{"dim":'
    '[{"dim_value":"1"},{"dim_value":"2"}]}}}}],"nodes":[{"attributes":[],"domain":"",'
    '"id":"n0","inputs":["v0","v1"],"op":"MatMul","outputs":["v2"],"overload":""}],'
    '"outputs":[{"id":"v2","type":{"tensor_type":{"elem_type":"1","shape":{"dim":'
    '[{"dim_value":"1"},{"dim_value":"2"}]}}}}],"sparse_initializers":[]},'
    '"opsets":[["","13"]],"scheme":"onnx-semantic/v1"}'
)
WORKED_WEIGHTS = (
    '[["v1","sha256:d6d44c0ca8431536d9b715d5234548e7956092a837d3e203b2893b38e0b4fab4"]]'
)
WORKED_METADATA = (
    '[["graph:main.name","tiny"],["model.doc_string",""],["model.domain",""],'
    '["model.ir_version","8"],["model.metadata_props",[]],["model.model_version","0"],'
    '["model.producer_name",""],["model.producer_version",""],["name:v0","X"],'
    '["name:v1","W"],["name:v2","Y"],["tensor:v1.name","W"]]'
)
WORKED_DIGESTS = {
    "graph": "sha256:82714468e93c0aba4255f9f74680304abb250525ef02640e3b3bb0de9dc86fb3",
    "weights": "sha256:00a34b4d68dcfb30bedc006355df9706de5ac342eb07951e282741c8607cb807",
    "metadata": "sha256:d9108e5cd401d4279f95ea275791fd237d011fae7a33128edfd4f2577d72d120",
}


def test_own_semantic_reproduces_spec_worked_example(tmp_path: Path) -> None:
    """SPEC 8.5: this implementation rebuilds the three documents printed there, byte for
    byte, and their digests."""
    make_tiny_model(tmp_path / "tiny.onnx")
    mine = semantic_of(tmp_path / "tiny.onnx")
    assert jcs(mine.graph_doc).decode() == WORKED_GRAPH
    assert jcs(mine.weights_doc).decode() == WORKED_WEIGHTS
    assert jcs(mine.metadata_doc).decode() == WORKED_METADATA
    assert mine.digests == WORKED_DIGESTS
    for name, text in (("graph", WORKED_GRAPH), ("weights", WORKED_WEIGHTS)):
        assert _sha(text.encode()) == WORKED_DIGESTS[name]
    assert mine.tensors == [("v1", "W", json.loads(WORKED_WEIGHTS)[0][1])]


def test_own_semantic_helpers_follow_spec_examples() -> None:
    """Hand-computed spot checks of the SPEC 8.3/8.4 encodings used by this module."""
    t = helper.make_tensor("t", TensorProto.FLOAT, [2], [1.0, -2.0])  # typed float_data
    header = b'{"dims":["2"],"dtype":1,"kind":"dense"}'
    value = struct.pack("<2f", 1.0, -2.0)
    assert dense_digest(t, Path()) == _sha(struct.pack(">Q", len(header)) + header + value)
    s = helper.make_tensor("s", TensorProto.STRING, [2], [b"ab", b""])
    assert tensor_value_bytes(s, Path()) == struct.pack("<Q", 2) + b"ab" + struct.pack("<Q", 0)
    a = helper.make_attribute("x", [1, -1])
    h = b'{"kind":"attribute","type":"INTS"}'
    expected = _sha(struct.pack(">Q", len(h)) + h + struct.pack("<2q", 1, -1))
    assert attribute_digest(a) == expected
    tp = helper.make_tensor_type_proto(TensorProto.FLOAT, ["N", 30])
    assert type_doc(tp) == {
        "tensor_type": {
            "elem_type": "1",
            "shape": {"dim": [{"dim_param": "N"}, {"dim_value": "30"}]},
        }
    }
    zero = onnx.TypeProto()
    zero.tensor_type.shape.dim.add().dim_value = 0
    assert type_doc(zero) == {"tensor_type": {"shape": {"dim": [{"dim_value": "0"}]}}}
    assert type_doc(onnx.TensorShapeProto.Dimension()) == {}
    imports = [helper.make_opsetid(d, v) for d, v in [("b", 9), ("b", 10), ("ai.onnx", 3), ("", 3)]]
    assert opsets(imports) == [["", "3"], ["", "3"], ["b", "10"], ["b", "9"]]


def run_in_parallel(
    jobs: Sequence[tuple[Sequence[str], Path]],
) -> list[subprocess.CompletedProcess[str]]:
    """Runs several tool invocations two at a time (the machine has two cores)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda job: run_cli(*job[0], cwd=job[1]), jobs))


def _corpus(folder: Path) -> dict[str, Path]:
    """Write every corpus model into its own folder; return name -> model path."""
    models: dict[str, onnx.ModelProto] = {
        "rich_main": model_rich_main(),
        "control_flow": model_control_flow(),
        "functions": model_functions(),
        "ml_ops": model_ml_ops(),
        "ml_ops_v5": model_ml_ops_v5(),
    }
    for base in ("rich_main", "control_flow", "functions"):
        models[f"{base}_variant"] = reordered_and_renamed(as_raw_data(models[base]))
    paths: dict[str, Path] = {}
    for name, model in models.items():
        (folder / name).mkdir()
        paths[name] = folder / name / f"{name}.onnx"
        onnx.save(model, str(paths[name]))
    (folder / "tiny").mkdir()
    paths["tiny"] = folder / "tiny" / "tiny.onnx"
    make_tiny_model(paths["tiny"])
    (folder / "external").mkdir()
    paths["external"] = model_external(folder / "external", "external.onnx")
    return paths


CORPUS = [
    "tiny",
    "rich_main",
    "rich_main_variant",
    "control_flow",
    "control_flow_variant",
    "functions",
    "functions_variant",
    "ml_ops",
    "ml_ops_v5",
    "external",
]


@pytest.fixture(scope="module")
def onnx_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelRun]:
    paths = _corpus(tmp_path_factory.mktemp("onnx"))
    assert sorted(paths) == sorted(CORPUS)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(run_model, [paths[n] for n in CORPUS]))
    return dict(zip(CORPUS, runs, strict=True))


@pytest.mark.parametrize("name", CORPUS)
def test_onnx_semantic_documents_match_spec(onnx_corpus: dict[str, ModelRun], name: str) -> None:
    """SPEC 8: graph, weights and metadata digests (from --json and from the model-semantic
    leaf) and every tensor leaf (id, name, digest) equal the documents built here."""
    run = onnx_corpus[name]
    assert compare_model(run) == []
    model_file = run.path
    (model_leaf,) = of_kind(run.manifest, "model")
    assert model_leaf == {
        "kind": "model",
        "path": model_file.name,
        "digest": file_digest(model_file),
        "size": model_file.stat().st_size,
    }
    assert run.summary["model"]["file_digest"] == model_leaf["digest"]
    assert run.manifest["subject"] == subject_from_leaves(run.manifest["leaves"])
    assert run.summary["root"] == run.manifest["root"]
    # nothing but the model's own leaves and the subject
    kinds = {leaf["kind"] for leaf in run.manifest["leaves"]}
    assert kinds <= {"model", "model-data", "model-semantic", "tensor", "subject"}


def test_onnx_semantic_invariances(onnx_corpus: dict[str, ModelRun]) -> None:
    """SPEC 8.4 'So: ...': storage form and storage order change no semantic digest;
    renaming values changes only metadata; the file digest changes every time."""

    def sem(name: str) -> dict[str, str]:
        return dict(onnx_corpus[name].summary["model"]["semantic"])

    def file(name: str) -> str:
        return str(onnx_corpus[name].summary["model"]["file_digest"])

    for base in ("rich_main", "control_flow", "functions"):
        variant = f"{base}_variant"
        a, b = sem(base), sem(variant)
        assert (a["graph"], a["weights"]) == (b["graph"], b["weights"]), variant
        assert a["metadata"] != b["metadata"], variant
        assert file(base) != file(variant)
        # the weights keep their digests; only their names change
        digests = sorted(t[2] for t in onnx_corpus[base].mine.tensors)
        assert digests == sorted(t[2] for t in onnx_corpus[variant].mine.tensors)
    # storage form alone (typed fields vs raw_data) changes no document, metadata included
    rich = model_rich_main()
    assert (
        SemanticBuilder(as_raw_data(rich), Path()).build() == SemanticBuilder(rich, Path()).build()
    )


def test_onnx_corpus_exercises_every_rule(onnx_corpus: dict[str, ModelRun]) -> None:
    """Guard against a corpus that silently stops covering what it is meant to cover."""
    types: set[str] = set()
    weight_ops: set[tuple[str, str]] = set()

    def visit(value: Any, op: tuple[str, str] | None = None) -> None:
        if isinstance(value, dict):
            if "op" in value and "attributes" in value:
                op = (value["domain"], value["op"])
            if "type" in value and "name" in value and ("value" in value or "ref" in value):
                types.add(str(value["type"]) + (":ref" if "ref" in value else ""))
                v = value.get("value")
                if isinstance(v, dict) and set(v) == {"weight"} and op is not None:
                    weight_ops.add(op)
            for v in value.values():
                visit(v, op)
        elif isinstance(value, list):
            for v in value:
                visit(v, op)

    for run in onnx_corpus.values():
        visit(run.mine.graph_doc)
    assert {ATTR_TYPE.Name(t) for t in ATTR_TYPE.values()} - {"UNDEFINED"} <= types
    assert {"FLOAT:ref", "TENSOR:ref"} <= types
    assert set(WEIGHT_ATTRIBUTES) <= weight_ops
    keys = {k for run in onnx_corpus.values() for k, _ in run.mine.metadata_doc}
    patterns = [
        r"graph:main\.(doc_string|metadata_props)",
        r"graph:n\d+\.[a-z_]+\.(doc_string|metadata_props)",
        r"graph:n\d+\.graphs\.1\.name",
        r"graph:f0\.n\d+\.then_branch\.name",
        r"graph:\S+\.input:v\d+\.(doc_string|metadata_props)",
        r"graph:\S+\.output:v\d+\.(doc_string|metadata_props)",
        r"graph:\S+\.value_info:v\d+\.(type|doc_string|metadata_props)",
        r"function:\d+\.value_info:f\d+\.v\d+\.(type|doc_string|metadata_props)",
        r"function:\d+\.(doc_string|metadata_props)",
        r"node:(f\d+\.)?n\d+\.(name|doc_string|metadata_props)",
        r"attribute:f\d+\.attr\.\w+\.doc_string",
        r"attribute:(f\d+\.)?n\d+\.\w+\.doc_string",
        r"tensor:v\d+\.(name|doc_string|metadata_props|external_data\.checksum)",
        r"tensor:n\d+\.\w+\.(name|doc_string|metadata_props|external_data\.checksum)",
        r"tensor:v\d+\.(values|indices)\.(name|doc_string|metadata_props)",
        r"tensor:f\d+\.attr\.\w+(\.\d+)?\.(name|doc_string)",
        r"name:(f\d+\.)?v\d+",
    ]
    for pattern in patterns:  # every alternative of a final (a|b|c) group occurs somewhere
        variants = [pattern]
        if pattern.endswith(")"):
            head, _, tail = pattern.rpartition("(")
            variants = [f"{head}(?:{alt})" for alt in tail[:-1].split("|")]
        for one in variants:
            assert any(re.fullmatch(one, k) for k in keys), one
    (ext,) = [r for n, r in onnx_corpus.items() if n == "external"]
    assert len(of_kind(ext.manifest, "model-data")) == 2
    assert ext.manifest["subject"].startswith("sha256-modelset:")


def test_onnx_external_sparse_values_are_refused(tmp_path: Path) -> None:
    """SPEC 8.1 rule 5: the values and indices of a sparse tensor are never external."""
    path = model_external(tmp_path, "sparse_external.onnx", sparse_external=True)  # checked
    proc = run_cli("fingerprint", "--model", str(path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["\u00e9", "a b", "x" * 257])
def test_attribute_names_that_are_not_printable_ascii_are_refused(
    tmp_path: Path, name: str
) -> None:
    """SPEC 8.1 rule 6: attribute names are 1 to 256 printable ASCII characters."""
    node = helper.make_node("Op", ["X"], ["Y"], domain="x.custom")
    node.attribute.append(
        helper.make_attribute(name, helper.make_tensor("", TensorProto.FLOAT, [1], [1.0]))
    )
    graph = helper.make_graph([node], "g", [_vi("X", shape=[1])], [_vi("Y", shape=[1])])
    onnx.save(_model(graph, [("", 21), ("x.custom", 1)]), str(tmp_path / "m.onnx"))
    proc = run_cli("fingerprint", "--model", str(tmp_path / "m.onnx"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _refused_models(folder: Path) -> dict[str, Path]:
    out: dict[str, onnx.ModelProto] = {}
    m = model_functions()  # 8.1 rule 7: a reference attribute that also carries a value
    for f in m.functions:
        for node in f.node:
            for a in node.attribute:
                if a.ref_attr_name == "alpha":
                    a.f = 1.0
    out["rule7_ref_with_value"] = m
    m = model_control_flow()  # 8.1 rule 3: TensorProto.segment is outside the list
    m.graph.initializer[0].segment.begin = 0
    m.graph.initializer[0].segment.end = 2
    out["rule3_segment"] = m
    m = model_control_flow()  # 8.1 rule 8: a subgraph initializer named like an outer one
    then_g = next(a.g for a in m.graph.node[0].attribute if a.name == "then_branch")
    then_g.initializer[0].name = "main_w"
    then_g.node[0].input[1] = "main_w"
    out["rule8_shadowing_initializer"] = m
    paths = {}
    for name, model in out.items():
        onnx.checker.check_model(model)
        paths[name] = folder / f"{name}.onnx"
        onnx.save(model, str(paths[name]))
    # SPEC 4 item names: an external data file named like another kind's item
    (folder / "item").mkdir()
    tiny = folder / "item" / "tiny.onnx"
    make_tiny_model(tiny)
    model = onnx.load(str(tiny))
    onnx.save_model(
        model,
        str(folder / "item" / "model.onnx"),
        save_as_external_data=True,
        location="w#",
        size_threshold=0,
    )
    onnx.checker.check_model(str(folder / "item" / "model.onnx"))
    paths["model_data_item_name"] = folder / "item" / "model.onnx"
    return paths


def test_onnx_models_outside_spec_8_1_are_refused(tmp_path: Path) -> None:
    """Models that pass the checker but break SPEC 8.1 (or SPEC 4) are refused: exit 2."""
    paths = _refused_models(tmp_path)
    jobs = [(["fingerprint", "--model", p.name, "-o", "l.json"], p.parent) for p in paths.values()]
    for name, proc in zip(paths, run_in_parallel(jobs), strict=True):
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (name, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("l.json"))


@settings(
    max_examples=4,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(models=st.lists(random_models(), min_size=2, max_size=2))
def test_random_models_match_spec(models: list[onnx.ModelProto]) -> None:
    """SPEC 8 on small random valid models (two per example, run side by side)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, model in enumerate(models):
            (Path(tmp) / str(i)).mkdir()
            paths.append(Path(tmp) / str(i) / "random.onnx")
            onnx.save(model, str(paths[-1]))
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = list(pool.map(run_model, paths))
        for run in runs:
            assert compare_model(run) == []


# ============================================================================================
# SPEC 4: followed links (`link`), folders reached twice through links, item names
# ============================================================================================


def _dataset_leaf(path: str, file: Path, link: str | None = None) -> Leaf:
    leaf: Leaf = {
        "kind": "dataset",
        "path": path,
        "digest": file_digest(file),
        "size": file.stat().st_size,
    }
    if link is not None:
        leaf["link"] = link
    return leaf


def _link_tree(base: Path) -> Path:
    """data/{v3/a.csv, v3/sub/b.csv, v2/old.csv} plus links (real targets inside data/)."""
    data = base / "data"
    (data / "v3" / "sub").mkdir(parents=True)
    (data / "v2").mkdir()
    (data / "v3" / "a.csv").write_bytes(b"a,1\n")
    (data / "v3" / "sub" / "b.csv").write_bytes(b"b,2\n")
    (data / "v2" / "old.csv").write_bytes(b"old\n")
    os.symlink("v3", data / "latest")  # a folder link
    return data


def test_followed_links_record_their_real_path_in_link(tmp_path: Path) -> None:
    """SPEC 4/5: with --follow-symlinks every dataset leaf of a file reached through a followed
    link (the file's own link or a folder link on its way) records `link`, its real path
    relative to the folder argument; files reached without a link have none; a link named on
    the command line is not a followed link."""
    data = _link_tree(tmp_path)
    os.symlink("v3/a.csv", data / "alias.csv")  # a file link
    os.symlink("../v3/a.csv", data / "v2" / "up.csv")  # a file link in a real folder
    os.symlink("../a.csv", data / "v3" / "sub" / "inner.csv")  # reached twice, as a file
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.csv").write_bytes(b"x\n")
    os.symlink("other", tmp_path / "cmdlink")  # named on the command line
    os.symlink("other/x.csv", tmp_path / "cmdfile.csv")
    a, b = data / "v3" / "a.csv", data / "v3" / "sub" / "b.csv"
    expected = [
        _dataset_leaf("data/v3/a.csv", a),
        _dataset_leaf("data/v3/sub/b.csv", b),
        _dataset_leaf("data/v3/sub/inner.csv", a, "v3/a.csv"),
        _dataset_leaf("data/v2/old.csv", data / "v2" / "old.csv"),
        _dataset_leaf("data/v2/up.csv", a, "v3/a.csv"),
        _dataset_leaf("data/alias.csv", a, "v3/a.csv"),
        _dataset_leaf("data/latest/a.csv", a, "v3/a.csv"),
        _dataset_leaf("data/latest/sub/b.csv", b, "v3/sub/b.csv"),
        _dataset_leaf("data/latest/sub/inner.csv", a, "v3/a.csv"),
        _dataset_leaf("cmdlink/x.csv", other / "x.csv"),
        _dataset_leaf("cmdfile.csv", other / "x.csv"),
    ]
    args = ["--dataset", "data", "--dataset", "cmdlink", "--dataset", "cmdfile.csv"]
    doc = fingerprint([*args, "--follow-symlinks"], tmp_path, tmp_path / "l.json")
    assert_same_leaves(of_kind(doc, "dataset", "skipped"), expected)
    assert doc["root"] == expected_root(expected)


def test_link_member_is_recorded_in_nfc_like_paths(tmp_path: Path) -> None:
    """SPEC 4/5: `link` is a path, so the names in it are normalised to NFC like every
    recorded path: a link to a folder named in NFD (`e` + U+0301) records `link` in NFC, and
    the manifest the tool wrote is read back (it proves an item, which reads the manifest)."""
    nfd = unicodedata.normalize("NFD", "caf\u00e9 \u212b")
    assert nfc(nfd) != nfd
    data = tmp_path / "data"
    (data / nfd).mkdir(parents=True)
    (data / nfd / "a.csv").write_bytes(b"a,1\n")
    os.symlink(nfd, data / "latest")
    os.symlink(f"{nfd}/a.csv", data / "alias.csv")
    a = data / nfd / "a.csv"
    expected = [
        _dataset_leaf(f"data/{nfc(nfd)}/a.csv", a),
        _dataset_leaf("data/latest/a.csv", a, f"{nfc(nfd)}/a.csv"),
        _dataset_leaf("data/alias.csv", a, f"{nfc(nfd)}/a.csv"),
    ]
    doc = fingerprint(["--dataset", "data", "--follow-symlinks"], tmp_path, tmp_path / "l.json")
    assert_same_leaves(of_kind(doc, "dataset"), expected)
    assert doc["root"] == expected_root(expected)
    proc = run_cli("prove", "l.json", "data/latest/a.csv", "-o", "p.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "p.json").read_bytes())["leaf"] == expected[1]


@pytest.mark.parametrize("layout", ["two_links", "link_to_link", "nested_link", "loop"])
def test_folder_reached_twice_through_links_is_refused(tmp_path: Path, layout: str) -> None:
    """SPEC 4: a real folder may be reached through links at most once, by whatever chain of
    links; a second time (and a link loop) is refused with exit 2."""
    data = _link_tree(tmp_path)
    if layout == "two_links":  # latest -> v3 and current -> v3
        os.symlink("v3", data / "current")
    elif layout == "link_to_link":  # pointer -> latest -> v3
        os.symlink("latest", data / "pointer")
    elif layout == "nested_link":  # v3/sub reached through latest/sub and through v2/deep
        os.symlink("../v3/sub", data / "v2" / "deep")
    else:
        os.symlink("..", data / "v3" / "sub" / "up")
    proc = run_cli(
        "fingerprint", "--dataset", "data", "--follow-symlinks", "-o", "l.json", cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert not (tmp_path / "l.json").exists()


def test_item_names_of_another_kind_are_refused(tmp_path: Path) -> None:
    """SPEC 4 'Item names': a model, model-data, dataset or skipped path that starts with `#`,
    ends with `#`, contains `#/` or `#tensor/`, or ends with `#semantic` is refused (exit 2);
    names that only contain `#` elsewhere are accepted."""
    cases: list[list[str]] = []
    for name in ("#x.csv", "x.csv#", "m#semantic"):
        folder = tmp_path / f"case{len(cases)}"
        folder.mkdir()
        (folder / name).write_bytes(b"1\n")
        cases.append(["--dataset", name])
    for sub in ("a#", "b#tensor"):
        folder = tmp_path / f"case{len(cases)}"
        (folder / "d" / sub).mkdir(parents=True)
        (folder / "d" / sub / "f.csv").write_bytes(b"1\n")
        cases.append(["--dataset", "d"])
    folder = tmp_path / f"case{len(cases)}"  # a `skipped` leaf d/s#
    (folder / "d").mkdir(parents=True)
    (folder / "d" / "f").write_bytes(b"1\n")
    os.symlink("f", folder / "d" / "s#")
    cases.append(["--dataset", "d", "--skip-symlinks"])
    folder = tmp_path / f"case{len(cases)}"
    folder.mkdir()
    make_tiny_model(folder / "#m.onnx")
    cases.append(["--model", "#m.onnx"])
    jobs = [
        (["fingerprint", *args, "-o", "l.json"], tmp_path / f"case{i}")
        for i, args in enumerate(cases)
    ]
    for args, proc in zip(cases, run_in_parallel(jobs), strict=True):
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    assert not list(tmp_path.glob("case*/l.json"))

    ok = tmp_path / "ok"
    (ok / "d" / "q#r").mkdir(parents=True)
    names = ["a#b.csv", "x#semantic.csv", "t#tensor.csv", "h#tensor", "s#emantic#x"]
    for name in names:
        (ok / name).write_bytes(name.encode())
    (ok / "d" / "q#r" / "f#.csv").write_bytes(b"2\n")
    (ok / "d" / "tensor#x").write_bytes(b"3\n")
    args = [a for name in names for a in ("--dataset", name)] + ["--dataset", "d"]
    doc = fingerprint(args, ok, ok / "l.json")
    expected = [_dataset_leaf(name, ok / name) for name in names] + [
        _dataset_leaf("d/q#r/f#.csv", ok / "d" / "q#r" / "f#.csv"),
        _dataset_leaf("d/tensor#x", ok / "d" / "tensor#x"),
    ]
    assert_same_leaves(of_kind(doc, "dataset"), expected)


# ============================================================================================
# SPEC 5: model parts without a model are refused when a manifest is read
# ============================================================================================


def _manifest(content: Sequence[Leaf]) -> dict[str, Any]:
    """A manifest built by SPEC 9 from content leaves (root and subject recomputed here)."""
    leaves = [*content, subject_leaf(content)]
    ordered = [json.loads(b) for b in sorted_leaf_bytes(leaves)]
    return {
        "schema": LINEAGE_SCHEMA,
        "root": mth(lineage_leaf_bytes(content)).hex(),
        "subject": subject_from_leaves(content),
        "leaves": ordered,
        "generator": {"tool": "aichain-audit", "version": "0.1.0"},
    }


def test_manifest_with_model_parts_but_no_model_is_refused(tmp_path: Path) -> None:
    """SPEC 5 rules: model-data, model-semantic and tensor leaves exist only beside a model
    leaf, share its path, and there is at most one model-semantic leaf. A manifest breaking
    one of them is refused (exit 2) by `aichain prove`, even with a correct root."""
    d = "sha256:" + "11" * 32
    data: Leaf = {"kind": "dataset", "path": "d.csv", "digest": d, "size": 1}
    model: Leaf = {"kind": "model", "path": "m.onnx", "digest": d, "size": 2}
    semantic: Leaf = {
        "kind": "model-semantic",
        "path": "m.onnx",
        "scheme": "onnx-semantic/v1",
        "graph": d,
        "weights": d,
        "metadata": d,
    }
    tensor: Leaf = {"kind": "tensor", "path": "m.onnx", "tensor": "v1", "name": "W", "digest": d}
    mdata: Leaf = {"kind": "model-data", "path": "w.bin", "digest": d, "size": 3}
    cases: dict[str, list[Leaf]] = {
        "valid": [data, model, semantic, tensor, mdata],
        "tensor_without_model": [data, tensor],
        "semantic_without_model": [data, semantic],
        "model_data_without_model": [data, mdata],
        "semantic_of_another_path": [data, model, dict(semantic, path="other.onnx")],
        "tensor_of_another_path": [data, model, dict(tensor, path="other.onnx")],
        "two_semantic_leaves": [data, model, semantic, dict(semantic, graph="sha256:" + "22" * 32)],
    }
    jobs = []
    for name, content in cases.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(_manifest(content)), encoding="utf-8")
        jobs.append((["prove", f"{name}.json", "d.csv", "-o", f"{name}.proof"], tmp_path))
    for name, proc in zip(cases, run_in_parallel(jobs), strict=True):
        assert proc.returncode == (0 if name == "valid" else 2), (name, proc.stderr)
        assert (tmp_path / f"{name}.proof").exists() == (name == "valid")


# ============================================================================================
# SPEC 10: proofs must be byte-for-byte canonical
# ============================================================================================


def _non_canonical_variants(raw: bytes) -> dict[str, bytes]:
    proof = json.loads(raw)
    body = raw[:-1]
    index_member = b'"index":%d' % proof["index"]
    assert body.count(index_member) == 1
    reordered = dict(reversed(list(proof.items())))
    return {
        "reindented": json.dumps(proof, indent=1, sort_keys=True).encode() + b"\n",
        "spaces_after_separators": json.dumps(proof, sort_keys=True).encode() + b"\n",
        "reordered_members": json.dumps(reordered, separators=(",", ":")).encode() + b"\n",
        "float_for_integer": body.replace(index_member, index_member + b".0") + b"\n",
        "escaped_member_name": body.replace(b'"schema":', b'"\\u0073chema":', 1) + b"\n",
        "escaped_slash_in_value": body.replace(b'"aichain.proof/v1"', b'"aichain.proof\\/v1"')
        + b"\n",
        "no_final_newline": body,
        "crlf": body + b"\r\n",
        "two_newlines": raw + b"\n",
        "leading_space": b" " + raw,
        "bom": b"\xef\xbb\xbf" + raw,
    }


def test_non_canonical_proofs_are_refused(lineage: Lineage, tmp_path: Path) -> None:
    """SPEC 10: a proof file must be exactly JCS(proof) + LF; a re-indented or reordered file,
    1.0 for 1, escaped member names, a missing final newline or CRLF are refused (exit 2)
    although their meaning is the same."""
    root = expected_root(my_content_leaves(lineage))
    proof_path = tmp_path / "proof.json"
    proc = run_cli(
        "prove", str(lineage.manifest_path), "data/train.csv", "-o", str(proof_path), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    raw = proof_path.read_bytes()
    assert raw == jcs(json.loads(raw)) + b"\n"
    variants = _non_canonical_variants(raw)
    jobs: list[tuple[Sequence[str], Path]] = [
        (["check-proof", "proof.json", "--root", root], tmp_path)
    ]
    for name, data in variants.items():
        assert data != raw and json.loads(data) == json.loads(raw), name
        (tmp_path / f"{name}.json").write_bytes(data)
        jobs.append((["check-proof", f"{name}.json", "--root", root], tmp_path))
    procs = run_in_parallel(jobs)
    assert procs[0].returncode == 0, procs[0].stderr
    for name, proc in zip(variants, procs[1:], strict=True):
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)


# ============================================================================================
# SPEC 7: empty configs, depth, YAML tags and plain scalars, node counting
# ============================================================================================


def _refused_configs(tmp_path: Path, configs: Sequence[tuple[str, bytes]]) -> None:
    """Each (file name, bytes) alone must be refused with exit 2 and no manifest."""
    jobs: list[tuple[Sequence[str], Path]] = []
    for i, (name, data) in enumerate(configs):
        folder = tmp_path / f"r{i}"
        folder.mkdir()
        (folder / name).write_bytes(data)
        jobs.append((["fingerprint", "--config", name, "-o", "l.json"], folder))
    for (name, data), proc in zip(configs, run_in_parallel(jobs), strict=True):
        assert proc.returncode == 2, (name, data[:80], proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert not list(tmp_path.glob("r*/l.json"))


def _accepted_configs(
    tmp_path: Path, configs: Sequence[tuple[str, bytes, list[tuple[str, Any]]]]
) -> None:
    """All files in one lineage; each gives exactly the (pointer, value) leaves listed."""
    folder = tmp_path / "accepted"
    folder.mkdir()
    args: list[str] = []
    mine: list[Leaf] = []
    for name, data, leaves in configs:
        (folder / name).write_bytes(data)
        args += ["--config", name]
        mine += [{"kind": "config", "path": name, "pointer": p, "value": v} for p, v in leaves]
    doc = fingerprint(args, folder, folder / "l.json")
    assert_same_leaves(of_kind(doc, "config"), mine)
    assert doc["root"] == expected_root(mine)


BOM = b"\xef\xbb\xbf"


def test_empty_configs_are_refused_and_written_out_empty_values_accepted(
    tmp_path: Path,
) -> None:
    """SPEC 7 'Empty': nothing but white space, a BOM and comments, a TOML file without key
    or table, a YAML stream without a document or whose document has no content are refused;
    a value written out, even an empty one, is accepted."""
    refused = [
        ("a.json", b""),
        ("b.json", b"  \n\t\r\n"),
        ("c.json", BOM),
        ("d.json", BOM + b" \n"),
        ("e.json", b"// a comment\n"),
        ("a.yaml", b""),
        ("b.yaml", b"# only a comment\n"),
        ("c.yaml", b"---\n"),
        ("d.yaml", b"--- # comment\n...\n"),
        ("e.yaml", BOM + b"# comment\n"),
        ("f.yml", b"\n\n"),
        ("g.yaml", b"%YAML 1.2\n---\n"),
        ("h.yaml", b"...\n"),
        ("a.toml", b""),
        ("b.toml", b"# comment\n"),
        ("c.toml", BOM + b"\n \n# c\n"),
    ]
    _refused_configs(tmp_path, refused)
    accepted: list[tuple[str, bytes, list[tuple[str, Any]]]] = [
        ("obj.json", b"{}", [("", {})]),
        ("arr.json", BOM + b" [] ", [("", [])]),
        ("null.json", b"null", [("", None)]),
        ("zero.json", b"0\n", [("", 0)]),
        ("str.json", b'""', [("", "")]),
        ("map.yaml", b"--- {}\n", [("", {})]),
        ("quoted.yaml", b"--- ''\n", [("", "")]),
        ("tagged.yaml", b"--- !!null\n", [("", None)]),
        ("anchored.yaml", b"--- &a\n", [("", None)]),
        ("tilde.yaml", b"~\n", [("", None)]),
        ("strtag.yaml", b"--- !!str\n", [("", "")]),
        ("seq.yml", b"[]\n", [("", [])]),
        ("table.toml", b"[a]\n", [("/a", {})]),
        ("dotted.toml", b"# c\n[a.b]\n", [("/a/b", {})]),
        ("aot.toml", b"[[x]]\n", [("/x/0", {})]),
    ]
    _accepted_configs(tmp_path, accepted)


def test_nesting_depth_limit_is_512_levels_in_every_format(tmp_path: Path) -> None:
    """SPEC 7 'Depth': at most 512 levels of objects and arrays, counting the document's own
    object or array (and TOML's root table) as level 1; YAML counts after alias expansion."""

    def files(n: int) -> list[tuple[str, bytes]]:
        return [
            (f"arr{n}.json", b"[" * n + b"]" * n),
            (f"obj{n}.json", b'{"a":' * (n - 1) + b"{}" + b"}" * (n - 1)),
            (f"flow{n}.yaml", b"[" * n + b"]" * n + b"\n"),
            (
                f"block{n}.yaml",
                b"".join(b"  " * i + b"a:\n" for i in range(n - 1)) + b"  " * (n - 1) + b"a: 1\n",
            ),
            (f"arr{n}.toml", b"a = " + b"[" * (n - 1) + b"]" * (n - 1) + b"\n"),
            (f"dotted{n}.toml", b".".join([b"a"] * n) + b" = 1\n"),
            (f"header{n}.toml", b"[" + b".".join([b"a"] * (n - 1)) + b"]\n"),
            # `a` is n-2 levels below the root mapping; `b: [*x]` puts it one level deeper
            (f"alias{n}.yaml", b"a: &x " + b"[" * (n - 2) + b"]" * (n - 2) + b"\nb: [*x]\n"),
        ]

    _refused_configs(tmp_path, files(513))
    zeros = "/0" * 511
    expected: dict[str, list[tuple[str, Any]]] = {
        "arr512.json": [(zeros, [])],
        "obj512.json": [("/a" * 511, {})],
        "flow512.yaml": [(zeros, [])],
        "block512.yaml": [("/a" * 512, 1)],
        "arr512.toml": [("/a" + "/0" * 510, [])],
        "dotted512.toml": [("/a" * 512, 1)],
        "header512.toml": [("/a" * 511, {})],
        "alias512.yaml": [("/a" + "/0" * 509, []), ("/b/0" + "/0" * 509, [])],
    }
    _accepted_configs(tmp_path, [(n, d, expected[n]) for n, d in files(512)])


# SPEC 7 YAML tags, expected values written by hand from the rules (no YAML loader).
YAML_TAG_TEXT = """\
%TAG !e! tag:yaml.org,2002:
---
a: !!int '12'
b: !!float 3
c: !!str true
d: !<tag:yaml.org,2002:str> 12
e: !!%73tr 12
f: !e!int "5"
g: !!bool "true"
g2: !!bool FALSE
h: !!null ''
h2: !!null ~
i: !!map {}
j: !!seq []
j2: !!map {k: v}
k: !!float '1e3'
k2: !!float .5
k3: !!int 0x1F
k4: !!int 0o17
l: |
  12
m: >-
  true
<<: {a: 1}
!!str 1: one
"2": two
n: 007
o: 0x0000ff
p: -0o7
q: +0x1
s: 1_0
t: !e!%69nt "6"
u: !!float -1
w: 'it''s'
x: !!str
y: [!!int "-3", !!str null, "null", 'true']
z: 0.
"""
# SPEC 7: an integer's magnitude is what counts, however long its literal
YAML_TAG_TEXT += f"n2: {'0' * 3000}7\no2: 0x{'0' * 3000}1f\n"
YAML_TAG_EXPECTED: list[tuple[str, Any]] = [
    ("/a", 12),
    ("/b", 3.0),
    ("/c", "true"),
    ("/d", "12"),
    ("/e", "12"),
    ("/f", 5),
    ("/g", True),
    ("/g2", False),
    ("/h", None),
    ("/h2", None),
    ("/i", {}),
    ("/j", []),
    ("/j2/k", "v"),
    ("/k", 1000.0),
    ("/k2", 0.5),
    ("/k3", 31),
    ("/k4", 15),
    ("/l", "12\n"),
    ("/m", "true"),
    ("/<</a", 1),
    ("/1", "one"),
    ("/2", "two"),
    ("/n", 7),
    ("/o", 255),
    ("/p", "-0o7"),
    ("/q", "+0x1"),
    ("/s", "1_0"),
    ("/t", 6),
    ("/u", -1.0),
    ("/w", "it's"),
    ("/x", ""),
    ("/y/0", -3),
    ("/y/1", "null"),
    ("/y/2", "null"),
    ("/y/3", "true"),
    ("/z", 0.0),
    ("/n2", 7),
    ("/o2", 31),
]
YAML_REFUSED = [
    "a: !x 1\n",
    "a: !<tag:example.com,2000:x> 1\n",
    "a: !<?plain> 1\n",
    "a: ! 12\n",
    "%TAG !! tag:example.com,2000:\n---\na: !!int 1\n",
    "a: !!binary aGk=\n",
    "a: !!timestamp 2024-01-01\n",
    "a: !!set {b}\n",
    "a: !!int 3.5\n",
    "a: !!bool yes\n",
    "a: !!float abc\n",
    "a: !!null 0\n",
    "a: !!int 9007199254740992\n",
    "a: !!map [1]\n",
    "a: !!seq {b: 1}\n",
    "? [a]\n: 1\n",
    "1: a\n",
    "null: a\n",
    "~: a\n",
    "true: a\n",
    "a: 1\na: 2\n",
    "a: &x 1\nb: &x 2\n",
    "a: &a [*a]\n",
    "a: .inf\n",
    "a: -.Inf\n",
    "a: .NaN\n",
    "a: !!float .inf\n",
    "a: 1e400\n",
    "a: 1\n---\nb: 2\n",
    f"a: {'1' + '0' * 4000}\n",
    f"a: 0x{'f' * 3000}\n",
]
JSON_TOML_REFUSED = [
    ("dup.json", b'{"a": 1, "a": 2}'),
    ("nan.json", b'{"a": NaN}'),
    ("inf.json", b"[Infinity]"),
    ("ninf.json", b"[-Infinity]"),
    ("huge.json", b"[1e400]"),
    ("nan.toml", b"a = nan\n"),
    ("inf.toml", b"a = -inf\n"),
    ("big.toml", b"a = 9007199254740992\n"),
    ("huge.toml", b"a = 1e400\n"),
    ("hex.yaml", b"a: 0x20000000000000\n"),
]


def test_yaml_tags_plain_scalars_and_keys(tmp_path: Path) -> None:
    """SPEC 7 YAML: allowed tags (after %TAG handles and %-escapes) and the core schema;
    every other tag, non-string keys, duplicates, recursive aliases and non-finite numbers
    are refused (exit 2)."""
    _accepted_configs(tmp_path, [("tags.yaml", YAML_TAG_TEXT.encode(), YAML_TAG_EXPECTED)])
    refused = [(f"y{i}.yaml", text.encode()) for i, text in enumerate(YAML_REFUSED)]
    _refused_configs(tmp_path, [*refused, *JSON_TOML_REFUSED])


def _alias_bomb(extra_scalars: int) -> tuple[bytes, int, list[tuple[str, Any]]]:
    """A YAML document of few leaves but many nodes once aliases are expanded.

    a: a chain of D nested sequences around one scalar (D + 1 nodes); b: M aliases of it;
    c: K scalars. Nodes (SPEC 7): root 1, keys 3, a D + 1, b 1 + M(D + 1), c 1 + K."""
    d, m, k = 499, 1998, extra_scalars
    text = (
        b"a: &a " + b"[" * d + b"x" + b"]" * d + b"\n"
        b"b: [" + b", ".join([b"*a"] * m) + b"]\n"
        b"c: [" + b", ".join([b"0"] * k) + b"]\n"
    )
    nodes = 1 + 3 + (d + 1) + 1 + m * (d + 1) + 1 + k
    chain = "/0" * d
    leaves: list[tuple[str, Any]] = [("/a" + chain, "x")]
    leaves += [(f"/b/{i}{chain}", "x") for i in range(m)]
    leaves += [(f"/c/{i}", 0) for i in range(k)]
    return text, nodes, leaves


def test_yaml_expanded_node_count_limit(tmp_path: Path) -> None:
    """SPEC 7: the expanded document may have at most 1,000,000 nodes (every scalar, keys
    included, every sequence and mapping, the root; an alias counts as its whole node each
    time it occurs)."""
    at_limit, nodes, leaves = _alias_bomb(494)
    assert nodes == 1_000_000
    over, nodes_over, _ = _alias_bomb(495)
    assert nodes_over == 1_000_001
    _refused_configs(tmp_path, [("over.yaml", over)])
    _accepted_configs(tmp_path, [("limit.yaml", at_limit, leaves)])
