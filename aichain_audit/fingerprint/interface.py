"""One small interface for every artifact kind, so `verify` re-fingerprints exactly as
`fingerprint` does: a `Fingerprinter` turns the paths a user names into lineage leaves.

One implementation per kind: datasets (files and folders, under a path policy), training
configs, and models (one `fingerprint.model.ModelFormat` per format).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aichain_audit.errors import InputError, Unreadable
from aichain_audit.fingerprint.hashing import FileDigest, HashJob, digest_files
from aichain_audit.fingerprint.paths import ListedFile, PathPolicy, argument_name, list_argument
from aichain_audit.fingerprint.storage import Location, Storage, is_url, storage_for
from aichain_audit.lineage import (
    Leaf,
    config_leaf,
    file_leaf,
    item_conflict,
    semantic_leaf,
    skipped_leaf,
    tensor_leaf,
)

if TYPE_CHECKING:  # onnx is imported only when a model is fingerprinted
    from aichain_audit.fingerprint.engine import Engine
    from aichain_audit.fingerprint.model import ModelFingerprint


class Progress(Protocol):
    """Receives progress of long work (the CLI draws a bar on stderr).

    A receiver may also have `shown() -> bool`: when it says False (the CLI's bar off a
    terminal), `start` gets no total worth showing, and a dataset's file sizes are read when
    each file is hashed instead of each being read first for the total.
    """

    def start(self, description: str, total: int) -> None: ...
    def advance(self, amount: int) -> None: ...
    def stop(self) -> None: ...


@dataclass(frozen=True)
class Fingerprinted:
    """The leaves of the paths given, and what a summary needs."""

    leaves: list[Leaf]
    total_bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    model: ModelFingerprint | None = None


class Fingerprinter(ABC):
    """Turns the paths a user names into lineage leaves (SPEC sections 4 to 8)."""

    @abstractmethod
    def fingerprint(self, paths: Sequence[Path]) -> Fingerprinted: ...


class DatasetFingerprinter(Fingerprinter):
    """Files and folders: one `dataset` leaf per file, `skipped` leaves by the policy; the
    files hashed by `engine` (default: the local engine, this process)."""

    def __init__(
        self,
        policy: PathPolicy = PathPolicy(),
        *,
        progress: Progress | None = None,
        cache: bool = False,
        engine: Engine | None = None,
    ) -> None:
        self.policy = policy
        self.progress = progress
        self.cache = cache
        self.engine = engine

    def fingerprint(self, paths: Sequence[Location]) -> Fingerprinted:
        listed: list[ListedFile] = []
        skipped: list[tuple[str, str]] = []
        shown = getattr(self.progress, "shown", None)  # optional (see Progress)
        sizes = self.progress is not None and (shown is None or bool(shown()))  # for the total
        # Objects named by URL, by the storage that reads them (empty for local paths only,
        # which are listed and hashed exactly as they always were).
        remote: dict[int, Storage] = {}
        for arg in paths:
            if is_url(arg):
                storage = storage_for(arg)
                listing = storage.listing(arg, self.policy, identity=self.cache, sizes=sizes)
                if storage.remote:
                    remote.update(
                        (i, storage) for i in range(len(listed), len(listed) + len(listing.files))
                    )
            else:
                listing = list_argument(Path(arg), self.policy, identity=self.cache, sizes=sizes)
            listed.extend(listing.files)
            skipped.extend(listing.skipped)
        for recorded in [f.name for f in listed] + [n for n, _ in skipped]:
            conflict = item_conflict(recorded)  # refused before an hour of hashing, not after
            if conflict is not None:
                raise InputError(conflict)
        digest_cache = None
        cached: list[FileDigest | None] = [None] * len(listed)
        if self.cache:
            from aichain_audit.fingerprint.cache import DigestCache
            from aichain_audit.home import aichain_home

            digest_cache = DigestCache(aichain_home() / "digests.sqlite3")
            cached = digest_cache.lookup(listed)
        todo = [i for i, c in enumerate(cached) if c is None]
        local = [i for i in todo if i not in remote] if remote else todo
        jobs = [HashJob(listed[i].path, listed[i].name, listed[i].size, listed[i].link is not None)
                for i in local]  # fmt: skip
        if self.progress:
            total = sum(job.size or 0 for job in jobs)
            total += sum(listed[i].size or 0 for i in todo if i in remote)
            self.progress.start("hashing datasets", total)
        advance = self.progress.advance if self.progress else None
        try:
            fresh: list[FileDigest | Exception]
            if self.engine is None:  # today's path, exactly: no per-file cost (P2, P6)
                fresh = list(digest_files(jobs, progress=advance))
            else:
                from aichain_audit.fingerprint.storage.local import LocalStorage

                files = [listed[i] for i in local]
                fresh = self.engine.digest(LocalStorage(), files, progress=advance)
                del files
            if remote:
                fresh = _with_remote(listed, todo, remote, fresh, advance, self.engine)
        finally:
            if self.progress:
                self.progress.stop()
        del jobs, local  # a million files: every list alive at once is what P6 measures
        results: list[FileDigest | Exception] = []
        fresh_iter = iter(fresh)
        for c in cached:
            results.append(c if c is not None else next(fresh_iter))
        if digest_cache is not None:
            hashed = [(listed[i], r) for i, r in zip(todo, fresh, strict=True)]
            done = [(f, r) for f, r in hashed if isinstance(r, FileDigest)]
            digest_cache.store([f for f, _ in done], [r for _, r in done])
            digest_cache.close()
        del fresh, fresh_iter, cached, todo
        leaves: list[Leaf] = []
        total = 0
        for f, r in zip(listed, results, strict=True):
            if isinstance(r, Exception):
                if not isinstance(r, InputError):
                    raise r
                if isinstance(r, Unreadable):
                    if self.policy.skip_unreadable:
                        skipped.append((f.name, "unreadable"))
                        continue
                    raise Unreadable(
                        r.message + "; record unreadable files as skipped",
                        hint="skip_unreadable",
                    )
                raise r
            leaves.append(file_leaf("dataset", f.name, r.digest, r.size, f.link))
            total += r.size
        leaves.extend(skipped_leaf(name, reason) for name, reason in skipped)
        return Fingerprinted(leaves, total, skipped)


def _with_remote(
    listed: Sequence[ListedFile],
    todo: Sequence[int],
    remote: dict[int, Storage],
    local: list[FileDigest | Exception],
    progress: Callable[[int], None] | None,
    engine: Engine | None,
) -> list[FileDigest | Exception]:
    """The digests of `todo` in order: `local` for the local files (in order), each object's
    from its storage (one `Storage.digest` call per storage, or one `engine.digest`)."""
    by_storage: dict[int, tuple[Storage, list[int]]] = {}
    for i in todo:
        storage = remote.get(i)
        if storage is not None:
            by_storage.setdefault(id(storage), (storage, []))[1].append(i)
    got: dict[int, FileDigest | Exception] = {}
    for storage, indices in by_storage.values():
        files = [listed[i] for i in indices]
        digests = (
            storage.digest(files, progress=progress)
            if engine is None
            else engine.digest(storage, files, progress=progress)
        )
        for i, d in zip(indices, digests, strict=True):
            got[i] = d if isinstance(d, FileDigest | InputError) else InputError(str(d))
    local_iter = iter(local)
    return [got[i] if i in remote else next(local_iter) for i in todo]


class ConfigFingerprinter(Fingerprinter):
    """JSON, YAML and TOML configs: one `config` leaf per value (SPEC section 7)."""

    def fingerprint(self, paths: Sequence[Path]) -> Fingerprinted:
        if not paths:
            return Fingerprinted([])
        # Imported here: a run without configs need not load the parsers (start-up, P8).
        from aichain_audit.fingerprint.config import flatten, load_config

        leaves: list[Leaf] = []
        for path in paths:
            name = argument_name(path)
            value = load_config(path, str(path))
            leaves.extend(config_leaf(name, pointer, v) for pointer, v in flatten(value, name))
        return Fingerprinted(leaves)


class ModelFingerprinter(Fingerprinter):
    """One model, in the format that recognises it (`fingerprint.model.format_of`): file
    digest, model-data files, its semantic fingerprint and its tensors. A folder model (a
    checkpoint) records its files by their names inside it, never the folder's own name."""

    def fingerprint(self, paths: Sequence[Path]) -> Fingerprinted:
        from aichain_audit.fingerprint.model import format_of

        if len(paths) != 1:
            raise InputError("a lineage has one model")
        model = paths[0]
        fmt = format_of(model)
        if not fmt.folders:  # a folder's names are checked as it is listed
            conflict = item_conflict(argument_name(model))
            if conflict is not None:
                raise InputError(conflict)
        fp = fmt.fingerprint(model)
        leaves: list[Leaf] = [file_leaf("model", fp.name, fp.file.digest, fp.file.size)]
        leaves.extend(file_leaf("model-data", n, d.digest, d.size) for n, d in fp.external)
        s = fp.semantic
        if s is not None:  # an opaque model has its bytes only
            assert fmt.scheme is not None
            leaves.append(semantic_leaf(fp.name, fmt.scheme, s.graph, s.weights, s.metadata))
            leaves.extend(tensor_leaf(fp.name, t.id, t.name, t.digest) for t in s.tensors)
        total = fp.file.size + sum(d.size for _, d in fp.external)
        return Fingerprinted(leaves, total, model=fp)
