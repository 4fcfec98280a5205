"""The HTML report in a real headless Chromium (Debian's `chromium`): no console errors, no
network requests (the CSP blocks them, and a blocked one is logged), the verdict and the model
digest visible, a screenshot that is not blank. Without chromium: a loud skip, or a failure
when CI=true."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from aichain_audit import api
from tests.report.conftest import Sample

SCREENSHOT_COPY = Path("/tmp/aichain-report-screenshot.png")


pytestmark = pytest.mark.server


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        why = (
            "chromium is not installed: the browser tests of the HTML report did NOT run "
            "(apt-get install chromium; .ci/run installs it)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return found


def browse(page: Path, tmp: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    profile.mkdir()
    args = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        "--enable-logging=stderr", "--v=1", *mode, page.as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


# Chromium's own services (clock, accounts, component updates) ask these hosts whatever page is
# open; the page itself names no URL at all (test_the_page_names_nothing_to_fetch).
BROWSER_SERVICES = (".google.com/", ".googleapis.com/", ".gvt1.com/", ".gstatic.com/")


def page_problems(log: str) -> list[str]:
    """Console messages, CSP refusals, and URL requests other than the page's own file."""
    bad = []
    for line in log.splitlines():
        if ":CONSOLE(" in line or "Refused to" in line or "Uncaught" in line:
            bad.append(line)
        if "NotifyBeforeURLRequest:" in line:
            url = line.split("NotifyBeforeURLRequest:", 1)[1].strip()
            host = url.split("?", 1)[0]
            if not url.startswith("file:") and not any(s in host for s in BROWSER_SERVICES):
                bad.append(line)
    return bad


def test_a_request_from_the_page_would_be_seen(sample: Sample, tmp_path: Path) -> None:
    """The log check above is live: a page that fetches is caught."""
    page = tmp_path / "fetching.html"
    page.write_text('<!DOCTYPE html><img src="http://127.0.0.1:9/x.png"><script>x(</script>')
    assert page_problems(browse(page, tmp_path, "--dump-dom").stderr)


@pytest.mark.parametrize("mode", ["pass", "fail"])
def test_the_html_report_in_chromium(sample: Sample, tmp_path: Path, mode: str) -> None:
    chromium()
    doc = sample.passed if mode == "pass" else sample.failed
    page = tmp_path / "report.html"
    page.write_bytes(api.report(sample.lineage, fmt="html", verification=doc))
    dom = browse(page, tmp_path, "--dump-dom")
    assert page_problems(dom.stderr) == []
    text = dom.stdout
    assert doc.subject is not None and doc.subject in text  # the model digest
    if mode == "pass":
        assert "VERIFIED" in text and "NOT VERIFIED" not in text
    else:
        verdict = text.split('id="graph"', 1)[0]
        assert "NOT VERIFIED" in verdict and "tampered/model.onnx" in verdict
    shot = tmp_path / "report.png"
    taken = browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600")
    assert page_problems(taken.stderr) == []
    from PIL import Image

    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot looks blank"
    if mode == "pass":
        shutil.copy(shot, SCREENSHOT_COPY)


def test_the_page_names_nothing_to_fetch(sample: Sample) -> None:
    import html as entities

    page = api.report(sample.lineage, fmt="html", verification=sample.passed).decode()
    assert "content=\"default-src 'none'; style-src 'sha256-" in entities.unescape(page)
    page = page.replace("http://www.w3.org/2000/svg", "").replace("url(#arrow)", "")
    for fetching in ("src=", "url(", "@import", "<link", "<script", "http://", "https://"):
        assert fetching not in page, fetching


# --- issue 18: printed to PDF (A4 by default, Letter too) -----------------------------------
HEADINGS = ("Lineage", "Artifacts", "ONNX model: semantic fingerprint",
            "Ledger evidence", "Verification findings", "Configuration and params, as recorded",
            "Regulatory mapping")  # fmt: skip


def on_letter(page: bytes) -> bytes:
    """The same report asking for Letter paper: its stylesheet's hash recomputed, so the
    Content-Security-Policy still admits it."""
    import base64
    import hashlib

    text = page.decode()
    style = text.split("<style>", 1)[1].split("</style>", 1)[0]
    letter = style.replace("size: A4", "size: letter")
    assert letter != style
    old, new = (base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()
                for s in (style, letter))  # fmt: skip
    return text.replace(style, letter).replace(old, new).encode()


@pytest.mark.parametrize("paper", ["A4", "letter"])
def test_the_report_prints_on_few_pages_with_no_stranded_heading(
    sample: Sample, tmp_path: Path, paper: str
) -> None:
    from pypdf import PdfReader

    chromium()
    html = api.report(sample.lineage, fmt="html", verification=sample.failed)
    page = tmp_path / "report.html"
    page.write_bytes(html if paper == "A4" else on_letter(html))
    pdf = tmp_path / "report.pdf"
    printed = browse(page, tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert page_problems(printed.stderr) == []
    reader = PdfReader(pdf)
    width, height = (float(x) for x in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) == ((595, 842) if paper == "A4" else (612, 792))
    assert len(reader.pages) <= 6, f"{len(reader.pages)} pages"
    texts = [p.extract_text() for p in reader.pages]
    for number, text in enumerate(texts, 1):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        assert lines and lines[-1] not in HEADINGS, f"page {number} ends with {lines[-1]!r}"
    whole = "\n".join(texts)
    lines = [line.strip() for line in whole.splitlines()]
    # Check names and paths are never split mid-token; a digest takes at most two lines.
    names = {c.name for c in sample.failed.findings} | {
        a for c in sample.failed.findings if (a := c.artifact) and len(a) < 40
    }
    pairs = list(zip(lines, [*lines[1:], ""], strict=True))
    for name in names:
        for k in range(1, len(name)):
            head, tail = name[:k], name[k:]
            split = [(a, b) for a, b in pairs if a.endswith(head) and b.startswith(tail)]
            assert not split, f"{name!r} split as {split[0]!r}"
    for digest in set(re.findall(r"[0-9a-f]{64}", html.decode())):
        assert any(digest in a + b for a, b in pairs), digest
    assert '{"graph"' not in whole and "weights sha256:" in whole
    shutil.copy(pdf, Path(f"/tmp/aichain-report-{paper}.pdf"))
