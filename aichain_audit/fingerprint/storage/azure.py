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
from typing import Any
from urllib.parse import urlsplit

from aichain_audit.errors import InputError, Unreadable
from aichain_audit.fingerprint.storage.schemes import ObjectChanged, Scheme

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
            from adlfs import AzureBlobFileSystem  # type: ignore[import-untyped]
        except ImportError:
            raise InputError(
                "az:// URLs need the azure extra: pip install 'aichain-audit[azure]'"
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

    def object_path(self, url: str) -> str:
        """`container/blob` of an `az://` or `abfs://` URL (the blob may be empty: a
        container's root); the `container@account.dfs.core.windows.net` form only when the
        account is the configured one."""
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in self.names:
            raise InputError(f"not an Azure Blob Storage URL: {scheme}://")
        netloc, _, blob = rest.partition("/")
        if "?" in url or "#" in url:
            raise InputError(f"{scheme}:// URL has a query or fragment: name the blob alone")
        container = netloc
        if "@" in netloc:
            container, _, host = netloc.partition("@")
            host = host.lower()
            if not host.endswith(ACCOUNT_HOSTS):
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
        return f"{container}/{blob}"

    def pin(self, info: dict[str, Any]) -> str | None:
        etag = info.get("etag")
        return None if not etag else str(etag)

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
        from fsspec.asyn import sync  # type: ignore[import-untyped]

        try:  # adlfs's cat_file passes no conditions on: the SDK's client, on adlfs's loop
            data = sync(fs.loop, _download, fs, container, blob, start, end - start, conditions)
        except Exception as exc:
            raise _read_error(exc, where, pin) from None
        if len(data) != end - start:
            if pin is not None:
                raise ObjectChanged(f"{where} is not the size it was listed with")
            raise InputError(f"{where} is shorter than the range to read")
        return bytes(data)


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
