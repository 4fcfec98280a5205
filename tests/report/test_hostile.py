"""Hostile strings (file names, config keys and values, --name, ONNX doc strings) render
inert in HTML and Markdown: no tag, attribute or link of theirs survives."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token
from onnx import TensorProto, helper, numpy_helper

from aichain_audit import api
from aichain_audit.report.interface import visible
from aichain_audit.report.markdown import escape
from tests.report.conftest import Sample

SCRIPT = '<script>alert("x")</script></textarea><img src=x onerror=alert(1)>'
LINK = "[click](javascript:alert(1)) <b>bold</b> | cell ![i](http://evil.example/t.png)"
AUTOLINKS = (
    "<https://evil.example/a> see https://evil.example/b www.evil.example @alice "
    "bob@evil.example #12"
)
FILES = (
    "<img src=x onerror=alert(1)>.csv",
    "[x](javascript:alert(1)).csv",
    "a|b`c*d_e#.csv",
    "@carol www.evil.example mailto:dave@evil.example.csv",
)
ALLOWED = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "section",
    "div", "span", "code", "pre", "table", "caption", "thead", "tbody", "tr", "th", "td", "ul",
    "li", "br", "svg", "defs", "marker", "path", "g", "rect", "text", "footer", "a",
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
    (work / "train.yaml").write_text(
        f"{SCRIPT!r}: {LINK!r}\nplain: '</textarea>'\nlinks: {AUTOLINKS!r}\n"
    )
    w = numpy_helper.from_array(np.ones((2, 2), dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"], doc_string=SCRIPT)], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])], [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.doc_string = SCRIPT + "\n" + LINK + "\n" + AUTOLINKS
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


# GitHub-flavoured Markdown links a bare URL (`scheme://`), `www.` and an e-mail address even
# without `<>`, and GitHub turns `@name` into a mention and `#12` into an issue link, on the
# rendered text. markdown-it (CommonMark, raw HTML on) finds the rest: `<...>` autolinks,
# links, images and HTML. linkify-it is not installed, so the extended forms are checked on
# the rendered text: each must be broken by a zero-width space (U+200B) the escape adds.
_MD = MarkdownIt("gfm-like", {"linkify": False})
_ZWSP = "\u200b"
_LIVE_IN_TEXT = re.compile(r"@(?!\u200b)|:(?=/)|(?i:www)(?=\.)|#(?=[0-9])")


def _inline_tokens(markdown: str) -> list[Token]:
    tokens: list[Token] = []
    for block in _MD.parse(markdown):
        assert block.type in ("paragraph_open", "paragraph_close", "inline"), block.type
        tokens.extend(block.children or [])
    return tokens


def _assert_inert(markdown: str) -> str:
    """The rendered text of `markdown`; fails on any link, image, HTML or live autolink."""
    tokens = _inline_tokens(markdown)
    kinds = {t.type for t in tokens}
    assert kinds <= {"text", "softbreak"}, kinds
    text = "".join(t.content for t in tokens)
    live = _LIVE_IN_TEXT.search(text)
    assert live is None, (text, live)
    return text


_LINKY = st.lists(
    st.sampled_from(
        ["@", ":", "/", "//", "www", ".", "#", "1", "a", "<", ">", "&", "#64;", "http", "s",
         "mailto:", " ", "W", "\\", "*", "_", "[", "]", "(", ")", "|", "`", "!", "\n", "\u200b"]
    ),
    max_size=40,
).map("".join)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(_LINKY, st.text()))
def test_escaped_text_renders_as_the_same_text_with_no_live_link_or_mention(raw: str) -> None:
    """Markdown `escape`: whatever the untrusted string, the rendered text is the string (its
    lines folded, hidden characters shown) with only zero-width spaces added, and nothing in it
    is a link, image, HTML, autolink, mention or issue reference."""
    escaped = escape(raw)
    expected = visible(" ".join(raw.splitlines()))
    # the template writes values inside lines (after a label or `| `), never at a line start
    assert _assert_inert(f"x {escaped} y")
    assert _assert_inert(f"A{escaped}Z").replace(_ZWSP, "") == f"A{expected}Z"


@pytest.mark.parametrize(
    "raw",
    ["<https://evil.example>", "https://evil.example/x", "www.evil.example", "@alice",
     "bob@evil.example", "mailto:bob@evil.example", "xmpp:bob@evil.example", "#12",
     "HTTPS://EVIL.EXAMPLE", "WWW.evil.example", "<bob@evil.example>"],
)  # fmt: skip
def test_autolinks_and_mentions_are_escaped(raw: str) -> None:
    text = _assert_inert(f"see {escape(raw)} here")
    assert text.replace(_ZWSP, "") == f"see {raw} here"


def test_autolinks_and_mentions_from_untrusted_strings_are_inert_in_markdown(
    hostile: Path,
) -> None:
    md = api.report(hostile, fmt="md").decode()
    assert "@alice" not in md and "@carol" not in md and "bob@evil" not in md
    assert "https://evil" not in md and "www.evil" not in md
    assert "@&#8203;alice" in md  # shown, and unable to notify anyone
