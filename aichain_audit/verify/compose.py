"""The composer: runs every check of a verification and lets none of the never-skip ones
(`model.digest`, `lineage.root`, `ledger.record`) be skipped.

A check that cannot complete becomes an `error` finding rather than an exception, so every
other check still runs and the report shows them all; the verdict is `Verification.verified`,
and the exit code is `errors.verification_exit_code` (a failure outranks an error).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aichain_audit import __version__
from aichain_audit.errors import AichainError, UsageError
from aichain_audit.fingerprint.hashing import digest_file
from aichain_audit.fingerprint.paths import PathPolicy
from aichain_audit.lineage import MLFLOW_RUN
from aichain_audit.receipt import ReceiptPointer, load_receipt, receipt_path
from aichain_audit.tracking import LINEAGE_ARTIFACT, RECEIPT_ARTIFACT, TAG_MODEL_DIGEST
from aichain_audit.tracking.client import download_lineage, download_onnx, runs_tagged, session
from aichain_audit.tracking.records import is_model_uri
from aichain_audit.verify.datasets import check_datasets
from aichain_audit.verify.findings import NEVER_SKIP, SCHEMA, Finding, Verification
from aichain_audit.verify.ledger import check_ledger_records
from aichain_audit.verify.lineage_root import ReadManifest, check_root, read_manifest
from aichain_audit.verify.mlflow import REQUIRED as MLFLOW_REQUIRED
from aichain_audit.verify.mlflow import check_mlflow
from aichain_audit.verify.model import check_model

if TYPE_CHECKING:
    from aichain_audit.ledger import ChainSettings


def verify_lineage(
    model: Path | str,
    lineage: Path | None,
    settings: ChainSettings,
    *,
    receipt: Path | None = None,
    datasets: Sequence[Path] = (),
    pins: Sequence[str] = (),
    policy: PathPolicy = PathPolicy(),
    mlflow_run: str | None = None,
) -> Verification:
    """Verifies a deployed model against its lineage, the pinned ledger, its datasets and,
    when the lineage has an MLflow run (or `mlflow_run` names one), the run's records.

    MODEL is a path or an MLflow model URI, downloaded into a private temporary folder.
    Without `lineage`, it is the manifest recorded on `mlflow_run`, else on the one run
    tagged with the model's digest (`UsageError` when none or several are).
    """
    with tempfile.TemporaryDirectory(prefix="aichain-verify-") as tmp:
        return _verify(
            model, lineage, settings, Path(tmp), receipt=receipt, datasets=datasets, pins=pins,
            policy=policy, mlflow_run=mlflow_run,
        )  # fmt: skip


def _verify(
    model_arg: Path | str,
    lineage: Path | None,
    settings: ChainSettings,
    tmp: Path,
    *,
    receipt: Path | None,
    datasets: Sequence[Path],
    pins: Sequence[str],
    policy: PathPolicy,
    mlflow_run: str | None,
) -> Verification:
    findings: list[Finding] = []
    facts: dict[str, Any] = {"schema": SCHEMA, "tool": __version__}
    facts["model"] = {"path": str(model_arg)}
    if isinstance(model_arg, str) and is_model_uri(model_arg):
        try:
            model = fetch_model(model_arg, tmp / "model")
        except AichainError as exc:
            findings.append(Finding.error("model.digest", model_arg, exc))
            return Verification("none", tuple(findings), facts)
        facts["model"]["downloaded"] = True
    else:
        model = Path(model_arg)
    found_in = "file"
    shown: dict[str, str] = {}  # downloaded files, named in findings by where they came from
    if lineage is None:
        try:
            found_run, lineage, run_receipt = find_lineage(model, mlflow_run, tmp / "lineage")
        except AichainError as exc:  # no lineage to verify against: say why, as a finding
            findings.append(Finding.error("lineage.root", mlflow_run, exc))
            return Verification("none", tuple(findings), facts)
        found_in = "mlflow run" if mlflow_run is not None else "mlflow search"
        mlflow_run = found_run
        shown[str(lineage)] = f"runs:/{found_run}/{LINEAGE_ARTIFACT}"
        if receipt is None and run_receipt is not None:
            receipt = run_receipt
            shown[str(receipt)] = f"runs:/{found_run}/{RECEIPT_ARTIFACT}"
    verification = _checks(
        model, model_arg, lineage, settings, receipt=receipt, datasets=datasets, pins=pins,
        policy=policy, mlflow_run=mlflow_run, findings=findings, facts=facts, found_in=found_in,
    )  # fmt: skip
    if not shown:
        return verification
    renamed = tuple(
        replace(f, artifact=shown.get(f.artifact, f.artifact)) if f.artifact else f
        for f in verification.findings
    )
    return Verification(verification.trust, renamed, verification.facts, verification.required)


def _checks(
    model: Path,
    model_arg: Path | str,
    lineage: Path,
    settings: ChainSettings,
    *,
    receipt: Path | None,
    datasets: Sequence[Path],
    pins: Sequence[str],
    policy: PathPolicy,
    mlflow_run: str | None,
    findings: list[Finding],
    facts: dict[str, Any],
    found_in: str,
) -> Verification:
    required: tuple[str, ...] = NEVER_SKIP
    try:
        manifest: ReadManifest | None = read_manifest(lineage)
    except AichainError as exc:
        manifest = None
        findings.append(Finding.error("lineage.root", str(lineage), exc))
    if manifest is None:
        return Verification("none", tuple(findings), facts)
    facts.update(root=manifest.root.hex(), subject=manifest.subject)
    facts["lineage"] = {"path": str(lineage) if found_in == "file" else None, "from": found_in}
    findings.extend(check_root(manifest))
    try:
        model_findings = check_model(model, manifest, str(model_arg))
    except AichainError as exc:  # the model file cannot be read at all
        model_findings = [Finding.error("model.digest", str(model_arg), exc)]
    findings.extend(model_findings)
    digests = [
        f.actual
        for f in model_findings
        if f.name == "model.digest" and f.artifact == str(model_arg)
    ]
    facts["model"]["digest"] = digests[0] if digests else None
    pointer: ReceiptPointer | None = None
    where = receipt if receipt is not None else receipt_path(lineage)
    if receipt is not None or where.exists():
        try:
            pointer = load_receipt(where)
        except AichainError as exc:
            findings.append(Finding.error("receipt.registry", str(where), exc))
    ledger_findings, ledger, ledger_facts = check_ledger_records(
        manifest, settings, pins, pointer, where if pointer is not None else None
    )
    findings.extend(ledger_findings)
    facts["ledger"] = ledger_facts or None
    try:
        findings.extend(check_datasets(datasets, manifest, policy))
    except AichainError as exc:
        findings.append(Finding.error("dataset", ", ".join(map(str, datasets)), exc))
    named = [str(leaf["run_id"]) for leaf in manifest.of_kind(MLFLOW_RUN)]
    run_id = mlflow_run if mlflow_run is not None else (named[0] if named else None)
    facts["mlflow"] = None
    if run_id is not None:
        required = (*NEVER_SKIP, *MLFLOW_REQUIRED)
        models = manifest.of_kind("model")
        try:
            with session() as s:
                mlflow_findings, facts["mlflow"] = check_mlflow(
                    s, run_id, manifest, models[0] if models else None
                )
        except AichainError as exc:
            mlflow_findings = [Finding.error("mlflow.run", run_id, exc)]
        findings.extend(mlflow_findings)
    trust = ledger.trust if ledger is not None else "none"
    return Verification(trust, tuple(findings), facts, required)


def fetch_model(uri: str, folder: Path) -> Path:
    """An MLflow model URI downloaded into `folder` (private): its one ONNX file."""
    folder.mkdir(mode=0o700)
    with session() as s:
        return download_onnx(s, uri, folder)


def find_lineage(
    model: Path, mlflow_run: str | None, folder: Path
) -> tuple[str, Path, Path | None]:
    """(run id, manifest, receipt or None) recorded on `mlflow_run`, else on the one run
    tagged with the model file's digest, downloaded into `folder` (private)."""
    folder.mkdir(mode=0o700)
    with session() as s:
        if mlflow_run is None:
            digest = digest_file(str(model), shown=str(model)).digest
            runs = runs_tagged(s, TAG_MODEL_DIGEST, digest)
            if not runs:
                raise UsageError(
                    f"no lineage given, and no MLflow run at {s.shown} records this model "
                    f"({digest}); give --lineage FILE or --mlflow-run ID"
                )
            if len(runs) > 1:
                listed = ", ".join(
                    f"{r.run_id} (experiment {r.experiment_id}"
                    + (", deleted)" if r.lifecycle_stage != "active" else ")")
                    for r in runs[:10]
                )
                raise UsageError(
                    f"{len(runs)} MLflow runs record this model: {listed}; "
                    "pick one with --mlflow-run"
                )
            mlflow_run = runs[0].run_id
        manifest, receipt = download_lineage(s, mlflow_run, folder)
    return mlflow_run, manifest, receipt


def verification_document(v: Verification) -> dict[str, Any]:
    """The `aichain.verify/v1` document `--json` prints."""
    return {
        "schema": SCHEMA,
        "tool": v.facts.get("tool", __version__),
        "verified": v.verified,
        "trust": v.trust,
        "root": v.facts.get("root"),
        "subject": v.facts.get("subject"),
        "model": v.facts.get("model"),
        "ledger": v.facts.get("ledger"),
        "mlflow": v.facts.get("mlflow"),
        "checks": [f.to_dict() for f in v.findings],
    }
