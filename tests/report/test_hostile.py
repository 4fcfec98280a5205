"""Hostile strings (file names, config keys and values, --name, ONNX doc strings) render
inert in HTML and Markdown: no tag, attribute or link of theirs survives."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aichain_audit import api
from tests.report.conftest import Sample

SCRIPT = '<script>alert("x")</script></textarea><img src=x onerror=alert(1)>'
LINK = "[click](javascript:alert(1)) <b>bold</b> | cell ![i](http://evil.example/t.png)"
FILES = ("<img src=x onerror=alert(1)>.csv", "[x](javascript:alert(1)).csv", "a|b`c*d_e#.csv")
ALLOWED = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "section",
    "div", "span", "code", "pre", "table", "tr", "th", "td", "ul", "li", "br", "svg", "defs",
    "marker", "path", "g", "rect", "text", "footer", "a",
}  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)


@pytest.fixture(scope="module")
def hostile(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy as np

    work = tmp_path_factory.mktemp("hostile")
    data = work / "data"
    data.mkdir()
    for i, name in enumerate(FILES):
        (data / name).write_text(f"a,b\n{i},{i}\n")
    (work / "train.yaml").write_text(f"{SCRIPT!r}: {LINK!r}\nplain: '</textarea>'\n")
    w = numpy_helper.from_array(np.ones((2, 2), dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"], doc_string=SCRIPT)], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])], [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.doc_string = SCRIPT + "\n" + LINK
    model.producer_name = SCRIPT
    onnx.save(model, str(work / "model.onnx"))
    lineage = work / "lineage.json"
    proc = sample.run("fingerprint", "--model", work / "model.onnx", "--dataset", data,
                      "--config", work / "train.yaml", "--name", SCRIPT + LINK,
                      "-o", lineage)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return lineage


def test_hostile_strings_are_inert_in_html(hostile: Path) -> None:
    html = api.report(hostile, fmt="html").decode()
    parser = _Tags()
    parser.feed(html)
    assert parser.tags <= ALLOWED, parser.tags - ALLOWED
    assert not any(a.startswith("on") for a in parser.attrs)
    assert "src" not in parser.attrs
    assert "&lt;script&gt;" in html and "&lt;/textarea&gt;" in html  # shown, as text
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in html
    assert "javascript:" not in _hrefs(html)


def _hrefs(html: str) -> str:
    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.found.extend(v or "" for k, v in attrs if k == "href")

    links = Links()
    links.feed(html)
    return " ".join(links.found)


def test_hostile_strings_are_inert_in_markdown(hostile: Path) -> None:
    md = api.report(hostile, fmt="md").decode()
    assert "<script" not in md and "<img" not in md and "<b>" not in md and "</textarea" not in md
    assert "](javascript:" not in md and "](http" not in md
    assert "&lt;script&gt;" in md
    assert "\\[click\\]\\(javascript:alert\\(1\\)\\)" in md
    # a hostile value cannot open a table cell: every table row keeps its column count
    for table in [b for b in md.split("\n\n") if b.startswith("| Kind |")]:
        rows = table.splitlines()
        assert len({_cells(r) for r in rows}) == 1, rows


def _cells(row: str) -> int:
    return row.replace("\\|", "").count("|")
