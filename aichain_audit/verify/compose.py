"""The composer: runs every check a `VerifyRequest` asks for, and records the checks that
request requires (`request.required_checks`), so none of them can go missing unnoticed.

A check that cannot complete becomes an `error` finding rather than an exception, so every
other check still runs and the report shows them all. The composer decides nothing: the
verdict is `Verification.verified` (the one rule in `findings.verdict`), and the exit code is
`errors.verification_exit_code` (a failure outranks an error).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from aichain_audit import __version__
from aichain_audit.errors import AichainError, UsageError
from aichain_audit.fingerprint.hashing import digest_file
from aichain_audit.fingerprint.model import FOLDER_MARKERS, MODEL_SUFFIXES, format_of, split_parts
from aichain_audit.fingerprint.storage import is_url
from aichain_audit.lineage import MLFLOW_RUN
from aichain_audit.receipt import ReceiptPointer, load_receipt, receipt_path
from aichain_audit.tracking import LINEAGE_ARTIFACT, MODEL_DIGEST_TAGS, RECEIPT_ARTIFACT
from aichain_audit.tracking.client import (
    download_lineage,
    download_model,
    run_of_model_uri,
    runs_tagged,
    session,
)
from aichain_audit.tracking.records import is_model_uri
from aichain_audit.verify.datasets import check_datasets
from aichain_audit.verify.findings import Finding, Verification, VerifiedModel
from aichain_audit.verify.ledger import check_ledger_records, check_pinned
from aichain_audit.verify.lineage_root import ReadManifest, check_root, read_manifest
from aichain_audit.verify.mlflow import check_mlflow
from aichain_audit.verify.model import ModelCheck, check_model
from aichain_audit.verify.request import VerifyRequest, required_checks


def verify_request(request: VerifyRequest) -> Verification:
    """Verifies a deployed model against its lineage, the pinned ledger, its datasets and,
    when the lineage has an MLflow run (or the request names one), the run's records.

    The model is a path or an MLflow model URI, downloaded into a private temporary folder.
    Without a lineage, it is the manifest recorded on the request's run, else on the one run
    tagged with the model's digest (an `error` finding when none or several are).
    """
    with tempfile.TemporaryDirectory(prefix="aichain-verify-") as tmp:
        return _verify(request, Path(tmp))


def _verify(request: VerifyRequest, tmp: Path) -> Verification:
    record = request.record()
    model_arg = request.model
    seen = VerifiedModel(str(model_arg))
    start = Verification(
        (), required_checks(record, None), request=record, model=seen, tool=__version__
    )
    lineage, receipt, mlflow_run = request.lineage, request.receipt, request.mlflow_run
    model: Path | str
    if isinstance(model_arg, str) and is_model_uri(model_arg):
        try:
            model, uri_run = fetch_model(model_arg, tmp / "model")
        except AichainError as exc:
            return replace(start, findings=(Finding.error("model.digest", model_arg, exc),))
        seen = replace(seen, downloaded=True)
        if lineage is None and mlflow_run is None:
            mlflow_run = uri_run  # the run the URI names, rather than a search by digest
    elif isinstance(model_arg, str) and is_url(model_arg):
        model = model_arg  # hashed where it is (`verify.remote_model`)
    else:
        model = Path(model_arg)
    found_in = "file"
    shown: dict[str, str] = {}  # downloaded files, named in findings by where they came from
    if isinstance(model_arg, str) and is_model_uri(model_arg):
        shown[str(model)] = model_arg  # and in what findings say (SPEC 12.3), as `_named`
    if lineage is None:
        try:
            found_run, lineage, run_receipt = find_lineage(model, mlflow_run, tmp / "lineage")
        except AichainError as exc:  # no lineage to verify against: say why, as a finding
            return replace(
                start, model=seen, findings=(Finding.error("lineage.root", mlflow_run, exc),)
            )
        found_in = "mlflow run" if mlflow_run is not None else "mlflow search"
        mlflow_run = found_run
        shown[str(lineage)] = f"runs:/{found_run}/{LINEAGE_ARTIFACT}"
        if receipt is None and run_receipt is not None:
            receipt = run_receipt
            shown[str(receipt)] = f"runs:/{found_run}/{RECEIPT_ARTIFACT}"
    verification = _checks(
        request, replace(start, model=seen), model, lineage, receipt, mlflow_run, found_in
    )
    if not shown:
        return verification
    renamed = tuple(
        replace(f, artifact=shown.get(f.artifact, f.artifact) if f.artifact else f.artifact,
                detail=_named(f.detail, shown))
        for f in verification.findings
    )  # fmt: skip
    return replace(verification, findings=renamed)


def _named(text: str, shown: dict[str, str]) -> str:
    """`text` naming each downloaded file (and, for a model, the files beside it: a split
    model's parts, a checkpoint's files) by where it came from, never by the private folder
    it was downloaded into."""
    for path, uri in shown.items():
        text = text.replace(path, uri)
        folder, _, _ = path.rpartition("/")
        if folder and "/" in uri:
            text = text.replace(folder + "/", uri.rsplit("/", 1)[0] + "/")
    return text


def _checks(
    request: VerifyRequest,
    start: Verification,
    model: Path | str,
    lineage: Path,
    receipt: Path | None,
    mlflow_run: str | None,
    found_in: str,
) -> Verification:
    assert start.model is not None and start.request is not None
    findings: list[Finding] = []
    try:
        manifest: ReadManifest | None = read_manifest(lineage)
    except AichainError as exc:
        manifest = None
        findings.append(Finding.error("lineage.root", str(lineage), exc))
    if manifest is None:
        return replace(start, findings=tuple(findings))
    findings.extend(check_root(manifest))
    model_shown = str(request.model)
    try:
        if isinstance(model, str):
            from aichain_audit.verify.remote_model import check_remote_model

            checked = check_remote_model(model, manifest, model_shown)
        else:
            checked = check_model(model, manifest, model_shown)
    except AichainError as exc:  # the model file cannot be read at all
        checked = ModelCheck([Finding.error("model.digest", model_shown, exc)])
    findings.extend(checked.findings)
    seen = replace(
        start.model,
        digest=checked.digest,
        sha256=checked.sha256,
        size=checked.size,
        expected=checked.expected,
    )
    pointer: ReceiptPointer | None = None
    where = receipt if receipt is not None else receipt_path(lineage)
    if receipt is not None or where.exists():
        try:
            pointer = load_receipt(where)
        except AichainError as exc:
            findings.append(Finding.error("receipt.registry", str(where), exc))
    ledger_findings, _, ledger_facts = check_ledger_records(
        manifest, request.settings, request.pins, pointer, where if pointer is not None else None
    )
    findings.extend(ledger_findings)
    if request.require_pinned:
        findings.append(check_pinned(ledger_findings))
    try:
        findings.extend(check_datasets(request.datasets, manifest, request.policy, request.engine))
    except AichainError as exc:
        findings.append(Finding.error("dataset", ", ".join(map(str, request.datasets)), exc))
    named = [str(leaf["run_id"]) for leaf in manifest.of_kind(MLFLOW_RUN)]
    run_id = mlflow_run if mlflow_run is not None else (named[0] if named else None)
    mlflow_facts = None
    if run_id is not None:
        models = manifest.of_kind("model")
        try:
            with session() as s:
                mlflow_findings, mlflow_facts = check_mlflow(
                    s, run_id, manifest, models[0] if models else None
                )
        except AichainError as exc:
            mlflow_findings = [Finding.error("mlflow.run", run_id, exc)]
        findings.extend(mlflow_findings)
    required = required_checks(
        start.request, manifest, model_shown=model_shown, run_involved=run_id is not None
    )
    return replace(
        start,
        findings=tuple(findings),
        required=required,
        root=manifest.root.hex(),
        subject=manifest.subject,
        model=seen,
        lineage={"path": str(lineage) if found_in == "file" else None, "from": found_in},
        ledger=ledger_facts or None,
        mlflow=mlflow_facts,
    )


def fetch_model(uri: str, folder: Path) -> tuple[Path, str | None]:
    """An MLflow model URI downloaded into `folder` (private): its one model (a model file,
    with a split model's other parts beside it, or a checkpoint folder), and the run the URI
    names (`tracking.client.run_of_model_uri`), when it names one."""
    folder.mkdir(mode=0o700)
    with session() as s:
        got = download_model(s, uri, folder, MODEL_SUFFIXES, FOLDER_MARKERS, split_parts)
        return got, run_of_model_uri(s, uri)


def _model_digest(model: str) -> str:
    """The digest of the model object at a URL (SPEC 3), hashed where it is."""
    from aichain_audit.fingerprint.paths import PathPolicy
    from aichain_audit.fingerprint.storage import storage_for

    storage = storage_for(model)
    [got] = storage.digest(storage.listing(model, PathPolicy()).files[:1])
    if isinstance(got, Exception):
        raise got
    return got.digest


def find_lineage(
    model: Path | str, mlflow_run: str | None, folder: Path
) -> tuple[str, Path, Path | None]:
    """(run id, manifest, receipt or None) recorded on `mlflow_run`, else on the one run
    tagged with the digest of the model's file (`aichain.model`, or the `aichain.model_digest`
    of runs recorded before: the model leaf's digest, so for a checkpoint folder that of the
    file its format picks, `ModelFormat.main_file`), downloaded into `folder` (private)."""
    digest = None
    if mlflow_run is None:  # what to search for, before MLflow is imported: a bad path is said
        if isinstance(model, Path):
            _, main = format_of(model).main_file(model)
            digest = digest_file(str(main), shown=str(model)).digest
        else:
            digest = _model_digest(model)
    folder.mkdir(mode=0o700)
    with session() as s:
        if digest is not None:
            runs = list({r.run_id: r for key in MODEL_DIGEST_TAGS
                         for r in runs_tagged(s, key, digest)}.values())  # fmt: skip
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
        assert mlflow_run is not None  # given, or found by the digest
        manifest, receipt = download_lineage(s, mlflow_run, folder)
    return mlflow_run, manifest, receipt
