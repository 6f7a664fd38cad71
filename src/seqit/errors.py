"""User-facing errors: the CLI prints their message (no traceback) and exits with their code."""

from __future__ import annotations


class SeqitError(Exception):
    """An error caused by the user's input or environment, with a message that says what to fix."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(SeqitError):
    """A config file or override is invalid; the message names the file and dotted key."""


class DataError(SeqitError):
    """A dataset cannot be read at all (missing, empty, undecodable); bad *rows* are rejects instead."""


class MissingExtraError(SeqitError):
    """An optional dependency is not installed; the message says which extra to install."""


def require(module: str, extra: str, feature: str):
    """Import an optional heavy module or raise a clear MissingExtraError naming the pip extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"{feature} needs the '{module}' package, which is not installed ({e}). "
            f"Install it with: pip install 'seqit[{extra}]'"
        ) from None
