"""The typed exceptions of vecstore, in one place.

Every error the library raises on purpose is a :class:`VecstoreError`; the CLI turns
each into a one-line message and a non-zero exit code. Anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class VecstoreError(Exception):
    """Base class: a problem with the user's input, files or store, not a bug."""

    exit_code = 1


class StoreError(VecstoreError):
    """The store cannot be opened, migrated or written."""


class SetNotFoundError(VecstoreError):
    """No embedding set of that name is in the store."""

    def __init__(self, name: str, available: Sequence[str] = ()) -> None:
        self.name = name
        self.available = list(available)
        hint = f" (sets: {', '.join(self.available)})" if self.available else " (the store has no sets)"
        super().__init__(f"no embedding set named {name!r}{hint}")


class SetExistsError(VecstoreError):
    """A set of that name exists with other content and --replace was not given."""


class UnknownWordError(VecstoreError):
    """A query word is not in the set; carries close spellings that are."""

    def __init__(self, word: str, set_name: str, suggestions: Sequence[str] = ()) -> None:
        self.word = word
        self.set_name = set_name
        self.suggestions = list(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"{word!r} is not in set {set_name!r}{hint}")


class InputFileError(VecstoreError):
    """A file given by the user is missing, unreadable or malformed.

    ``line`` is 1-based where the problem is on one line.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class InvalidArgumentError(VecstoreError):
    """An argument is out of range or inconsistent with the set (e.g. wrong vector length)."""


class MissingDependencyError(VecstoreError):
    """A feature needs an optional package that is not installed (e.g. TensorFlow for Keras)."""
