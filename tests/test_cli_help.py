"""What a newcomer reads first: every `--help` in words (no Python type or value shown),
the tagline naming what the tool does, and shell completion that works."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from aichain_audit.cli import main

# What a Python value or type looks like when it leaks into text meant for a person.
PYTHON_REPR = re.compile(
    r"\bNone\b|<(list|int|float|str|path|text|bool)\b[^>]*>|\{'|\{[a-z_]+\}|\bTrue\b|\bFalse\b"
)


def commands() -> Iterator[list[str]]:
    """Every command path of the app, sub-app commands included."""
    from aichain_audit.cli.app import _command

    group = _command()
    yield []
    for name in group.commands:  # type: ignore[attr-defined]
        yield [name]
        for sub in getattr(group.commands[name], "commands", {}):  # type: ignore[attr-defined]
            yield [name, sub]


def help_of(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: aichain")
    return out


@pytest.mark.parametrize("args", list(commands()), ids=lambda a: " ".join(a) or "aichain")
def test_every_help_shows_words_not_python_values(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(args, capsys)
    leaked = PYTHON_REPR.findall(text)
    assert not PYTHON_REPR.search(text), (leaked, text)


@pytest.mark.parametrize("args", [a for a in commands() if a], ids=" ".join)
def test_every_option_that_takes_a_value_names_it_in_capitals(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    options = help_of(args, capsys).split("\nOptions:\n", 1)[1].split("\n\n", 1)[0]
    for line in options.splitlines():
        option = re.match(r"  (?:-\w, )?(--[a-z-]+) (\S+)", line)  # a flag has no value
        if option:
            assert re.fullmatch(r"[A-Z_|]+(\.\.\.)?", option.group(2)), line


def test_usage_lines_name_arguments_as_a_manual_page_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "Usage: aichain prove [OPTIONS] MANIFEST ITEM\n" in help_of(["prove"], capsys)
    assert "Usage: aichain anchor [OPTIONS] MANIFEST...\n" in help_of(["anchor"], capsys)
    status = help_of(["registry", "status"], capsys)
    assert "Usage: aichain registry status [OPTIONS] [ADDR]\n" in status


def test_the_tagline_names_every_step_of_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    tagline = help_of([], capsys).splitlines()[2]
    for step in ("fingerprint", "anchor", "verify", "report"):
        assert step in tagline, tagline


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("aichain fin", {"fingerprint"}),
        ("aichain verify --li", {"--lineage"}),
        ("aichain registry gr", {"grant"}),
    ],
)
def test_bash_completion_completes_commands_and_options(
    words: str,
    expected: set[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("_AICHAIN_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(len(words.split()) - 1))
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 0, capsys.readouterr().err
    assert set(capsys.readouterr().out.split()) == expected
