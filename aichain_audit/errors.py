"""One exception family, mapped to exit codes in one place (`exit_code`).

Every error carries a message a user can act on, written as one line.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_CANNOT_COMPLETE = 2


class AichainError(Exception):
    """Base of every error the tool reports to a user. Exit code 2: could not complete."""

    exit_code: int = EXIT_CANNOT_COMPLETE

    def __init__(self, message: str) -> None:
        # A user-facing error is one line, whatever the caller passed in.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self.args[0])


class UsageError(AichainError):
    """The command line or its combination of options is wrong."""


class InputError(AichainError):
    """An input (file, folder, manifest, proof, config) is missing, unreadable or malformed."""


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
