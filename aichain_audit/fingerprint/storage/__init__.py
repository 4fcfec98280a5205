"""Where an argument's bytes live: a local path, or an allow-listed object storage URL.

    >>> is_url("s3://bucket/data/"), is_url("data/train.csv")
    (True, False)
    >>> storage_for("data/train.csv").kind
    'local'

`storage_for` is the one door: a local path (or a `file://` URL) gets `LocalStorage`, with
every local safety rule; an object URL gets the `RemoteStorage` of its `Scheme`. Only the
schemes of `SCHEMES` are read; fsspec also opens `http(s)://`, chained URLs
(`simplecache::s3://…`, `zip://…`) and `github://`, which are refused in one line, as is a
URL whose optional extra is not installed (`pip install 'aichain-audit[s3]'`). Nothing here
imports fsspec or a store's package: they are imported when a URL is first read.

Adding a store is one module with a `Scheme` and one entry per URL scheme in `SCHEMES`.
"""

from __future__ import annotations

import importlib
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from aichain_audit.errors import InputError, UsageError
from aichain_audit.fingerprint.storage.interface import Location, Storage

if TYPE_CHECKING:
    from aichain_audit.fingerprint.storage.schemes import Scheme

__all__ = ["SCHEMES", "Location", "Storage", "is_url", "scheme_of", "storage_for", "url_path"]

# URL scheme -> "module:Scheme class", imported when a URL of it is first read. `file` is not
# here: a `file://` URL is a local path, read by `LocalStorage` with every local rule.
SCHEMES: dict[str, str] = {
    "s3": "aichain_audit.fingerprint.storage.schemes:S3Scheme",
    "gs": "aichain_audit.fingerprint.storage.gcs:GCSScheme",
    "gcs": "aichain_audit.fingerprint.storage.gcs:GCSScheme",
    "az": "aichain_audit.fingerprint.storage.azure:AzureScheme",
    "abfs": "aichain_audit.fingerprint.storage.azure:AzureScheme",
}
# What an allow-listed URL may name, for the message about one this build cannot read.
ALLOWED = ("s3", "gs", "gcs", "az", "abfs", "file")

# `scheme://…`, or fsspec's chaining (`simplecache::s3://…`): a name followed by `::`.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*(://|::)")


def is_url(location: Location) -> bool:
    """Whether a location is a URL (`scheme://…` or a chained `a::b` one), not a local path.
    A local file whose name looks like one is named `./name`."""
    return isinstance(location, str) and _URL.match(location) is not None


def scheme_of(url: str) -> str:
    """The allow-listed scheme of a URL (lower case), or `UsageError` naming why it is
    refused."""
    match = _URL.match(url)
    if match is None:
        raise UsageError(f"{url!r} is not a URL")
    if match.group(1) == "::" or "::" in url:
        raise UsageError(
            f"{_shown(url)}: chained fsspec URLs (a::b) are refused; name the object itself "
            "(s3://, gs://, az://, abfs:// or file://)"
        )
    scheme = url[: match.end() - 3].lower()
    if scheme not in ALLOWED:
        raise UsageError(
            f"{_shown(url)}: {scheme}:// is refused; only s3://, gs://, az://, abfs:// and "
            "file:// URLs are read (a local file whose name looks like a URL: ./name)"
        )
    return scheme


def url_path(url: str) -> Path:
    """The local path a `file://` URL names (`file:///abs/path`, or `file://localhost/…`),
    percent-decoded; another host, a query or a fragment is refused."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise UsageError(
            f"{_shown(url)}: a file:// URL names a local absolute path (file:///path/to/data)"
        )
    path = unquote(parts.path, errors="surrogateescape")
    if not path.startswith("/"):
        raise UsageError(f"{_shown(url)}: a file:// URL names an absolute path")
    return Path(path)


def _shown(url: str) -> str:
    """A URL as an error may show it: without a user:password@ part or a query (which may
    carry a SAS token or signature)."""
    parts = urlsplit(url) if "://" in url else None
    if parts is None:
        return url.split("?", 1)[0]
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"


_storages: dict[str, Storage] = {}
_lock = threading.Lock()


def storage_for(location: Location) -> Storage:
    """The storage that reads `location`: `LocalStorage` for a path (or a `file://` URL),
    the `RemoteStorage` of its scheme for an object URL (one per scheme and process, so
    its filesystem and connections are shared)."""
    from aichain_audit.fingerprint.storage.local import FileUrlStorage, LocalStorage

    if not is_url(location):
        return _shared("local", LocalStorage)
    scheme = scheme_of(str(location))
    if scheme == "file":
        return _shared("file", FileUrlStorage)
    target = SCHEMES.get(scheme)
    if target is None:  # pragma: no cover - every allowed scheme has an entry
        raise UsageError(f"{scheme}:// URLs cannot be read by this build")
    with _lock:
        found = _storages.get(scheme)
        if found is None:
            from aichain_audit.fingerprint.storage.remote import RemoteStorage

            module, _, name = target.partition(":")
            try:
                cls: type[Scheme] = getattr(importlib.import_module(module), name)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
                raise UsageError(f"{scheme}:// URLs cannot be read by this build") from None
            found = _storages[scheme] = RemoteStorage(cls())
            for other, same in SCHEMES.items():  # `gs` and `gcs`: one storage
                if same == target:
                    _storages[other] = found
        return found


def _shared(kind: str, make: type[Storage]) -> Storage:
    with _lock:
        found = _storages.get(kind)
        if found is None:
            found = _storages[kind] = make()
        return found


def refuse_missing_extra(package: str, extra: str, scheme: str) -> InputError:
    """The one-line error for a URL whose optional extra is not installed."""
    return InputError(
        f"{scheme}:// URLs need the {package} package: pip install 'aichain-audit[{extra}]'"
    )
