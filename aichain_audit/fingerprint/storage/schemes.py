"""What differs between object stores, one small class per store (`fingerprint/storage/
remote.py` holds what they share): the URL schemes, the optional extra and package, the
fsspec filesystem built from the ecosystem's standard credential chain (never from argv,
never printed), how an object's version is pinned, and how a pinned byte range is read.

Every ranged read of one object is pinned to the version that was listed (S3 `VersionId`
where the bucket is versioned, else `If-Match` on the ETag; GCS generation; Azure ETag), so
an object that changes while it is read raises `ObjectChanged` instead of giving a digest of
mixed versions (comparing the first and last range would miss A -> B -> A).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from aichain_audit.errors import InputError


class ObjectChanged(InputError):
    """The object is no longer the version that was listed (exit 2: hash it again)."""


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
