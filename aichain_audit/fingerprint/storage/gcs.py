"""Google Cloud Storage (`gs://bucket/key`, `gcs://`) through gcsfs: credentials, pins, reads.

- Credentials: Google's application-default chain (`GOOGLE_APPLICATION_CREDENTIALS`, the gcloud
  application-default login, the metadata server on Google Cloud); anonymous only against an
  emulator (`STORAGE_EMULATOR_HOST` set), never as a silent fallback.
- The filesystem is gcsfs's plain JSON-API `gcsfs.core.GCSFileSystem`, not the class the
  package exports: gcsfs 2026.10 exports `ExtendedGcsFileSystem` (on unless
  `GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`), which asks the Storage Control API over gRPC for
  every bucket's type and, when that fails (an emulator has no gRPC endpoint), waits out its
  retry budget on every operation without caching the answer. Reads here are JSON-API media
  downloads, which standard, hierarchical-namespace and versioned buckets all serve.
- Pin: the object's generation (a new one on every write, never reused: A -> B -> A gives three).
  A read asks for exactly that generation (`generation=`, so GCS answers with its bytes or 404)
  and checks the `x-goog-generation` GCS returns; a server that does not say which generation
  it served (gcp-storage-emulator) is asked after the read: the live generation still being
  the pinned one means no write happened before or during the read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from aichain_audit.errors import InputError, Unreadable
from aichain_audit.fingerprint.storage.schemes import ObjectChanged, ObjectEntry, Scheme

EMULATOR_VARIABLE = "STORAGE_EMULATOR_HOST"


def _emulated() -> bool:
    return os.environ.get(EMULATOR_VARIABLE, "") not in ("", "default")


class GCSScheme(Scheme):
    names = ("gs", "gcs")
    extra = "gcs"
    package = "gcsfs"

    def filesystem(self) -> Any:
        try:
            from gcsfs.core import GCSFileSystem  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            raise InputError(
                "gs:// URLs need the gcsfs package: pip install 'aichain-audit[gcs]'"
            ) from None
        token = "anon" if _emulated() else "google_default"
        try:
            return GCSFileSystem(token=token, skip_instance_cache=True)
        except Exception:  # google.auth's errors may quote a credentials file: never shown
            raise InputError(
                "gs://: no usable Google Cloud credentials (GOOGLE_APPLICATION_CREDENTIALS, "
                "`gcloud auth application-default login`, or the metadata server)"
            ) from None

    def split(self, url: str) -> tuple[str, str]:
        """(bucket, key) of a `gs://bucket/key` URL, the key percent-decoded (it may be
        empty: the bucket's root)."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in self.names or not parts.netloc or "@" in parts.netloc:
            raise InputError(f"{parts.scheme}://: name an object or prefix as gs://bucket/key")
        if parts.query or parts.fragment:
            raise InputError(
                f"{parts.scheme}://{parts.netloc}{parts.path}: a URL with a query or fragment "
                "is refused (name the object alone)"
            )
        return parts.netloc, unquote(parts.path.removeprefix("/"))

    # `RemoteStorage` lists through `Scheme.entries`/`entry`: the store's raw listing below,
    # not fsspec's `find`/`info`.
    def entries(self, fs: Any, bucket: str, prefix: str) -> Iterator[ObjectEntry]:
        for key, size, pin in list_objects(fs, bucket, prefix):
            yield ObjectEntry(key, size, pin)

    def entry(self, fs: Any, bucket: str, key: str) -> ObjectEntry | None:
        found = head_object(fs, bucket, key)
        return None if found is None else ObjectEntry(key, *found)

    def pin(self, info: dict[str, Any]) -> str | None:
        return _generation(info)

    def read(self, fs: Any, path: str, pin: str | None, start: int, end: int) -> bytes:
        bucket, _, key = path.partition("/")
        where = f"gs://{bucket}/{key}"
        if start < 0 or end < start:
            raise ValueError(f"bad byte range [{start}, {end})")
        if start == end:
            return b""
        try:
            headers, data = fs.call(
                "GET", fs.url(path, generation=pin), headers={"Range": f"bytes={start}-{end - 1}"}
            )
        except Exception as exc:
            raise _read_error(exc, where, pin) from None
        if pin is not None:
            served = headers.get("x-goog-generation")
            if served is None:
                served = _live_generation(fs, bucket, key, where, pin)
            if served != pin:
                raise ObjectChanged(f"{where} changed since it was listed (generation {pin})")
        if len(data) != end - start:
            if pin is not None:
                raise ObjectChanged(f"{where} is not the size it was listed with")
            raise InputError(f"{where} is shorter than the range to read")
        return bytes(data)


def list_objects(fs: Any, bucket: str, prefix: str) -> Iterator[tuple[str, int, str | None]]:
    """(key, size, generation) of every live object whose key starts with `prefix`, as GCS
    lists them (raw keys: "folder" markers and keys fsspec would normalise included)."""
    token: str | None = None
    while True:
        try:
            page = fs.call(
                "GET", "b/{}/o", bucket, json_out=True, prefix=prefix or None, pageToken=token,
                fields="items(name,size,generation),nextPageToken",
            )  # fmt: skip
        except Exception as exc:
            if isinstance(exc, FileNotFoundError):
                raise InputError(f"gs://{bucket}: no such bucket") from None
            raise _read_error(exc, f"gs://{bucket}/{prefix}", None) from None
        for item in page.get("items") or ():
            yield str(item["name"]), int(item.get("size") or 0), _generation(item)
        token = page.get("nextPageToken")
        if not token:
            return


def head_object(fs: Any, bucket: str, key: str) -> tuple[int, str | None] | None:
    """(size, generation) of the live object at exactly `key`, or None when there is none."""
    if not key:
        return None
    try:
        meta = fs.call("GET", "b/{}/o/{}", bucket, key, json_out=True, fields="size,generation")
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise _read_error(exc, f"gs://{bucket}/{key}", None) from None
    return int(meta.get("size") or 0), _generation(meta)


def _generation(item: dict[str, Any]) -> str | None:
    generation = item.get("generation")
    return None if generation in (None, "") else str(generation)


def _live_generation(fs: Any, bucket: str, key: str, where: str, pin: str) -> str:
    try:
        meta = fs.call("GET", "b/{}/o/{}", bucket, key, json_out=True)
    except Exception as exc:
        raise _read_error(exc, where, pin) from None
    return str(meta.get("generation"))


def _read_error(exc: Exception, where: str, pin: str | None) -> InputError:
    """What a failed request means, naming only the object (gcsfs's messages carry URLs)."""
    code = getattr(exc, "code", None)
    if isinstance(exc, FileNotFoundError):
        if pin is not None:
            return ObjectChanged(f"{where} changed since it was listed (generation {pin} is gone)")
        return InputError(f"{where} does not exist")
    if code == 416:
        if pin is not None:
            return ObjectChanged(f"{where} is not the size it was listed with")
        return InputError(f"{where} is shorter than the range to read")
    if isinstance(exc, PermissionError) or code in (401, 403) or "Forbidden" in str(exc)[:10]:
        return Unreadable(f"{where}: permission denied")
    if isinstance(exc, InputError):
        return exc
    detail = f"HTTP {code}" if isinstance(code, int) else type(exc).__name__
    return Unreadable(f"{where}: read failed ({detail})")
