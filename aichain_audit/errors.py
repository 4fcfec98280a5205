"""One exception family, mapped to exit codes in one place (`exit_code`).

Every error carries a message a user can act on, written as one line.
"""

from __future__ import annotations

from collections.abc import Iterable

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_CANNOT_COMPLETE = 2


class AichainError(Exception):
    """Base of every error the tool reports to a user. Exit code 2: could not complete."""

    exit_code: int = EXIT_CANNOT_COMPLETE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # A user-facing error is one line, whatever the caller passed in.
        super().__init__(" ".join(message.split()))
        # The setting that would get past the error, by its name in the API (see `HINTS`); the
        # message says what to do in words, and a front end adds how it is set there (the CLI
        # names its flag). Kept out of the message: a training script has no flags.
        if hint is not None and hint not in HINTS:
            raise ValueError(f"unknown hint {hint!r}; add it to aichain_audit.errors.HINTS")
        self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0])


# Every hint an error may carry: the policy or setting that would get past it.
HINTS = frozenset(
    {
        "follow_or_skip_symlinks",  # PathPolicy(symlinks=LinkPolicy.FOLLOW or .SKIP)
        "skip_symlinks",  # PathPolicy(symlinks=LinkPolicy.SKIP)
        "skip_special",  # PathPolicy(skip_special=True)
        "skip_unreadable",  # PathPolicy(skip_unreadable=True)
        "trust",  # the anchorers an auditor pins
        "reason",  # a revocation's reason
        "subject",  # the subject of the record to revoke
    }
)


class UsageError(AichainError):
    """The command line or its combination of options is wrong."""


class InputError(AichainError):
    """An input (file, folder, manifest, proof, config) is missing, unreadable or malformed."""


class Unreadable(InputError):
    """A file could not be opened or read (permissions, I/O error): what it holds is unknown."""


class PathPolicyError(InputError):
    """A path breaks the dataset policy: symlink, special file, escape from its base."""


class ModelError(InputError):
    """An ONNX model cannot be parsed or does not pass the ONNX checker."""


class ConfigError(InputError):
    """A training config cannot be parsed or holds a value that cannot be canonicalised."""


class ManifestError(InputError):
    """A lineage manifest fails validation."""


class CheckFailed(AichainError):
    """A check ran to the end and failed (a proof that does not verify, a digest mismatch)."""

    exit_code = EXIT_CHECK_FAILED


def exit_code(error: BaseException) -> int:
    """The process exit code for an error: 1 for a failed check, 2 for everything else."""
    if isinstance(error, AichainError):
        return error.exit_code
    return EXIT_CANNOT_COMPLETE


def verification_exit_code(statuses: Iterable[str], verified: bool) -> int:
    """The exit code of a verification: 1 when any check failed (a definite failure outranks
    an error), else 2 when one errored or the verification is incomplete, else 0 only when
    `verified`. Never 0 for a verification that is not verified (fail closed)."""
    seen = set(statuses)
    if "fail" in seen:
        return EXIT_CHECK_FAILED
    if "error" in seen or not verified:
        return EXIT_CANNOT_COMPLETE
    return EXIT_OK
