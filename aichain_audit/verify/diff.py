"""Leaf-by-leaf comparison of two lineages: what was added, removed or changed.

Leaves are matched by their item (SPEC section 5: a file's path, `CONFIG#/pointer`,
`MODEL#semantic`, `MODEL#tensor/ID`, `#name`...) and kind; a matched pair whose bytes differ
is a change. `aichain diff` prints this, and verification uses it to name what changed.

    >>> a = [{"kind": "config", "path": "c.json", "pointer": "/lr", "value": 0.1}]
    >>> b = [{"kind": "config", "path": "c.json", "pointer": "/lr", "value": 0.2}]
    >>> [c.item for c in diff_leaves(a, b).changed]
    ['c.json#/lr']

`diff_paths` compares two inputs given on a command line: lineage manifests, or a model,
dataset or config fingerprinted on the fly (docs/diff.md states the rules).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aichain_audit.canonical import canonical_json
from aichain_audit.errors import AichainError, InputError, ManifestError, UsageError
from aichain_audit.fingerprint.config import FORMATS as CONFIG_SUFFIXES
from aichain_audit.fingerprint.model import format_for
from aichain_audit.fingerprint.paths import PathPolicy, argument_name
from aichain_audit.inputfile import kind_of, read_input
from aichain_audit.lineage import (
    MAX_MANIFEST_BYTES,
    MODEL_PART_KINDS,
    SCHEMA,
    Leaf,
    LineageManifest,
    item_of,
    parse_strict_json,
)

if TYPE_CHECKING:
    from aichain_audit.fingerprint.interface import Progress


@dataclass(frozen=True)
class Change:
    """One leaf that differs: its kind, its item, and the leaf before and after (or None)."""

    kind: str
    item: str
    before: Leaf | None
    after: Leaf | None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "item": self.item, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class LeafDiff:
    added: list[Change] = field(default_factory=list)
    removed: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    # What a reader should know about how the inputs were compared (untrusted text: escape it).
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def of_kind(self, *kinds: str) -> list[Change]:
        return [c for c in (*self.changed, *self.added, *self.removed) if c.kind in kinds]

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [c.to_dict() for c in self.added],
            "removed": [c.to_dict() for c in self.removed],
            "changed": [c.to_dict() for c in self.changed],
        }


def _keyed(leaves: Iterable[Leaf]) -> dict[tuple[str, str], Leaf]:
    out: dict[tuple[str, str], Leaf] = {}
    for leaf in leaves:
        if leaf["kind"] == "subject":
            continue  # derived from the others: its change says nothing of its own
        out[(str(leaf["kind"]), str(item_of(leaf)))] = leaf
    return out


def diff_leaves(before: Iterable[Leaf], after: Iterable[Leaf]) -> LeafDiff:
    """Leaves of `after` compared with those of `before`, in item order."""
    a, b = _keyed(before), _keyed(after)
    diff = LeafDiff()
    for key in sorted(a.keys() | b.keys(), key=lambda k: (k[1].encode(), k[0])):
        kind, item = key
        if key not in b:
            diff.removed.append(Change(kind, item, a[key], None))
        elif key not in a:
            diff.added.append(Change(kind, item, None, b[key]))
        elif canonical_json(a[key]) != canonical_json(b[key]):
            diff.changed.append(Change(kind, item, a[key], b[key]))
    return diff


# --- comparing inputs named on a command line ------------------------------------------
MODEL_KINDS = ("model", *MODEL_PART_KINDS)
DATASET_KINDS = ("dataset", "skipped")
SEMANTIC_PARTS = ("graph", "weights", "metadata")


def semantic_parts(change: Change) -> list[str]:
    """The parts of a changed `model-semantic` leaf that differ: graph, weights, metadata."""
    if change.kind != "model-semantic" or change.before is None or change.after is None:
        return []
    return [p for p in SEMANTIC_PARTS if change.before.get(p) != change.after.get(p)]


class InputKind(StrEnum):
    """What an input of `diff_paths` is read as."""

    MANIFEST = "lineage manifest"
    MODEL = "model"
    DATASET = "dataset"
    CONFIG = "config"


# Leaves whose path starts with an input's recorded name, renamed when two names are matched.
_NAMED_KINDS: dict[InputKind, tuple[str, ...]] = {
    InputKind.MODEL: ("model", "model-semantic", "tensor"),  # model-data: relative to its folder
    InputKind.DATASET: DATASET_KINDS,
    InputKind.CONFIG: ("config",),
}


@dataclass(frozen=True)
class _Found:
    """An input as found on disk, before anything is fingerprinted."""

    path: Path
    folder: bool
    manifest: LineageManifest | None = None
    not_manifest: str | None = None  # for a .json file that is no manifest: why not


def _find(path: Path) -> _Found:
    """Stats an input (following a link named on the command line) and reads a `.json` file
    as a manifest when it has `"schema": "aichain.lineage/..."`; a FIFO or device is refused
    before it is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputError(f"{path}: symbolic link to a missing file") from None
        raise InputError(f"{path}: no such file or folder") from None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        return _Found(path, folder=True)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: is {kind_of(st.st_mode)}, not a regular file or folder")
    if path.suffix.lower() != ".json":
        return _Found(path, folder=False)
    if st.st_size > MAX_MANIFEST_BYTES:
        return _Found(path, folder=False, not_manifest="larger than any manifest may be")
    data = read_input(path, limit=MAX_MANIFEST_BYTES, what="lineage manifest")
    try:
        doc = parse_strict_json(data, str(path))
    except ManifestError as exc:
        return _Found(path, folder=False, not_manifest=exc.message.removeprefix(f"{path}: "))
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if isinstance(schema, str) and schema.startswith("aichain.lineage/"):
        # A manifest, perhaps of another version or broken: refused, never read as a config.
        return _Found(path, folder=False, manifest=LineageManifest.from_json(data, str(path)))
    return _Found(path, folder=False, not_manifest=f'no "schema": "{SCHEMA}" member')


def _artifact_kind(found: _Found, recorded: Sequence[Leaf] | None) -> InputKind:
    """What an input that is no manifest is fingerprinted as, beside the `recorded` leaves of
    the manifest it is compared with (None: compared with another artifact). A model is
    what a model format reads (a file, or a checkpoint folder); a pickle the other lineage
    records as a dataset file stays one (`.pt` files were datasets before pickles were
    models), and so does a checkpoint folder the other lineage records as a dataset folder."""
    fmt = format_for(found.path)
    name = argument_name(found.path)
    as_dataset = recorded is not None and any(
        leaf["kind"] in DATASET_KINDS
        and (leaf["path"] == name or str(leaf["path"]).startswith(name + "/"))
        for leaf in recorded
    )
    if fmt is not None and not ((fmt.scheme is None or fmt.folders) and as_dataset):
        return InputKind.MODEL
    if found.folder:
        return InputKind.DATASET
    suffix = found.path.suffix.lower()
    if recorded is None:
        return InputKind.CONFIG if suffix in CONFIG_SUFFIXES else InputKind.DATASET
    if suffix in CONFIG_SUFFIXES and any(
        leaf["kind"] == "config" and leaf["path"] == name for leaf in recorded
    ):
        return InputKind.CONFIG
    if any(leaf["kind"] in DATASET_KINDS and leaf["path"] == name for leaf in recorded):
        return InputKind.DATASET
    if found.not_manifest is not None:
        # Most likely a manifest that is broken or of some other tool: say so, do not diff it.
        raise InputError(
            f"{found.path} is not a lineage manifest ({found.not_manifest}), and the other "
            f"lineage records no config or dataset file named {name!r}"
        )
    return InputKind.DATASET


def _described(found: _Found, kind: InputKind) -> str:
    if kind is InputKind.MODEL:
        fmt = format_for(found.path)
        return f"the {fmt.name + ' ' if fmt is not None else ''}model {found.path}"
    if found.folder:
        return f"the folder {found.path}"
    return f"the {'dataset file' if kind is InputKind.DATASET else kind} {found.path}"


def _pair_kind(a: _Found, b: _Found) -> InputKind:
    """Two artifacts are compared when they are of one kind: two models, folders or files
    (two configs when both have config suffixes, else two dataset files)."""
    ka, kb = _artifact_kind(a, None), _artifact_kind(b, None)
    if not a.folder and not b.folder and {ka, kb} == {InputKind.CONFIG, InputKind.DATASET}:
        return InputKind.DATASET
    if ka is not kb or (a.folder is not b.folder and ka is not InputKind.MODEL):
        raise UsageError(
            f"cannot compare {_described(a, ka)} with {_described(b, kb)}: give two models, "
            "two folders, two files, or a lineage manifest and one of them"
        )
    return ka


def _fingerprint(
    path: Path, kind: InputKind, policy: PathPolicy, progress: Progress | None
) -> list[Leaf]:
    from aichain_audit.fingerprint.interface import (
        ConfigFingerprinter,
        DatasetFingerprinter,
        ModelFingerprinter,
    )

    # The same fingerprinters as `aichain fingerprint`; a folder holding no file simply has
    # no leaves here.
    if kind is InputKind.MODEL:
        return ModelFingerprinter().fingerprint([path]).leaves
    if kind is InputKind.CONFIG:
        return ConfigFingerprinter().fingerprint([path]).leaves
    return DatasetFingerprinter(policy, progress=progress).fingerprint([path]).leaves


def _recorded_name(path: Path, kind: InputKind) -> str:
    """The name an input's leaves are recorded under: a model's is its model leaf's (a
    checkpoint folder's main file, not the folder's name)."""
    if kind is InputKind.MODEL:
        from aichain_audit.fingerprint.model import format_of

        return format_of(path).main_file(path)[0]
    return argument_name(path)


def renamed_leaves(leaves: Iterable[Leaf], kind: InputKind, old: str, new: str) -> list[Leaf]:
    """Leaves of an input recorded as `old`, as if it had been recorded as `new`."""
    kinds = _NAMED_KINDS[kind]
    out: list[Leaf] = []
    for leaf in leaves:
        path = leaf.get("path")
        if leaf["kind"] in kinds and isinstance(path, str):
            if path == old:
                leaf = {**leaf, "path": new}
            elif path.startswith(old + "/"):
                leaf = {**leaf, "path": new + path[len(old) :]}
        out.append(leaf)
    return out


def scope(kind: InputKind, name: str) -> Callable[[Leaf], bool]:
    """The leaves an input of `kind` recorded as `name` produces: the only ones compared."""
    if kind is InputKind.MODEL:
        return lambda leaf: leaf["kind"] in MODEL_KINDS
    if kind is InputKind.CONFIG:
        return lambda leaf: leaf["kind"] == "config" and leaf["path"] == name
    return lambda leaf: (
        leaf["kind"] in DATASET_KINDS
        and (leaf["path"] == name or str(leaf["path"]).startswith(name + "/"))
    )


def _scope_words(kind: InputKind, name: str) -> str:
    if kind is InputKind.MODEL:
        return "the model's leaves (files, data files, semantic parts, tensors)"
    if kind is InputKind.CONFIG:
        return f"the values of the config {name!r}"
    return f"the dataset files recorded under {name!r}"


def diff_paths(
    a: Path | str,
    b: Path | str,
    *,
    policy: PathPolicy = PathPolicy(),
    progress: Progress | None = None,
) -> LeafDiff:
    """`_diff_paths`, where an input may also be an object storage URL: it is downloaded
    (a model with the files its format reads) into a private temporary folder and compared
    from there, named by its URL in notes and errors."""
    from aichain_audit.fingerprint.storage import is_url

    if not is_url(a) and not is_url(b):
        return _diff_paths(Path(a), Path(b), policy=policy, progress=progress)
    import tempfile

    from aichain_audit.fingerprint.storage import storage_for
    from aichain_audit.fingerprint.storage.fetch import fetch, private_folder

    with tempfile.TemporaryDirectory(prefix="aichain-diff-") as tmp:
        local: list[Path] = []
        shown: dict[str, str] = {}
        for i, given in enumerate((a, b)):
            if not is_url(given):
                local.append(Path(given))
                continue
            url = str(given)
            name = storage_for(url).argument_name(url)
            model = not url.endswith("/") and format_for(Path(name)) is not None
            got = fetch(url, private_folder(Path(tmp), str(i)), model=model)
            shown[str(got)] = url
            local.append(got)

        def named(text: str) -> str:
            for path, url in shown.items():
                text = text.replace(path, url)
            return text

        try:
            result = _diff_paths(local[0], local[1], policy=policy, progress=progress)
        except AichainError as exc:
            exc.args = (named(exc.message), *exc.args[1:])
            raise
        return replace(result, notes=tuple(named(n) for n in result.notes))


def _diff_paths(
    a: Path,
    b: Path,
    *,
    policy: PathPolicy = PathPolicy(),
    progress: Progress | None = None,
) -> LeafDiff:
    """Compares input `a` (before) with input `b` (after), leaf by leaf.

    Each input is a lineage manifest (a `.json` file whose `schema` is `aichain.lineage/v1`),
    or an artifact fingerprinted now: what a model format reads (`fingerprint.model`) is a
    model, another folder a dataset, and a file a config when it has a config suffix and the
    manifest it is compared with records config values under its name, else a dataset file.
    Against a manifest, only the leaves of the kinds the artifact produces (and, for
    datasets and configs, under its name) are compared. A model is matched with the
    manifest's model whatever its file name; two artifacts of one kind are matched whatever
    their names. `policy` applies to folders.
    """
    fa, fb = _find(a), _find(b)
    if fa.manifest is not None and fb.manifest is not None:
        return diff_leaves(fa.manifest.leaves, fb.manifest.leaves)
    notes: list[str] = []
    if fa.manifest is None and fb.manifest is None:
        kind = _pair_kind(fa, fb)
        before = _fingerprint(a, kind, policy, progress)
        after = _fingerprint(b, kind, policy, progress)
        name_a, name_b = _recorded_name(a, kind), _recorded_name(b, kind)
        if name_a != name_b:
            after = renamed_leaves(after, kind, name_b, name_a)
            notes.append(f"{b} is compared as {name_a!r}, the name {a} is recorded under")
        return replace(diff_leaves(before, after), notes=tuple(notes))
    manifest_found, found = (fa, fb) if fa.manifest is not None else (fb, fa)
    manifest = manifest_found.manifest
    assert manifest is not None  # one side is a manifest here
    kind = _artifact_kind(found, manifest.leaves)
    leaves = _fingerprint(found.path, kind, policy, progress)
    name = _recorded_name(found.path, kind)
    models = manifest.of_kind("model")
    if kind is InputKind.MODEL and models and models[0]["path"] != name:
        recorded_as = str(models[0]["path"])
        leaves = renamed_leaves(leaves, kind, name, recorded_as)
        notes.append(
            f"the model {found.path} is compared as {recorded_as!r}, the model "
            f"{manifest_found.path} records"
        )
        name = recorded_as
    keep = scope(kind, name)
    recorded = [leaf for leaf in manifest.leaves if keep(leaf)]
    leaves = [leaf for leaf in leaves if keep(leaf)]
    notes.insert(0, f"only {_scope_words(kind, name)} are compared")
    if not recorded:
        notes.append(f"{manifest_found.path} records none of them")
    before, after = (recorded, leaves) if fa.manifest is not None else (leaves, recorded)
    return replace(diff_leaves(before, after), notes=tuple(notes))
