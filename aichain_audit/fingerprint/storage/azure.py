"""Azure Blob Storage (`az://container/blob`, `abfs://`) through adlfs: credentials, pins, reads.

- Credentials: adlfs's own reading of the Azure environment, in its order:
  `AZURE_STORAGE_CONNECTION_STRING`; else `AZURE_STORAGE_ACCOUNT_NAME` with
  `AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_SAS_TOKEN`, a service principal
  (`AZURE_STORAGE_CLIENT_ID`/`_SECRET`/`TENANT_ID`) or azure-identity's
  `DefaultAzureCredential` (managed identity, workload identity, `az login`);
  `AZURE_STORAGE_ANON=true` for public containers. Never from argv, never in a message.
- URL forms: `az://container/blob`, `abfs://container/blob`, and the Hadoop form
  `abfs://container@account.dfs.core.windows.net/blob` (also `.blob.core.windows.net`) when the
  account it names is the configured one: adlfs would read the configured account's container
  of that name whatever the URL says, so a mismatch is refused rather than followed.
- Pin: the blob's ETag, which every write changes and never reuses (A -> B -> A gives three).
  Every ranged read carries `If-Match` on it, so a blob replaced before or during the read
  fails with 412 (`ObjectChanged`) instead of giving bytes of another version.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from aichain_audit.errors import InputError, Unreadable
from aichain_audit.fingerprint.storage.schemes import ObjectChanged, ObjectEntry, Scheme

ACCOUNT_HOSTS = (".dfs.core.windows.net", ".blob.core.windows.net")


def configured_account() -> str | None:
    """The storage account the environment names (the connection string's `AccountName`,
    else its blob endpoint's, else `AZURE_STORAGE_ACCOUNT_NAME`); None when none is named."""
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if conn:
        fields = dict(
            part.split("=", 1) for part in conn.split(";") if "=" in part
        )  # fmt: skip
        fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
        if fields.get("accountname"):
            return fields["accountname"]
        endpoint = urlsplit(fields.get("blobendpoint", ""))
        host = endpoint.hostname or ""
        if host.endswith(".core.windows.net"):
            return host.split(".", 1)[0]
        segment = endpoint.path.strip("/").split("/", 1)[0]  # the emulator's path-style account
        return segment or None
    return os.environ.get("AZURE_STORAGE_ACCOUNT_NAME") or None


class AzureScheme(Scheme):
    names = ("az", "abfs")
    extra = "azure"
    package = "adlfs"

    def filesystem(self) -> Any:
        try:
            from adlfs import AzureBlobFileSystem  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            raise InputError(
                "az:// URLs need the adlfs package: pip install 'aichain-audit[azure]'"
            ) from None
        unusable = InputError(
            "az://: no usable Azure storage account: set AZURE_STORAGE_CONNECTION_STRING, "
            "or AZURE_STORAGE_ACCOUNT_NAME with a key, a SAS token or an Azure identity"
        )
        if not (
            os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
            or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
        ):
            raise unusable  # before adlfs builds an identity chain that could only fail later
        try:
            return AzureBlobFileSystem(skip_instance_cache=True)
        except Exception:  # adlfs quotes the SDK's error, which may quote the connection string
            raise unusable from None

    def split(self, url: str) -> tuple[str, str]:
        """(container, blob) of an `az://` or `abfs://` URL, the blob percent-decoded (it may
        be empty: the container's root); the `container@account.dfs.core.windows.net` form
        only when the account is the configured one."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in self.names or not parts.netloc:
            raise InputError(f"{scheme}://: name a blob or prefix as az://container/blob")
        if parts.query or parts.fragment:
            raise InputError(
                f"{scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}: a URL with a query "
                "or fragment is refused (name the blob alone)"
            )
        container = parts.netloc
        if "@" in container:
            container, _, host = container.partition("@")
            host = host.lower()
            if not host.endswith(ACCOUNT_HOSTS) or ":" in host:
                raise InputError(
                    f"{scheme}://{container}@…: the host must be ACCOUNT.dfs.core.windows.net"
                )
            account = host.split(".", 1)[0]
            configured = configured_account()
            if configured is None:
                raise InputError(
                    f"{scheme}://{container}@{account}…: set AZURE_STORAGE_ACCOUNT_NAME={account} "
                    "(or a connection string for it) so its credentials are used"
                )
            if configured.lower() != account:
                raise InputError(
                    f"{scheme}://{container}@{account}… names account {account}, but the "
                    f"credentials are for account {configured}"
                )
        if not container:
            raise InputError(f"{scheme}:// URL names no container")
        return container, unquote(parts.path.removeprefix("/"))

    # `RemoteStorage` lists through `Scheme.entries`/`entry`: the store's raw listing below,
    # not fsspec's `find`/`info`.
    def entries(self, fs: Any, bucket: str, prefix: str) -> Iterator[ObjectEntry]:
        for key, size, pin in list_blobs(fs, bucket, prefix):
            yield ObjectEntry(key, size, pin)

    def entry(self, fs: Any, bucket: str, key: str) -> ObjectEntry | None:
        found = head_blob(fs, bucket, key)
        return None if found is None else ObjectEntry(key, *found)

    def pin(self, info: dict[str, Any]) -> str | None:
        return _etag(info.get("etag"))

    def read(self, fs: Any, path: str, pin: str | None, start: int, end: int) -> bytes:
        container, _, blob = path.partition("/")
        where = f"az://{container}/{blob}"
        if start < 0 or end < start:
            raise ValueError(f"bad byte range [{start}, {end})")
        if start == end:
            return b""
        conditions: dict[str, Any] = {}
        if pin is not None:
            from azure.core import MatchConditions

            conditions = {"etag": pin, "match_condition": MatchConditions.IfNotModified}
        from fsspec.asyn import sync  # type: ignore[import-untyped, unused-ignore]

        try:  # adlfs's cat_file passes no conditions on: the SDK's client, on adlfs's loop
            data = sync(fs.loop, _download, fs, container, blob, start, end - start, conditions)
        except Exception as exc:
            raise _read_error(exc, where, pin) from None
        if len(data) != end - start:
            if pin is not None:
                raise ObjectChanged(f"{where} is not the size it was listed with")
            raise InputError(f"{where} is shorter than the range to read")
        return bytes(data)


def list_blobs(fs: Any, container: str, prefix: str) -> list[tuple[str, int, str | None]]:
    """(name, size, ETag) of every blob whose name starts with `prefix`, as Azure lists them
    (raw names: "folder" markers and names fsspec would normalise included; adlfs's `find`
    also answers a list instead of a mapping when the prefix names a blob). The directories
    of a hierarchical-namespace account (empty blobs with `hdi_isfolder=true`) are left out:
    they are folders, not objects."""
    from fsspec.asyn import sync

    try:
        found: list[tuple[str, int, str | None]] = sync(
            fs.loop, _list_blobs, fs, container, prefix
        )  # fmt: skip
    except Exception as exc:
        if getattr(exc, "status_code", None) == 404:
            raise InputError(f"az://{container}: no such container") from None
        raise _read_error(exc, f"az://{container}/{prefix}", None) from None
    return found


def head_blob(fs: Any, container: str, name: str) -> tuple[int, str | None] | None:
    """(size, ETag) of the blob named exactly `name`, or None when there is none (or it is a
    hierarchical-namespace directory)."""
    if not name:
        return None
    from fsspec.asyn import sync

    try:
        found: tuple[int, str | None] | None = sync(fs.loop, _head_blob, fs, container, name)
    except Exception as exc:
        raise _read_error(exc, f"az://{container}/{name}", None) from None
    return found


def _etag(etag: str | None) -> str | None:
    return f'"{etag.strip(chr(34))}"' if etag else None  # quoted, as adlfs's listings give it


def _is_directory(metadata: dict[str, str] | None) -> bool:
    return any(k.lower() == "hdi_isfolder" and v == "true" for k, v in (metadata or {}).items())


async def _list_blobs(fs: Any, container: str, prefix: str) -> list[tuple[str, int, str | None]]:
    out = []
    async with fs.service_client.get_container_client(container) as client:
        async for blob in client.list_blobs(name_starts_with=prefix or None, include=["metadata"]):
            if not _is_directory(blob.metadata):
                out.append((str(blob.name), int(blob.size or 0), _etag(blob.etag)))
    return out


async def _head_blob(fs: Any, container: str, name: str) -> tuple[int, str | None] | None:
    from azure.core.exceptions import ResourceNotFoundError

    async with fs.service_client.get_blob_client(container=container, blob=name) as client:
        try:
            props = await client.get_blob_properties()
        except ResourceNotFoundError:
            return None
    if _is_directory(props.metadata):
        return None
    return int(props.size or 0), _etag(props.etag)


async def _download(
    fs: Any, container: str, blob: str, offset: int, length: int, conditions: dict[str, Any]
) -> bytes:
    async with fs.service_client.get_blob_client(container=container, blob=blob) as client:
        stream = await client.download_blob(offset=offset, length=length, **conditions)
        return bytes(await stream.readall())


def _read_error(exc: Exception, where: str, pin: str | None) -> InputError:
    """What a failed request means, naming only the blob (the SDK's messages can carry the
    request URL, SAS signature included)."""
    status = getattr(exc, "status_code", None)
    if status == 412 or type(exc).__name__ == "ResourceModifiedError":
        return ObjectChanged(f"{where} changed since it was listed (its ETag no longer matches)")
    if isinstance(exc, FileNotFoundError) or status == 404:
        if pin is not None:
            return ObjectChanged(f"{where} changed since it was listed (it is gone)")
        return InputError(f"{where} does not exist")
    if status == 416:
        if pin is not None:
            return ObjectChanged(f"{where} is not the size it was listed with")
        return InputError(f"{where} is shorter than the range to read")
    if status in (401, 403) or isinstance(exc, PermissionError):
        return Unreadable(f"{where}: permission denied")
    detail = f"HTTP {status}" if isinstance(status, int) else type(exc).__name__
    return Unreadable(f"{where}: read failed ({detail})")
