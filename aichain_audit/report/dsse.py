"""A DSSE envelope (the signed wrapper in-toto attestations travel in) around one payload,
signed with a key taken from the environment.

The key is read from `AICHAIN_SIGNING_KEY` (a PEM private key) or from the PEM file named by
`AICHAIN_SIGNING_KEY_FILE`, encrypted or not (its password in
`AICHAIN_SIGNING_KEY_PASSWORD`): never from a command line, and never shown: an error names
the variable, not its value. ed25519 and ECDSA P-256 or P-384 keys. securesystemslib signs;
this module, imported only when a statement is signed, is the only one that imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aichain_audit.errors import InputError
from aichain_audit.inputfile import read_input

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner, SSlibKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
KEY_ENV = "AICHAIN_SIGNING_KEY"
KEY_FILE_ENV = "AICHAIN_SIGNING_KEY_FILE"
PASSWORD_ENV = "AICHAIN_SIGNING_KEY_PASSWORD"
MAX_KEY_BYTES = 64 * 1024
SCHEMES = ("ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384")
_KINDS = "an ed25519 or ECDSA P-256/P-384 private key"


class SigningKey:
    """A private key ready to sign, known by its securesystemslib key id (the SHA-256 of its
    public key's canonical form, as `SSlibKey.from_crypto` computes it). Its repr shows the
    key id only."""

    def __init__(self, signer: CryptoSigner) -> None:
        self._signer = signer

    @classmethod
    def from_pem(cls, pem: bytes, *, source: str, password: bytes | None = None) -> SigningKey:
        """The key in `pem`, decrypted with `password`; an `InputError` naming `source` (a
        variable or a file, never the key) when it is not a usable private key."""
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
        from securesystemslib.signer import CryptoSigner

        try:
            key = load_pem_private_key(pem, password)
        except TypeError as exc:  # a password missing, or given for a key without one
            if password is None:
                raise InputError(
                    f"{source} is an encrypted private key: set {PASSWORD_ENV} to its password"
                ) from None
            raise InputError(f"{source} is not encrypted: unset {PASSWORD_ENV}") from exc
        except ValueError:  # cryptography's text may quote the data: none of it is shown
            if password is not None and b"ENCRYPTED" in pem:
                raise InputError(
                    f"{source} could not be decrypted with {PASSWORD_ENV}: wrong password?"
                ) from None
            raise InputError(f"{source} is not a PEM private key ({_KINDS})") from None
        except Exception:  # an unsupported algorithm, a malformed structure
            raise InputError(f"{source} is not a PEM private key ({_KINDS})") from None
        usable = isinstance(key, ed25519.Ed25519PrivateKey) or (
            isinstance(key, ec.EllipticCurvePrivateKey)
            and isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1)
        )
        if not usable:
            raise InputError(f"{source} holds a key of another kind: give {_KINDS}")
        return cls(CryptoSigner(key))

    @property
    def keyid(self) -> str:
        return str(self._signer.public_key.keyid)

    @property
    def scheme(self) -> str:
        return str(self._signer.public_key.scheme)

    def public_key(self) -> SSlibKey:
        """The public half, as securesystemslib verifies with it."""
        return self._signer.public_key

    @property
    def signer(self) -> CryptoSigner:
        return self._signer

    def __repr__(self) -> str:
        return f"SigningKey(keyid={self.keyid!r}, scheme={self.scheme!r})"


def signing_key_from_environment(environ: Mapping[str, str] | None = None) -> SigningKey:
    """The key `AICHAIN_SIGNING_KEY` holds, or the file `AICHAIN_SIGNING_KEY_FILE` names
    (password: `AICHAIN_SIGNING_KEY_PASSWORD`); one of the two, else an `InputError`."""
    env = os.environ if environ is None else environ
    text, file = env.get(KEY_ENV), env.get(KEY_FILE_ENV)
    password = env.get(PASSWORD_ENV)
    secret = None if password is None else password.encode()
    if text is not None and file is not None:
        raise InputError(f"set one of {KEY_ENV} and {KEY_FILE_ENV}, not both")
    if text is not None:
        return SigningKey.from_pem(text.encode(), source=KEY_ENV, password=secret)
    if file is not None:
        data = read_input(Path(file), limit=MAX_KEY_BYTES, what="signing key")
        return SigningKey.from_pem(data, source=f"{KEY_FILE_ENV} ({file})", password=secret)
    raise InputError(
        f"signing needs a key: set {KEY_ENV} to a PEM private key ({_KINDS}), or "
        f"{KEY_FILE_ENV} to a PEM file and {PASSWORD_ENV} to its password if it has one"
    )


def envelope(payload: bytes, key: SigningKey, payload_type: str = PAYLOAD_TYPE) -> dict[str, Any]:
    """The DSSE envelope of `payload` (JSON-ready: base64 payload and signature), with one
    signature by `key`, its key id recorded."""
    from securesystemslib.dsse import Envelope

    signed = Envelope(payload, payload_type, {})
    signed.sign(key.signer)
    found: dict[str, Any] = signed.to_dict()
    return found
