"""Copies of objects on local disk, for what must parse a model (fingerprint, diff, and
verify's explanation of a mismatch): exactly the files the model's format reads, into a
private folder (0700, files 0600), each read pinned to its listed version.

A model object brings the files its format names beside it: an ONNX model's external data
(the locations written in the model, each checked to stay under the model's prefix: no
`..`, no absolute name), a split GGUF model's other parts; a prefix (a checkpoint) brings
every object under it. The copy is named as the objects are (the object's base name, the
prefix's last segment), so it fingerprints to what the objects would.
"""

from __future__ import annotations

import os
from pathlib import Path

from aichain_audit.errors import InputError
from aichain_audit.fingerprint.paths import ListedFile, PathPolicy
from aichain_audit.fingerprint.storage import storage_for
from aichain_audit.fingerprint.storage.interface import Location
from aichain_audit.fingerprint.storage.local import FileUrlStorage
from aichain_audit.fingerprint.storage.remote import RANGE, RemoteStorage, object_url, parent_url


def private_folder(parent: Path, name: str) -> Path:
    """A new folder only this user can read (0700), whatever the umask."""
    folder = parent / name
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def fetch(location: Location, folder: Path, *, model: bool = False) -> Path:
    """`location` as a local path: a local path or `file://` URL as it is; an object or
    prefix downloaded into `folder` (private), with, for a `model`, the files its format
    reads beside it. Returns the path to read (the object's copy, or the prefix's folder)."""
    storage = storage_for(location)
    if not storage.remote:
        return FileUrlStorage.path(location)
    assert isinstance(storage, RemoteStorage)
    url = str(location)
    listing = storage.listing(url, PathPolicy())
    name = storage.argument_name(url)
    if len(listing.files) == 1 and listing.files[0].name == name and "/" not in name:
        local = folder / name
        download(storage, listing.files[0], local)
        if model:
            for extra in _model_files(local):
                target = object_url(parent_url(listing.files[0].path), extra)
                files = storage.listing(target, PathPolicy()).files
                if len(files) != 1 or files[0].path != target:
                    raise InputError(f"{target}: not one object (a prefix?)")
                download(storage, files[0], folder.joinpath(*extra.split("/")))
        return local
    root = folder / name
    for f in listing.files:
        download(storage, f, folder.joinpath(*f.name.split("/")))
    if not listing.files:
        root.mkdir(mode=0o700)
    return root


def _model_files(local: Path) -> list[str]:
    """The other files the model at `local` reads, by their names relative to its folder
    (checked: no `..`, no absolute name)."""
    from aichain_audit.fingerprint.model import format_of
    from aichain_audit.lineage import check_relative

    fmt = format_of(local)
    names = fmt.data_files(local)
    if names is None and fmt.scheme is not None and fmt.scheme.startswith("onnx"):
        names = tuple(_onnx_locations(local))
    out = []
    for n in names or ():
        try:
            check_relative(n)
        except Exception:
            raise InputError(
                f"{local.name}: names a file outside its folder ({n!r}); refused"
            ) from None
        out.append(n)
    return out


def _onnx_locations(path: Path) -> list[str]:
    """The external data locations an ONNX model names (every tensor, subgraphs too)."""
    import onnx
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    try:
        m = onnx.load_model(str(path), load_external_data=False)
    except Exception:
        return []  # not a model onnx reads: fingerprinting it says why
    found: dict[str, None] = {}
    for t in _get_all_tensors(m):
        if uses_external_data(t):
            for e in t.external_data:
                if e.key == "location":
                    found[e.value] = None
    return list(found)


def download(storage: RemoteStorage, file: ListedFile, target: Path) -> None:
    """One object's listed version into a new file (0600) at `target` (its folders 0700)."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        size = file.size or 0
        pos = 0
        while pos < size:
            end = min(pos + RANGE, size)
            data = storage.read(file, pos, end)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            pos = end
    finally:
        os.close(fd)
