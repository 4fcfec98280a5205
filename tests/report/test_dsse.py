"""A DSSE envelope around the in-toto Statement, signed with a key from the environment,
verified with the in-toto library's own API (and refused by it after one payload byte flips)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from hypothesis import given, settings
from hypothesis import strategies as st

from aichain_audit.errors import InputError
from aichain_audit.report.dsse import (
    KEY_ENV,
    KEY_FILE_ENV,
    PASSWORD_ENV,
    PAYLOAD_TYPE,
    SigningKey,
    envelope,
    signing_key_from_environment,
)
from tests.conftest import REPO, assert_one_line_error
from tests.report.conftest import TIMEOUT, Sample, cli_env

STATEMENT = "https://in-toto.io/Statement/v1"

# Keys are made once per module: generating them is cheap, but a property test runs many times.
ED25519 = ed25519.Ed25519PrivateKey.generate()
P256 = ec.generate_private_key(ec.SECP256R1())


def pem(key: PrivateKeyTypes, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password)
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)  # fmt: skip


def public_pem(key: PrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def verify_with_in_toto(path: Path, public: bytes) -> dict[str, Any]:
    """What a consumer does with the envelope and the signer's public key (docs/report.md):
    in-toto loads it as DSSE metadata and checks the signature; the payload is the Statement."""
    from in_toto.models.metadata import Envelope, Metadata
    from securesystemslib.signer import SSlibKey

    key = SSlibKey.from_crypto(serialization.load_pem_public_key(public))
    metadata = Metadata.load(str(path))
    assert isinstance(metadata, Envelope)
    metadata.verify_signature({**key.to_dict(), "keyid": key.keyid})
    statement: dict[str, Any] = json.loads(metadata.payload)
    return statement


def run(sample: Sample, *args: object, **env: str) -> subprocess.CompletedProcess[str]:
    """`aichain ARGS` as `sample.run` does, with extra environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=sample.work, env={**cli_env(sample.home), **env}, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the signed envelope ---------------------------------------------------------------------
@pytest.mark.parametrize("key_kind", ["ed25519", "p256-file-encrypted"])
def test_a_signed_envelope_verifies_with_in_toto_and_not_after_one_payload_byte_flips(
    sample: Sample, tmp_path: Path, key_kind: str
) -> None:
    out = tmp_path / "statement.dsse.json"
    if key_kind == "ed25519":
        private, env = ED25519, {KEY_ENV: pem(ED25519).decode()}
    else:
        private = P256
        keyfile = tmp_path / "signing.pem"
        keyfile.write_bytes(pem(P256, b"correct horse"))
        env = {KEY_FILE_ENV: str(keyfile), PASSWORD_ENV: "correct horse"}
    proc = run(sample, "report", sample.lineage, "--verify", "model.onnx", "--sign", "-o", out,
               **env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "BEGIN" not in proc.stderr + proc.stdout and "correct horse" not in proc.stderr

    doc = json.loads(out.read_text())
    assert doc["payloadType"] == PAYLOAD_TYPE == "application/vnd.in-toto+json"
    [signature] = doc["signatures"]
    from securesystemslib.signer import SSlibKey

    public = public_pem(private)
    keyid = SSlibKey.from_crypto(serialization.load_pem_public_key(public)).keyid
    assert signature["keyid"] == keyid and keyid in proc.stderr
    statement = verify_with_in_toto(out, public)
    assert statement["_type"] == STATEMENT
    assert statement["subject"][0]["digest"]["sha256"] == sha256(sample.work / "model.onnx")
    assert statement["predicate"]["verification"]["verified"] is True

    payload = bytearray(base64.b64decode(doc["payload"]))
    payload[len(payload) // 2] ^= 0x01
    doc["payload"] = base64.b64encode(bytes(payload)).decode()
    flipped = tmp_path / "flipped.dsse.json"
    flipped.write_text(json.dumps(doc))
    from in_toto.exceptions import SignatureVerificationError

    with pytest.raises(SignatureVerificationError):
        verify_with_in_toto(flipped, public)
    with pytest.raises(SignatureVerificationError):  # another key does not verify it either
        verify_with_in_toto(out, public_pem(ed25519.Ed25519PrivateKey.generate()))


def test_the_verification_in_the_docs_runs_on_a_signed_envelope(
    sample: Sample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/report.md's Python block, run as written in a folder holding what it names."""
    docs = (REPO / "docs" / "report.md").read_text()
    block = docs.split("<!-- tested: tests/report/test_dsse.py -->\n```python\n", 1)[1]
    code = block.split("```", 1)[0]
    keyfile = tmp_path / "signing.pem"
    keyfile.write_bytes(pem(ED25519, b"pw"))
    (tmp_path / "signing.pub.pem").write_bytes(public_pem(ED25519))
    (tmp_path / "model.onnx").write_bytes((sample.work / "model.onnx").read_bytes())
    out = tmp_path / "statement.dsse.json"
    proc = run(sample, "report", sample.lineage, "--verify", "model.onnx", "--sign", "-o", out,
               **{KEY_FILE_ENV: str(keyfile), PASSWORD_ENV: "pw"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/report.md", "exec"), {})
    (tmp_path / "model.onnx").write_bytes(b"another model")
    with pytest.raises(AssertionError):  # the subject is checked against the model held
        exec(compile(code, "docs/report.md", "exec"), {})


def test_a_signed_envelope_under_a_jsonl_name_is_one_line(sample: Sample, tmp_path: Path) -> None:
    out = tmp_path / "s.intoto.jsonl"
    proc = run(
        sample, "report", sample.lineage, "--sign", "-o", out, **{KEY_ENV: pem(P256).decode()}
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert verify_with_in_toto(out, public_pem(P256))["predicate"]["verification"] is None


def test_signing_problems_are_one_line_exit_2_and_never_show_the_key(
    sample: Sample, tmp_path: Path
) -> None:
    out = tmp_path / "s.dsse.json"
    proc = run(sample, "report", sample.lineage, "--sign", "-o", out)
    assert KEY_ENV in assert_one_line_error(proc, 2)
    secret = "MC4CAQAwBQYDK2VwBCIEIAAAAsecretsecretsecretsecretsecretAAAA"
    bad = f"-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n"
    proc = run(sample, "report", sample.lineage, "--sign", "-o", out, **{KEY_ENV: bad})
    line = assert_one_line_error(proc, 2)
    assert KEY_ENV in line and "secret" not in proc.stderr + proc.stdout
    key = {KEY_ENV: pem(ED25519).decode()}
    proc = run(sample, "report", sample.lineage, "--sign", "-o", tmp_path / "r.html", **key)
    assert "--format intoto" in assert_one_line_error(proc, 2)
    proc = run(sample, "report", sample.lineage, "-o", out, **key)  # a .dsse.json, unsigned
    assert "--sign" in assert_one_line_error(proc, 2)
    assert not out.exists() and not (tmp_path / "r.html").exists()


# --- the envelope itself, without a process ----------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(payload=st.binary(min_size=1, max_size=512), flip=st.integers(min_value=0))
def test_every_envelope_verifies_and_none_survives_a_flipped_payload_byte(
    payload: bytes, flip: int
) -> None:
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError

    key = SigningKey.from_pem(pem(ED25519), source="test key")
    doc = envelope(payload, key)
    assert doc["payloadType"] == PAYLOAD_TYPE
    assert [s["keyid"] for s in doc["signatures"]] == [key.keyid]
    public = key.public_key()
    assert Envelope.from_dict(json.loads(json.dumps(doc))).verify([public], 1)
    changed = bytearray(payload)
    changed[flip % len(changed)] ^= 0x01
    forged = dict(doc, payload=base64.b64encode(bytes(changed)).decode())
    with pytest.raises(VerificationError):
        Envelope.from_dict(json.loads(json.dumps(forged))).verify([public], 1)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, KEY_ENV),
        ({KEY_ENV: "x", KEY_FILE_ENV: "y"}, "one of"),
        ({KEY_ENV: "not a key"}, "not a PEM private key"),
        ({KEY_FILE_ENV: "/nonexistent/signing.pem"}, "/nonexistent/signing.pem"),
        ({KEY_ENV: pem(ED25519, b"pw").decode()}, PASSWORD_ENV),
        ({KEY_ENV: pem(ED25519, b"pw").decode(), PASSWORD_ENV: "wrong"}, "password"),
        ({KEY_ENV: pem(ED25519).decode(), PASSWORD_ENV: "pw"}, "not encrypted"),
        ({KEY_ENV: pem(rsa.generate_private_key(65537, 2048)).decode()}, "ed25519"),
        ({KEY_ENV: pem(ec.generate_private_key(ec.SECP256K1())).decode()}, "ed25519"),
    ],
)
def test_a_missing_or_unusable_key_is_an_input_error_naming_the_variable(
    env: dict[str, str], says: str
) -> None:
    with pytest.raises(InputError) as raised:
        signing_key_from_environment(env)
    message = raised.value.message
    assert says in message and "\n" not in message
    for value in env.values():
        if "PRIVATE KEY" in value:
            assert value not in message and value.splitlines()[1] not in message


@pytest.mark.parametrize("password", [None, b"pw"])
def test_a_key_from_a_file_or_a_variable_is_the_same_key(
    tmp_path: Path, password: bytes | None
) -> None:
    keyfile = tmp_path / "k.pem"
    keyfile.write_bytes(pem(P256, password))
    env = {KEY_FILE_ENV: str(keyfile)}
    if password is not None:
        env[PASSWORD_ENV] = password.decode()
    from_file = signing_key_from_environment(env)
    from_var = signing_key_from_environment({KEY_ENV: pem(P256).decode()})
    assert from_file.keyid == from_var.keyid
    assert from_file.scheme == "ecdsa-sha2-nistp256"
    assert "PRIVATE" not in repr(from_file) and from_file.keyid in repr(from_file)


@given(body=st.binary(min_size=16, max_size=200))
@settings(max_examples=50, deadline=None)
def test_a_malformed_key_never_shows_in_the_error(body: bytes) -> None:
    text = base64.b64encode(body).decode()
    value = f"-----BEGIN PRIVATE KEY-----\n{text}\n-----END PRIVATE KEY-----\n"
    with pytest.raises(InputError) as raised:
        signing_key_from_environment({KEY_ENV: value})
    assert text not in raised.value.message
