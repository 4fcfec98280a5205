"""Which files make a safetensors checkpoint folder, and which one carries the semantic
fingerprint (docs/SPEC.md section 13.2). Listing only: nothing here reads a file's bytes.

Every regular file under the folder, recursively, is part of the model (weights, config,
tokenizer, custom code, opaque `*.bin`), except the download metadata under
`.cache/huggingface/` and a `.git/` folder, both at the top level. Names are relative to the
folder, whose own name is not recorded. Symbolic links are refused, except in a Hugging Face
cache snapshot (`models--ORG--NAME/snapshots/REV/`), whose files are links into
`models--ORG--NAME/blobs/`: those are followed to regular files inside `models--ORG--NAME/`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from aichain_audit.errors import InputError, PathPolicyError
from aichain_audit.fingerprint.paths import manifest_name
from aichain_audit.lineage import item_conflict

INDEX_NAME = "model.safetensors.index.json"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
INDEX_SUFFIX = ".safetensors.index.json"
SUFFIX = ".safetensors"
# Not part of the model: download metadata, and git's own store (top level only).
EXCLUDED = (".cache/huggingface", ".git")
# A folder holding more files than this is refused: no checkpoint comes close.
MAX_FILES = 100_000


@dataclass(frozen=True, slots=True)
class FolderFile:
    """A file of the checkpoint: its recorded name (relative to the folder) and its real path."""

    name: str
    path: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A listed checkpoint folder: its files sorted by name, and the model leaf's file."""

    folder: Path
    files: tuple[FolderFile, ...]
    main: str

    def path_of(self, name: str) -> str | None:
        return next((f.path for f in self.files if f.name == name), None)


def _is_weights(name: str) -> bool:
    return name.lower().endswith(SUFFIX)


def _is_index(name: str) -> bool:
    return name.lower().endswith(INDEX_SUFFIX)


def looks_like_checkpoint(folder: Path) -> bool:
    """Whether the folder's top level holds a `*.safetensors` or `*.safetensors.index.json`
    entry (a file, or a link in a cache snapshot): one listing, no file is opened."""
    try:
        with os.scandir(folder) as it:
            return any((_is_weights(e.name) or _is_index(e.name)) and not e.is_dir() for e in it)
    except OSError:
        return False


def cache_repository(real: str) -> str | None:
    """The repository folder `…/models--ORG--NAME` when `real` (a real path) is one of its
    snapshots (`…/models--ORG--NAME/snapshots/REV`), else None."""
    parent = os.path.dirname(real)
    repo = os.path.dirname(parent)
    if os.path.basename(parent) == "snapshots" and os.path.basename(repo).startswith("models--"):
        return repo
    return None


def list_checkpoint(folder: Path, *, pick_main: bool = True) -> Checkpoint:
    """Lists a checkpoint folder's files (SPEC 13.2) and picks its model leaf (with
    `pick_main` false, only when the folder says which it is; else `main` is "")."""
    shown = str(folder)
    try:
        real = os.path.realpath(folder, strict=True)
    except OSError:
        raise InputError(f"{shown}: no such folder") from None
    if not os.path.isdir(real):
        raise InputError(f"{shown}: not a folder")
    repo = cache_repository(real)
    files: list[FolderFile] = []
    stack: list[tuple[str, str]] = [(real, "")]
    while stack:
        where, prefix = stack.pop()
        try:
            with os.scandir(where) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise InputError(
                f"{os.path.join(shown, prefix)}: folder cannot be read ({exc.strerror})"
            ) from None
        for entry in entries:
            name = prefix + manifest_name(entry.name)
            if name in EXCLUDED:
                continue
            shown_entry = os.path.join(shown, name)
            if entry.is_symlink():
                files.append(FolderFile(name, _followed(entry.path, repo, shown_entry)))
            elif entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, name + "/"))
            elif entry.is_file(follow_symlinks=False):
                files.append(FolderFile(name, entry.path))
            else:
                raise PathPolicyError(
                    f"{shown_entry} is not a regular file (FIFO, socket or device); "
                    "a checkpoint folder holds regular files only"
                )
            if len(files) > MAX_FILES:
                raise InputError(f"{shown}: more than {MAX_FILES:,} files; not a checkpoint")
    files.sort(key=lambda f: f.name.encode("utf-8"))
    seen: set[str] = set()
    for f in files:
        if f.name in seen:
            raise InputError(
                f"{shown}: two files map to the name {f.name!r} (Unicode NFC); rename one"
            )
        seen.add(f.name)
        conflict = item_conflict(f.name)
        if conflict is not None:
            raise InputError(conflict)
    names = [f.name for f in files]
    if pick_main:
        return Checkpoint(folder, tuple(files), _main(shown, names))
    try:
        return Checkpoint(folder, tuple(files), _main(shown, names))
    except InputError:
        return Checkpoint(folder, tuple(files), "")


def _followed(path: str, repo: str | None, shown: str) -> str:
    """The real path of a link in a cache snapshot, a regular file inside its repository."""
    if repo is None:
        raise PathPolicyError(
            f"{shown} is a symbolic link; a checkpoint folder holds regular files (only the "
            "links of a Hugging Face cache snapshot into its blobs are followed)"
        )
    target = os.path.realpath(path)
    if os.path.commonpath([repo, target]) != repo:
        raise PathPolicyError(
            f"{shown} is a symbolic link that leaves the cache's repository folder {repo}"
        )
    try:
        st = os.stat(target)
    except OSError:
        raise PathPolicyError(f"{shown} is a symbolic link to a missing file") from None
    if not stat.S_ISREG(st.st_mode):
        raise PathPolicyError(f"{shown} is a symbolic link to something not a regular file")
    return target


def _main(shown: str, names: list[str]) -> str:
    """The model leaf's file: the index, else the one weights file (SPEC 13.2)."""
    top = [n for n in names if "/" not in n]
    if INDEX_NAME in top:
        return INDEX_NAME
    indexes = [n for n in top if _is_index(n)]
    if len(indexes) > 1:
        raise InputError(
            f"{shown}: several safetensors indexes ({', '.join(indexes)}) and no "
            f"{INDEX_NAME}: which one is the model is ambiguous"
        )
    if indexes:
        return indexes[0]
    if WEIGHTS_NAME in top:
        return WEIGHTS_NAME
    weights = [n for n in top if _is_weights(n)]
    if len(weights) > 1:
        raise InputError(
            f"{shown}: several safetensors files ({', '.join(weights[:5])}"
            f"{', …' if len(weights) > 5 else ''}) and neither {INDEX_NAME} nor {WEIGHTS_NAME}: "
            "which ones are the model is ambiguous; add an index"
        )
    if not weights:
        raise InputError(
            f"{shown}: no {SUFFIX} file or {INDEX_SUFFIX} at its top level; not a safetensors "
            "checkpoint"
        )
    return weights[0]


def check_shard_name(name: object, where: str) -> str:
    """A shard name from an index: a relative POSIX path that stays inside the folder."""
    if not isinstance(name, str):
        raise InputError(f"{where}: a weight_map value is not a string")
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise PathPolicyError(
            f"{where}: shard {name!r} is not a relative path inside the checkpoint folder"
        )
    return name
