"""The `aichain` application: the Typer app, the entry point, one mapping of failures.

Exit codes, everywhere: 0 ok; 1 a check failed; 2 could not complete, with one
line on stderr (a traceback only with --debug). Human output goes to stdout,
progress bars to stderr, `--json` output to stdout alone.
"""

from __future__ import annotations

import copy
import functools
import gc
import sys
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, get_args, get_origin

import typer
from typer.core import TyperArgument

from aichain_audit import __version__
from aichain_audit.cli.terminal import safe
from aichain_audit.errors import EXIT_CANNOT_COMPLETE, AichainError, exit_code

if TYPE_CHECKING:
    from typer._click import Command

app = typer.Typer(
    name="aichain",
    help="Tamper-evident AI model lineage: fingerprint, anchor, verify and report.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Example: aichain fingerprint --model model.onnx --dataset data/ --config train.yaml "
    "-o lineage.json",
)


def _install_light_coercion() -> None:
    """Coerces plain `str`, `Path` and `bool` parameters (and their lists) without pydantic.

    typer 0.29-0.30 coerces every parameter of the invoked command through a pydantic
    `TypeAdapter`; importing pydantic and building the adapters cost about 0.1 s, a third of
    a small fingerprint's whole run (PRODUCT.md P1, P8). Every value given on a command line is
    a `str`, and for these annotations typer's adapters only wrap `Path(value)` and its own
    `coerce_cli_path`, which this calls too. Anything else (numbers, choices, parsers, files,
    a value that is not a `str`) still goes to typer's own coercion, built on first use. When
    typer's internals are not the expected ones, nothing is changed: slower, never different.
    """
    try:
        from pathlib import Path

        from typer import core
        from typer._coercion import RuntimeParam, TypeDescriptor
        from typer._param_types import coerce_cli_path
    except ImportError:  # pragma: no cover - another typer release
        return
    found = getattr(core, "build_runtime_param", None)
    if found is None or getattr(found, "_aichain_light", False):
        return
    full_build: Callable[[TypeDescriptor], Any] = found

    class LightParam(RuntimeParam):
        """Fast coercion of `str` values; typer's own for everything else."""

        _descriptor: TypeDescriptor
        _item: type
        _many: bool
        _full: Any

        def __init__(self, descriptor: TypeDescriptor, item: type, many: bool) -> None:
            super().__init__(descriptor.parameter_info, descriptor.annotation)
            object.__setattr__(self, "_descriptor", descriptor)
            object.__setattr__(self, "_item", item)
            object.__setattr__(self, "_many", many)
            object.__setattr__(self, "_full", None)

        def _one(self, value: Any, param: Any, ctx: Any) -> Any:
            if self._item is str:
                return value
            if self._item is bool:
                raise _NotLight
            return coerce_cli_path(
                Path(value), self.parameter_info, path_type=Path, param=param, ctx=ctx
            )

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                if self._many and isinstance(value, (list, tuple)):
                    if all(type(v) is str for v in value):
                        return [self._one(v, param, ctx) for v in value]
                elif not self._many and type(value) is str:
                    return self._one(value, param, ctx)
                elif self._item is bool and type(value) is bool:
                    return value
            except _NotLight:
                pass
            full = self._full
            if full is None:
                full = full_build(self._descriptor)
                object.__setattr__(self, "_full", full)
            return full._coerce_value(value, param, ctx)

    def build(descriptor: TypeDescriptor) -> Any:
        annotation: Any = descriptor.annotation
        info = descriptor.parameter_info
        many = get_origin(annotation) is list
        item = get_args(annotation)[0] if many else annotation
        plain = (
            descriptor.file_annotation is None
            and info.parser is None
            and info.path_type is None
            and not info.allow_dash
            and item in (str, Path, bool)
            and not (many and item is bool)
        )
        return LightParam(descriptor, item, many) if plain else full_build(descriptor)

    build._aichain_light = True  # type: ignore[attr-defined]
    core.build_runtime_param = build  # type: ignore[attr-defined]


class _NotLight(Exception):
    """A value the light coercion leaves to typer's own."""


_install_light_coercion()


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
    """Tamper-evident AI model lineage: fingerprint, anchor, verify and report.

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


def _print_traceback() -> None:
    import traceback  # only for --debug: not on every start

    traceback.print_exc()


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"aichain: error: {safe(message)}\n")
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and maps every failure to one line and an exit code."""
    try:
        _run(argv)
    finally:
        if argv is None:
            # The process is about to exit: its last garbage collection would walk every
            # object onnx, numpy and protobuf made (30 ms of a 0.3 s fingerprint, P8). Frozen
            # objects are skipped; atexit handlers and finalizers still run. Not done when
            # called with arguments (tests call main in-process, many times).
            gc.freeze()


class _Commands(MutableMapping[str, "Command"]):
    """The app's commands, each turned into its click command when first looked up.

    typer builds every command of a group before running one: reading each function's
    signature and evaluating its annotations took 12-20 ms of a 0.1 s start, nearly all of it
    for commands not being run (PRODUCT.md P1, P8). Looking one up builds that one with typer's
    own `get_command_from_info` (or `get_group_from_info` for a sub-app), from the same
    definitions, so it is the same command; `--help` and a mistyped name's suggestions still
    see every name, in the order they were defined.
    """

    def __init__(self, build: dict[str, Callable[[], Command]]) -> None:
        self._build = build
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        got = self._built.get(name)
        if got is None:
            got = self._built[name] = self._build[name]()
        return got

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command
        self._build.setdefault(name, lambda: command)

    def __delitem__(self, name: str) -> None:
        del self._build[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._build)

    def __len__(self) -> int:
        return len(self._build)


class _Argument(TyperArgument):
    """A positional argument shown as its metavar, the way click and every manual page do:
    `prove [OPTIONS] MANIFEST ITEM`, `[ADDR]` when optional, `MANIFEST...` when repeated.

    typer 0.29 prints `{manifest}` in the usage line and `manifest <path>` in the list.
    """

    def _name(self) -> str:
        return self.metavar or (self.name or "").upper()

    def _usage_display_name(self) -> str:
        name = self._name() if self.required else f"[{self._name()}]"
        return name + "..." if self.nargs != 1 else name

    def _rich_display_name(self) -> str:
        return self._name() + "..." if self.nargs != 1 else self._name()

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _readable(command: Command) -> Command:
    """The command (and a sub-app's commands) with its arguments shown as `_Argument`s."""
    for param in command.params:
        if type(param) is TyperArgument:
            param.__class__ = _Argument
    for sub in getattr(command, "commands", {}).values():
        _readable(sub)
    return command


def _command() -> Command:
    """The app as a click group whose commands are built when looked up (`_Commands`)."""
    from typer import main as typer_main

    shell = copy.copy(app)  # the group itself: its callback, options, help and settings
    shell.registered_commands = []
    shell.registered_groups = []
    group = typer_main.get_group(shell)
    if app._add_completion:  # as typer's own `get_command` does: `_AICHAIN_COMPLETE` works
        group.params.extend(typer_main.get_install_completion_arguments())
    build: dict[str, Callable[[], Command]] = {}
    for info in app.registered_commands:
        assert info.callback is not None
        name = info.name or typer_main.get_command_name(info.callback.__name__)
        build[name] = functools.partial(
            _built,
            typer_main.get_command_from_info,
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
        )
    for sub in app.registered_groups:
        sub_name = typer_main.solve_typer_info_defaults(sub).name
        assert isinstance(sub_name, str) and sub_name, "every sub-app is added with a name"
        build[sub_name] = functools.partial(
            _built,
            typer_main.get_group_from_info,
            sub,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
            suggest_commands=app.suggest_commands,
        )
    group.commands = _Commands(build)
    return group


def _built(build: Callable[..., Command], *args: Any, **kwargs: Any) -> Command:
    return _readable(build(*args, **kwargs))


def _run(argv: list[str] | None) -> None:
    from typer._click import exceptions as click_exc  # typer >= 0.29 vendors click

    command = _command()
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
            _print_traceback()
        _fail(_with_flag(exc), exit_code(exc))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        raise SystemExit(EXIT_CANNOT_COMPLETE) from None
    except Exception as exc:
        if debug:
            _print_traceback()
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)",
            EXIT_CANNOT_COMPLETE,
        )
    code = result if isinstance(result, int) else 0
    raise SystemExit(code)
