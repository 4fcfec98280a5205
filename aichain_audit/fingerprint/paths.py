"""How paths on disk become names in a manifest, and the policy for odd files.

Names (docs/SPEC.md, "Paths"): a file argument is recorded by its base name, a
folder argument by its own name plus the path inside it; POSIX separators;
Unicode NFC; a name that is not valid UTF-8 is refused. Inside a folder,
symbolic links, special files (FIFOs, sockets, devices) and unreadable files are
refused unless the policy says to follow or skip them; skipping is never silent:
every skipped entry becomes a leaf of its own.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from aichain_audit.errors import InputError, PathPolicyError
from aichain_audit.lineage import check_relative


class LinkPolicy(StrEnum):
    REFUSE = "refuse"
    FOLLOW = "follow"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class PathPolicy:
    """What to do with symbolic links, special files and unreadable files inside a folder."""

    symlinks: LinkPolicy = LinkPolicy.REFUSE
    skip_special: bool = False
    skip_unreadable: bool = False


@dataclass(slots=True)  # not frozen: its __init__ took 3 times as long (20,000 files: 9 ms)
class ListedFile:
    """A regular file found under an argument: its manifest name and where it lives."""

    name: str
    path: str
    size: int | None  # None: not read when listed (`list_argument`); hashing reads it
    link: str | None = None  # for a followed link: its target, relative to the folder argument
    identity: tuple[int, int, int, int] = (0, 0, 0, 0)  # (dev, ino, mtime_ns, ctime_ns)
    pin: str | None = None  # an object's: the version every read of it is pinned to


NO_IDENTITY = (0, 0, 0, 0)


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(slots=True)
class Listing:
    files: list[ListedFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    # Only the digest cache reads a file's identity; without it, every file shares one
    # placeholder (about 200 bytes a file saved: a million files, 200 MB; PRODUCT.md P6).
    with_identity: bool = False

    def identity(self, st: os.stat_result) -> tuple[int, int, int, int]:
        return _identity(st) if self.with_identity else NO_IDENTITY


def manifest_name(raw: str) -> str:
    """Validates one path component read from disk and returns its NFC form."""
    if raw.isascii() and "\\" not in raw:
        return raw  # ASCII is valid UTF-8 and already NFC
    try:
        text = os.fsencode(raw).decode("utf-8")
    except UnicodeDecodeError:
        shown = os.fsencode(raw).decode("utf-8", "backslashreplace")
        raise InputError(f"file name {shown!r} is not valid UTF-8; rename it") from None
    if "\\" in text:
        # Would read as a separator on another platform; refuse rather than guess.
        raise InputError(f"file name {text!r} contains a backslash; rename it")
    return unicodedata.normalize("NFC", text)


def _inside_name(path: str, real_root: str) -> str:
    """A followed link's `link` member: `path` relative to the folder argument, each name
    validated and in NFC like every recorded path (SPEC 4), so the manifest reads back."""
    rel = os.path.relpath(path, real_root)
    if rel.isascii() and "\\" not in rel:
        return rel if os.sep == "/" else rel.replace(os.sep, "/")
    return "/".join(manifest_name(part) for part in rel.split(os.sep))


def argument_name(path: Path) -> str:
    """The name under which a file or folder argument is recorded: its own base name."""
    base = os.path.basename(os.path.abspath(path))
    if not base:
        raise InputError(f"{path}: cannot fingerprint the file system root")
    return manifest_name(base)


def model_folder(model: Path) -> Path:
    """The folder a model's external data is resolved in (docs/SPEC.md 8.1, rule 5): the folder
    of the model path as given, where onnx and onnxruntime look, never that of its real path.
    A model named through a symbolic link gets the data beside the link, which the runtimes
    read, not the data beside the link's target."""
    return Path(os.path.dirname(model) or os.curdir)


def resolve_inside(base: Path, name: str) -> Path:
    """The file a manifest path names under `base`, refusing any escape (checked before reading)."""
    rel = check_relative(name)
    real_base = os.path.realpath(base)
    target = os.path.realpath(os.path.join(real_base, *rel))
    if os.path.commonpath([real_base, target]) != real_base:
        raise PathPolicyError(f"manifest path {name!r} escapes its base folder {base}")
    return Path(target)


def list_argument(
    arg: Path, policy: PathPolicy, *, identity: bool = False, sizes: bool = False
) -> Listing:
    """Lists the regular files an argument stands for, applying `policy` inside folders;
    with `identity`, each file's (dev, ino, mtime_ns, ctime_ns) for the digest cache.

    A file's size is read when listing only with `identity` or `sizes` (or when the file
    is the argument itself, or reached through a link): inside a folder, the directory
    entry's type says what it is, and hashing reads the size of the file it opens. A stat
    call per file was two thirds of listing 20,000 files (PRODUCT.md P2, P6).

    The argument itself is taken as given: naming a link on the command line is
    an explicit choice, so a top-level link is followed.
    """
    name = argument_name(arg)
    try:
        st = os.stat(arg)
    except FileNotFoundError:
        if os.path.islink(arg):
            raise InputError(f"{arg}: symbolic link to a missing file") from None
        raise InputError(f"{arg}: no such file or folder") from None
    except OSError as exc:
        raise InputError(f"{arg}: {exc.strerror}") from None
    listing = Listing(with_identity=identity)
    if stat.S_ISREG(st.st_mode):
        listing.files.append(
            ListedFile(name, os.path.realpath(arg), st.st_size, identity=listing.identity(st))
        )
    elif stat.S_ISDIR(st.st_mode):
        _walk(Path(os.path.realpath(arg)), name, policy, listing, sizes=sizes or identity)
    else:
        raise PathPolicyError(f"{arg} is not a regular file or folder")
    _refuse_collisions([f.name for f in listing.files] + [s[0] for s in listing.skipped])
    return listing


def _walk(root: Path, root_name: str, policy: PathPolicy, listing: Listing, *, sizes: bool) -> None:
    """Walks a folder. With links followed, every file reached through a link records its real
    place in `link`, and a real folder may be reached through links at most once: more would
    let a few links fan one file out into exponentially many leaves."""
    real_root = str(root)
    # (folder on disk, its manifest name, the real folders on the way down (loop detection),
    #  whether it was reached through a link)
    stack: list[tuple[str, str, frozenset[str], bool]] = [
        (real_root, root_name, frozenset([real_root]), False)
    ]
    through_links: dict[str, str] = {}  # real folder -> the manifest name it was reached as
    while stack:
        folder, folder_name, ancestors, via_link = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError as exc:
            if policy.skip_unreadable:
                listing.skipped.append((folder_name, "unreadable"))
                continue
            raise InputError(
                f"{folder_name}: folder cannot be read ({exc.strerror}); "
                "unreadable entries can be recorded as skipped instead",
                hint="skip_unreadable",
            ) from None
        except OSError as exc:
            raise InputError(f"{folder_name}: {exc.strerror}") from None

        for entry in entries:
            name = f"{folder_name}/{manifest_name(entry.name)}"
            path = entry.path  # os.path.join(folder, entry.name), made by scandir
            st: os.stat_result | None = None
            try:
                if sizes:
                    st = entry.stat(follow_symlinks=False)
                    mode = stat.S_IFMT(st.st_mode)
                else:  # the type from the directory entry: no stat call (see list_argument)
                    mode = _entry_type(entry)
            except OSError as exc:
                raise InputError(f"{name}: {exc.strerror}") from None
            if mode == stat.S_IFLNK:
                if policy.symlinks is LinkPolicy.SKIP:
                    listing.skipped.append((name, "symlink"))
                    continue
                if policy.symlinks is LinkPolicy.REFUSE:
                    raise PathPolicyError(
                        f"{name} is a symbolic link; links can be followed (those that stay "
                        "inside the dataset) or recorded as skipped",
                        hint="follow_or_skip_symlinks",
                    )
                target = os.path.realpath(path)
                if os.path.commonpath([real_root, target]) != real_root:
                    raise PathPolicyError(
                        f"{name} is a symbolic link that leaves the dataset folder"
                    )
                try:
                    st = os.stat(target)
                except OSError:
                    raise PathPolicyError(f"{name} is a symbolic link to a missing file") from None
                link = _inside_name(target, real_root)
                if stat.S_ISDIR(st.st_mode):
                    if target in ancestors:
                        raise PathPolicyError(f"{name} is a symbolic link loop")
                    _reach_through_link(through_links, target, name)
                    stack.append((target, name, ancestors | {target}, True))
                    continue
                if not stat.S_ISREG(st.st_mode):
                    _special(name, policy, listing)
                    continue
                listing.files.append(
                    ListedFile(name, target, st.st_size, link, listing.identity(st))
                )
            elif mode == stat.S_IFDIR:
                if via_link:
                    _reach_through_link(through_links, path, name)
                stack.append((path, name, ancestors | {path}, via_link))
            elif mode == stat.S_IFREG:
                via = _inside_name(path, real_root) if via_link else None
                if st is None:
                    listing.files.append(ListedFile(name, path, None, via))
                else:
                    listing.files.append(
                        ListedFile(name, path, st.st_size, via, listing.identity(st))
                    )
            else:
                _special(name, policy, listing)


def _entry_type(entry: os.DirEntry[str]) -> int:
    """S_IFLNK, S_IFDIR or S_IFREG from a directory entry's type (scandir reads it with the
    names; only a file system that does not record types costs an lstat), else 0: a FIFO,
    socket or device."""
    if entry.is_symlink():
        return stat.S_IFLNK
    if entry.is_dir(follow_symlinks=False):
        return stat.S_IFDIR
    if entry.is_file(follow_symlinks=False):
        return stat.S_IFREG
    return 0


def _reach_through_link(through_links: dict[str, str], folder: str, name: str) -> None:
    first = through_links.setdefault(folder, name)
    if first != name:
        raise PathPolicyError(
            f"{name} is a folder already reached through symbolic links as {first}; a folder "
            "reached twice through links is refused (it could fan out without bound); "
            "links can be recorded as skipped instead",
            hint="skip_symlinks",
        )


def _special(name: str, policy: PathPolicy, listing: Listing) -> None:
    if policy.skip_special:
        listing.skipped.append((name, "special"))
        return
    raise PathPolicyError(
        f"{name} is not a regular file (FIFO, socket or device); "
        "special files can be recorded as skipped instead",
        hint="skip_special",
    )


def _refuse_collisions(names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputError(f"two files map to the manifest path {n!r} (Unicode NFC); rename one")
        seen.add(n)
