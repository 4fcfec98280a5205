"""The `aichain` application: the Typer app, the entry point, one mapping of failures.

Exit codes, everywhere: 0 ok; 1 a check failed; 2 could not complete, with one
line on stderr (a traceback only with --debug). Human output goes to stdout,
progress bars to stderr, `--json` output to stdout alone.
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated, NoReturn

import typer

from aichain_audit import __version__
from aichain_audit.cli.terminal import safe
from aichain_audit.errors import EXIT_CANNOT_COMPLETE, AichainError, exit_code

app = typer.Typer(
    name="aichain",
    help="Tamper-evident AI model lineage: fingerprint, prove and check.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Example: aichain fingerprint --model model.onnx --dataset data/ --config train.yaml "
    "-o lineage.json",
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"aichain {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Tamper-evident AI model lineage: fingerprint, prove and check.

    Example: aichain fingerprint --model m.onnx --dataset data/ --config train.yaml -o lineage.json
    """


# How each hint an error carries (`aichain_audit.errors.HINTS`) is set on the command line.
HINT_FLAGS = {
    "follow_or_skip_symlinks": "--follow-symlinks or --skip-symlinks",
    "skip_symlinks": "--skip-symlinks",
    "skip_special": "--skip-special",
    "skip_unreadable": "--skip-unreadable",
    "trust": "--trust",
    "reason": "--reason",
    "subject": "--subject",
}


def _with_flag(error: AichainError) -> str:
    """The error's message, naming the flag its hint stands for."""
    flag = HINT_FLAGS.get(error.hint or "")
    return f"{error.message} ({flag})" if flag else error.message


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"aichain: error: {safe(message)}\n")
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and maps every failure to one line and an exit code."""
    from typer._click import exceptions as click_exc  # typer >= 0.29 vendors click
    from typer.main import get_command

    command = get_command(app)
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = command.main(args=args, prog_name="aichain", standalone_mode=False)
    except click_exc.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "aichain"
        _fail(f"{exc.format_message()} (see: {where} --help)", EXIT_CANNOT_COMPLETE)
    except typer.Abort:
        _fail("aborted", 130)
    except click_exc.ClickException as exc:
        _fail(exc.format_message(), EXIT_CANNOT_COMPLETE)
    except AichainError as exc:
        if debug:
            traceback.print_exc()
        _fail(_with_flag(exc), exit_code(exc))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        raise SystemExit(EXIT_CANNOT_COMPLETE) from None
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)",
            EXIT_CANNOT_COMPLETE,
        )
    code = result if isinstance(result, int) else 0
    raise SystemExit(code)
