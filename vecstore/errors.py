"""The typed exceptions of vecstore, in one place.

Every error the library raises on purpose is a :class:`VecstoreError`; the CLI turns
each into a one-line message and a non-zero exit code. Anything else is a bug.

Messages are worded for a Python caller: they name parameters (``replace=True``), never
command-line flags; the CLI words its own hints from the attributes these classes carry.
Any token, value or name taken from the user's input is quoted with :func:`quoted`, so a
message stays one short line whatever the input holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

#: The most characters of one token, value or name that a message quotes.
QUOTE_CHARS = 80
#: The most names a message lists (sets, zip members).
LIST_NAMES = 20


def quoted(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` of at most about ``limit`` characters: a longer value is cut and
    its length said, so a message never carries a whole 400 MB line."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value[:limit + 1])
        text = repr(data[:limit])
        return text if len(value) <= limit else f"{text}... ({len(value):,} bytes)"
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def listed(names: Sequence[str], limit: int = LIST_NAMES) -> str:
    """Comma-separated names, at most ``limit`` of them (each shortened by :func:`quoted`'s rule)."""
    shown = [n if len(n) <= QUOTE_CHARS else quoted(n) for n in names[:limit]]
    more = f" and {len(names) - limit:,} more" if len(names) > limit else ""
    return ", ".join(shown) + more


def printable_path(path: str | Path) -> str:
    """A path as text that can be stored and printed: bytes that are not UTF-8 (file names
    are bytes on POSIX) shown as ``\\xNN`` instead of lone surrogates."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


class VecstoreError(Exception):
    """Base class: a problem with the user's input, files or store, not a bug."""

    exit_code = 1


class StoreError(VecstoreError):
    """The store cannot be opened, migrated or written."""


class StoreNotFoundError(StoreError):
    """A command that only reads was pointed at a store that does not exist (it is never
    created by reading: a mistyped path must not become a new empty store)."""

    def __init__(self, location: str) -> None:
        self.location = location
        super().__init__(f"no store at {location}: nothing has been imported there (check the path; "
                         "an import creates the store)")


class StoreBusyError(StoreError):
    """Another process held the store's write lock for longer than vecstore waits."""

    def __init__(self, location: str, waited: float) -> None:
        self.location = location
        self.waited = waited
        super().__init__(f"the store is busy: another process is writing to {location} "
                         f"(waited {waited:.0f} s); try again when it has finished")


class DamagedStoreError(StoreError):
    """The store's file is not a readable SQLite database (damaged, or another kind of file)."""

    def __init__(self, location: str, detail: str) -> None:
        self.location = location
        self.detail = detail
        super().__init__(f"{location} is not a readable vecstore store ({detail}); Store.check() reports "
                         "what is wrong with it")


class ForeignDatabaseError(StoreError):
    """The store's path holds a SQLite database of another program: vecstore neither
    reads it as a store nor adds its tables to it."""

    def __init__(self, location: str, tables: Sequence[str]) -> None:
        self.location = location
        self.tables = list(tables)
        super().__init__(f"{location} is a SQLite database of another program (tables: {listed(self.tables)}), "
                         "not a vecstore store; give vecstore a file of its own")


class CorruptionError(StoreError):
    """Stored data failed its checksum: the store is damaged (derived files are rebuilt
    instead; this is raised for the authoritative vectors and words only)."""

    def __init__(self, message: str, set_name: str | None = None) -> None:
        self.set_name = set_name
        super().__init__(message)


class SetNotFoundError(VecstoreError):
    """No embedding set of that name is in the store."""

    def __init__(self, name: str, available: Sequence[str] = ()) -> None:
        self.name = name
        self.available = list(available)
        hint = f" (sets: {listed(self.available)})" if self.available else " (the store has no sets)"
        super().__init__(f"no embedding set named {quoted(name)}{hint}")


class SetExistsError(VecstoreError):
    """A set of that name exists with other content (or was imported by another process
    meanwhile) and ``replace`` was not given."""

    def __init__(self, name: str, source: str, reason: str = "already exists") -> None:
        self.name = name
        self.source = source
        self.reason = reason
        super().__init__(f"a set named {quoted(name)} {reason} (from {source}); pass replace=True to "
                         "overwrite it, or import under another name")

    def describe(self, replace_hint: str) -> str:
        """The message with another way of saying how to overwrite (the CLI's flags)."""
        return f"a set named {quoted(self.name)} {self.reason} (from {self.source}); {replace_hint}"


class SetChoiceError(VecstoreError):
    """No set was named and the store does not hold exactly one."""

    def __init__(self, available: Sequence[str], how: str = "name the one to use") -> None:
        self.available = list(available)
        if not self.available:
            message = "the store has no sets; import one first"
        else:
            message = f"the store has {len(self.available)} sets ({listed(self.available)}); {how}"
        super().__init__(message)


class UnknownWordError(VecstoreError):
    """A query word is not in the set; carries close spellings that are."""

    def __init__(self, word: str, set_name: str, suggestions: Sequence[str] = ()) -> None:
        self.word = word
        self.set_name = set_name
        self.suggestions = list(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"{quoted(word)} is not in set {quoted(set_name)}{hint}")


class InputFileError(VecstoreError):
    """A file given by the user is missing, unreadable or malformed.

    ``line`` is 1-based where the problem is on one line.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = printable_path(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ZipMemberError(InputFileError):
    """A zip holding several files was given without naming the member to read, or with
    a name it does not hold."""

    def __init__(self, path: str | Path, members: Sequence[str], asked: str | None) -> None:
        self.members = list(members)
        self.asked = asked
        if not self.members:
            message = "the zip holds no files"
        elif asked is None:
            message = f"the zip holds {len(self.members)} files ({listed(self.members)}); name the one to import"
        else:
            message = f"the zip has no member {quoted(asked)}; it holds: {listed(self.members)}"
        super().__init__(path, message)


class OutputExistsError(VecstoreError):
    """An output file exists already and overwriting was not asked for."""

    def __init__(self, path: str | Path) -> None:
        self.path = printable_path(path)
        super().__init__(f"{self.path} exists; pass overwrite=True to replace it")


class ProtectedPathError(VecstoreError):
    """An output (or an input to import) is one of the store's own files, which nothing
    but the store itself may write, even when overwriting is asked for."""

    def __init__(self, path: str | Path, what: str) -> None:
        self.path = printable_path(path)
        super().__init__(f"{self.path} is {what}; vecstore never writes over it (choose another file)")


class InvalidArgumentError(VecstoreError):
    """An argument is out of range or inconsistent with the set (e.g. wrong vector length)."""


class MissingDependencyError(VecstoreError):
    """A feature needs an optional package that is not installed (e.g. TensorFlow for Keras)."""
