"""What differs between object stores, one small class per store (`fingerprint/storage/
remote.py` holds what they share): the URL schemes, the optional extra and package, the
fsspec filesystem built from the ecosystem's standard credential chain (never from argv,
never printed), how an object's version is pinned, and how a pinned byte range is read.

Every ranged read of one object is pinned to the version that was listed (S3 `VersionId`
where the bucket is versioned, else `If-Match` on the ETag; GCS generation; Azure ETag), so
an object that changes while it is read raises `ObjectChanged` instead of giving a digest of
mixed versions (comparing the first and last range would miss A -> B -> A).

Errors name the scheme, bucket and key, and the store's error code at most: never a
credential, an endpoint or the store's own message (which may quote either).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from aichain_audit.errors import InputError, Unreadable


class ObjectChanged(InputError):
    """The object is no longer the version that was listed (exit 2: hash it again)."""


@dataclass(frozen=True, slots=True)
class ObjectEntry:
    """One object as a listing found it: its key (no bucket), size, and version pin."""

    key: str
    size: int
    pin: str | None


# Transient failures (a dropped connection, a timeout, a throttled request) are retried at
# most this many times in all, with backoff: bounded attempts, never a wall-clock guess, and
# about 10 s at worst with the filesystems' own short timeouts (tracking/client.py's budget).
ATTEMPTS = 3
_BACKOFF = (0.2, 0.8)


class Scheme(ABC):
    names: tuple[str, ...]  # URL schemes it reads: ("s3",), ("gs", "gcs"), ("az", "abfs")
    extra: str  # the pip extra that brings its package: "s3" -> aichain-audit[s3]
    package: str  # the import name of fsspec's filesystem for it: "s3fs"

    @abstractmethod
    def filesystem(self) -> Any:
        """The fsspec filesystem, configured from the ecosystem's standard chain (for S3:
        the AWS environment variables including AWS_ENDPOINT_URL(_S3), profiles, instance
        roles); raises `InputError` naming the extra when its package is missing."""

    @abstractmethod
    def pin(self, info: dict[str, Any]) -> str | None:
        """The version pin of an object from its listing or `info` entry (VersionId,
        generation, ETag), or None when the store gives none (then it cannot be pinned)."""

    @abstractmethod
    def read(self, fs: Any, path: str, pin: str | None, start: int, end: int) -> bytes:
        """Bytes [start, end) of exactly the pinned version of the object at `path`
        (bucket/key, no scheme); `ObjectChanged` when that version is gone or replaced."""

    # --- what a store may do better than fsspec's generic calls -------------------------
    def split(self, url: str) -> tuple[str, str]:
        """(bucket, key) of a URL of this scheme; the key may be empty or end with `/`."""
        parts = urlsplit(url)
        if parts.query or parts.fragment or "@" in parts.netloc or not parts.netloc:
            host = parts.netloc.rsplit("@", 1)[-1]
            raise InputError(
                f"{parts.scheme}://{host}: name an object or prefix as scheme://bucket/key, "
                "without a query"
            )
        return parts.netloc, unquote(parts.path.removeprefix("/"))

    def entries(self, fs: Any, bucket: str, prefix: str) -> Iterator[ObjectEntry]:
        """Every object whose key starts with `prefix` (a folder's, ending with `/`), as
        the store lists it: marker objects and odd keys included (`remote.py` judges them)."""
        found = fs.find(f"{bucket}/{prefix}", detail=True, withdirs=False)
        for name, info in sorted(found.items()):
            key = name.split("/", 1)[1] if "/" in name else ""
            if info.get("type", "file") == "file":
                yield ObjectEntry(key, int(info.get("size") or 0), self.pin(info))

    def entry(self, fs: Any, bucket: str, key: str) -> ObjectEntry | None:
        """The object at exactly `key`, or None when there is none."""
        try:
            info = fs.info(f"{bucket}/{key}")
        except FileNotFoundError:
            return None
        if info.get("type", "file") != "file":
            return None
        return ObjectEntry(key, int(info.get("size") or 0), self.pin(info))


def retrying(what: str, call: Any, *args: Any) -> Any:
    """`call(*args)`, retried with backoff on a transient failure (`ConnectionError`,
    `TimeoutError`), at most `ATTEMPTS` times in all; `InputError`s are never retried."""
    for attempt in range(ATTEMPTS):
        try:
            return call(*args)
        except (ConnectionError, TimeoutError) as exc:
            if attempt + 1 == ATTEMPTS:
                raise InputError(
                    f"{what}: the store could not be reached ({type(exc).__name__}, "
                    f"{ATTEMPTS} attempts)"
                ) from None
            time.sleep(_BACKOFF[min(attempt, len(_BACKOFF) - 1)])
    raise AssertionError("unreachable")  # pragma: no cover


# --- S3 ---------------------------------------------------------------------------------
_VERSION = "VersionId="
_ETAG = "ETag="
# Error codes that say the pinned version is gone or no longer the object's.
_CHANGED = frozenset({"PreconditionFailed", "NoSuchVersion", "NoSuchKey", "404", "412"})
_DENIED = frozenset({"AccessDenied", "403", "AllAccessDisabled", "InvalidObjectState"})
# botocore's and s3fs's own retries, bounded: with `ATTEMPTS` around them, a dead endpoint
# is given up within about 10 s (connection refused: at once).
_S3_CONFIG = {
    "connect_timeout": 3,
    "read_timeout": 10,
    "retries": {"total_max_attempts": 2, "mode": "standard"},
    "max_pool_connections": 64,
}


def _code(exc: BaseException) -> str:
    """The store's error code of an s3fs/botocore error (`AccessDenied`, `412`), never its
    message: only a short token of letters and digits, else the exception's class name."""
    for e in (exc, exc.__cause__, exc.__context__):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            err = response.get("Error") or {}
            code = str(err.get("Code") or "")
            if not code:
                status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
                code = str(status or "")
            if code.isalnum() and len(code) <= 64:
                return code
    return type(exc).__name__


class S3Scheme(Scheme):
    """Amazon S3 and compatible stores, through s3fs and botocore's standard chain:
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE and the
    shared config files, container and instance roles; the endpoint from AWS_ENDPOINT_URL_S3
    or AWS_ENDPOINT_URL (botocore reads both itself), the region from AWS_REGION /
    AWS_DEFAULT_REGION. Reads are pinned to the listed `VersionId` where the bucket has
    versioning enabled, else by `If-Match` on the listed ETag."""

    names = ("s3",)
    extra = "s3"
    package = "s3fs"

    def __init__(self) -> None:
        self._fs: Any = None
        self._versioned: dict[str, bool] = {}

    def filesystem(self) -> Any:
        if self._fs is None:
            try:
                import s3fs
            except ImportError:
                from aichain_audit.fingerprint.storage import refuse_missing_extra

                raise refuse_missing_extra("s3fs", "s3", "s3") from None
            fs = s3fs.S3FileSystem(config_kwargs=dict(_S3_CONFIG), skip_instance_cache=True)
            fs.retries = 2  # s3fs's own retries (a class attribute; 5 by default)
            self._fs = fs
        return self._fs

    def pin(self, info: dict[str, Any]) -> str | None:
        version = info.get("VersionId")
        if version and version != "null":  # "null": written before versioning: overwritable
            return _VERSION + str(version)
        etag = info.get("ETag") or info.get("etag")
        return _ETAG + str(etag) if etag else None

    def _call(self, fs: Any, what: str, method: str, **kwargs: Any) -> Any:
        def call() -> Any:
            try:
                return fs.call_s3(method, **kwargs)
            except (ConnectionError, TimeoutError):
                raise
            except FileNotFoundError:
                raise
            except PermissionError as exc:
                raise Unreadable(f"{what}: cannot read ({_code(exc)})") from None
            except Exception as exc:  # OSError from s3fs; botocore's and aiohttp's own
                if _is_transient(exc):
                    raise ConnectionError from None
                raise InputError(f"{what}: the store refused the request ({_code(exc)})") from None

        return retrying(what, call)

    def versioned(self, fs: Any, bucket: str) -> bool:
        """Whether the bucket has versioning enabled (one request per bucket and run); a
        bucket whose versioning cannot be read is pinned by ETag."""
        found = self._versioned.get(bucket)
        if found is None:
            try:
                got = self._call(fs, f"s3://{bucket}", "get_bucket_versioning", Bucket=bucket)
                found = got.get("Status") == "Enabled"
            except (Unreadable, FileNotFoundError):
                found = False
            except InputError as exc:
                if "NoSuchBucket" in exc.message:
                    raise InputError(f"s3://{bucket}: no such bucket") from None
                found = False
            self._versioned[bucket] = found
        return found

    def entries(self, fs: Any, bucket: str, prefix: str) -> Iterator[ObjectEntry]:
        where = f"s3://{bucket}/{prefix}"
        versioned = self.versioned(fs, bucket)
        method = "list_object_versions" if versioned else "list_objects_v2"
        token: dict[str, str] = {}
        while True:
            try:
                page = self._call(fs, where, method, Bucket=bucket, Prefix=prefix, **token)
            except FileNotFoundError:
                raise InputError(f"s3://{bucket}: no such bucket") from None
            if versioned:
                for v in page.get("Versions") or ():
                    if v.get("IsLatest"):
                        yield ObjectEntry(v["Key"], int(v["Size"]), self.pin(v))
                marker = page.get("NextKeyMarker")
                if not page.get("IsTruncated") or marker is None:
                    return
                token = {"KeyMarker": marker}
                if page.get("NextVersionIdMarker"):
                    token["VersionIdMarker"] = page["NextVersionIdMarker"]
            else:
                for o in page.get("Contents") or ():
                    yield ObjectEntry(o["Key"], int(o["Size"]), self.pin(o))
                nxt = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not nxt:
                    return
                token = {"ContinuationToken": nxt}

    def entry(self, fs: Any, bucket: str, key: str) -> ObjectEntry | None:
        if not key:
            return None
        try:
            head = self._call(fs, f"s3://{bucket}/{key}", "head_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return None
        info = dict(head)
        if not self.versioned(fs, bucket):
            info.pop("VersionId", None)
        return ObjectEntry(key, int(head["ContentLength"]), self.pin(info))

    def read(self, fs: Any, path: str, pin: str | None, start: int, end: int) -> bytes:
        bucket, _, key = path.partition("/")
        where = f"s3://{path}"
        if end <= start:
            return b""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes={start}-{end - 1}"}
        if pin is not None and pin.startswith(_VERSION):
            kwargs["VersionId"] = pin[len(_VERSION) :]
        elif pin is not None and pin.startswith(_ETAG):
            kwargs["IfMatch"] = pin[len(_ETAG) :]

        def call() -> bytes:
            from fsspec.asyn import sync

            try:
                return sync(fs.loop, _get_range, fs, kwargs)  # type: ignore[no-any-return]
            except (ConnectionError, TimeoutError):
                raise
            except OSError as exc:
                code = _code(exc)
                if code in _CHANGED or isinstance(exc, FileNotFoundError):
                    raise ObjectChanged(
                        f"{where} changed while being read: it is no longer the version "
                        "listed; hash it again once it is stable"
                    ) from None
                if code in _DENIED or isinstance(exc, PermissionError):
                    raise Unreadable(f"{where}: cannot read ({code})") from None
                if _is_transient(exc):
                    raise ConnectionError from None
                raise InputError(f"{where}: read failed ({code})") from None
            except Exception as exc:  # aiohttp's payload and connection errors
                if _is_transient(exc):
                    raise ConnectionError from None
                raise InputError(f"{where}: read failed ({type(exc).__name__})") from None

        data: bytes = retrying(where, call)
        if len(data) != end - start:
            raise ObjectChanged(
                f"{where} is shorter than listed: it is no longer the version listed"
            )
        return data


async def _get_range(fs: Any, kwargs: dict[str, Any]) -> bytes:
    resp = await fs._call_s3("get_object", **kwargs)
    body = resp["Body"]
    try:
        data: bytes = await body.read()
    finally:
        body.close()
    return data


def _is_transient(exc: BaseException) -> bool:
    """A dropped or timed-out connection, a throttled or failing server (5xx, SlowDown)."""
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    if names & {
        "ClientPayloadError", "ServerDisconnectedError", "ClientConnectorError",
        "ClientOSError", "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
        "IncompleteRead", "ConnectionClosedError", "TimeoutError", "ConnectionResetError",
    }:  # fmt: skip
        return True
    code = _code(exc)
    return code in {"SlowDown", "500", "502", "503", "504", "InternalError", "ServiceUnavailable",
                    "RequestTimeout", "Throttling"}  # fmt: skip
