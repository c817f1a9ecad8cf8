"""The typed exceptions of vecstore, in one place.

Every error the library raises on purpose is a :class:`VecstoreError`; the CLI turns
each into a one-line message and a non-zero exit code. Anything else is a bug.

Messages are worded for a Python caller. An error about one parameter's value names it
as its ``subject`` (``limit must be at least 1``), and an error that suggests using a
parameter carries the suggestion as a ``hint`` (the parameter, and the words for Python:
``pass replace=True to overwrite it``). ``str(error)`` is the Python wording; the CLI
renders the same error with its flags (:func:`vecstore.cli.errors.cli_message`), so no
library message ever names a command-line flag. A message that mentions what other
parameters were set to carries them as ``settings`` and marks where they go with
:data:`SETTINGS`: Python reads ``lowercase=False``, the command line ``without
--lowercase``. Any token, value or name taken from the user's input is shortened with
:func:`quoted`, so a message stays one short line whatever the input holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from vecstore.limits import LIST_NAMES, QUOTE_CHARS

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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


def printable(text: str) -> str:
    """``text`` with control characters (a terminal's escape sequences among them) shown
    as ``\\xNN``, for printing words and names a file brought."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text) if _CONTROL.search(text) else text


def listed(names: Sequence[str], limit: int = LIST_NAMES) -> str:
    """Comma-separated names, at most ``limit`` of them, each shortened and printable."""
    shown = [printable(n) if len(n) <= QUOTE_CHARS else quoted(n) for n in names[:limit]]
    more = f" and {len(names) - limit:,} more" if len(names) > limit else ""
    return ", ".join(shown) + more


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 set``, ``2 sets``, ``1,000 documents``: a count and its noun, in the right number."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


#: Where a message puts the settings it mentions (see :class:`VecstoreError`). A control
#: character: text from the user's input is always printed escaped, so it cannot forge one.
SETTINGS = "\x1esettings\x1e"


def python_setting(name: str, value: object) -> str:
    """A parameter's setting as a Python caller writes it: ``lowercase=False``, ``pool='sif'``."""
    return f"{name}={value!r}"


def printable_path(path: str | Path) -> str:
    """A path as text that can be stored and printed: bytes that are not UTF-8 (file names
    are bytes on POSIX) shown as ``\\xNN`` instead of lone surrogates."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return printable(text)


class VecstoreError(Exception):
    """Base class: a problem with the user's input, files or store, not a bug.

    ``message`` is what went wrong; ``subject`` the parameter whose value it is about
    (the message then reads after it, and names its value too when ``settings`` has
    it); ``hint`` a (parameter, suggestion) pair, the suggestion worded for Python;
    ``settings`` the values of parameters the message mentions, shown where it has
    :data:`SETTINGS`.
    """

    exit_code = 1

    def __init__(self, message: str = "", *, subject: str | None = None,
                 hint: tuple[str, str] | None = None, settings: Mapping[str, object] | None = None) -> None:
        self.message = message
        self.subject = subject
        self.hint = hint
        self.settings = dict(settings or {})
        super().__init__(self.render())

    def render(self, subject: str | None = None, hint: str | None = None,
               setting: Callable[[str, object], str] = python_setting) -> str:
        """The message in other words (the CLI's: its flag for ``subject``, its suggestion
        for ``hint``, ``setting`` to show a parameter's value), or in Python's."""
        text = self.message
        if SETTINGS in text:  # ("with lowercase=False"; the CLI's "without --lowercase" says its own preposition)
            shown = [setting(name, value) for name, value in self.settings.items() if name != self.subject]
            text = text.replace(SETTINGS, ", ".join(s if s.startswith("without ") else f"with {s}" for s in shown))
        if self.subject is not None:
            if self.subject in self.settings:
                named = setting(self.subject, self.settings[self.subject])
            else:
                named = subject or self.subject
            text = f"{named} {text}"
        if self.hint is not None:
            text = f"{text}; {hint or self.hint[1]}"
        return text


class StoreError(VecstoreError):
    """The store cannot be opened, migrated or written."""


class StoreNotFoundError(StoreError):
    """A command that only reads was pointed at a store that does not exist (it is never
    created by reading: a mistyped path must not become a new, empty store)."""

    def __init__(self, location: str) -> None:
        self.location = location
        super().__init__(f"no store at {location}: nothing has been imported there",
                         hint=("create", "check the path (an import creates the store)"))


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
        super().__init__(f"{location} is not a readable vecstore store ({detail})",
                         hint=("check", "Store.check() reports what is wrong with it"))


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
        super().__init__(message, hint=("damage", "Store.check() lists the damage; import the set again with "
                                                  "replace=True to mend it"))


class SetChangedError(StoreError):
    """A set was replaced or removed (by another process) after it was opened."""

    def __init__(self, name: str, what: str = "set") -> None:
        self.name = name
        changed = "replaced or removed" if what == "set" else "changed or removed"
        super().__init__(f"{what} {quoted(name)} was {changed} since it was opened; open it again")


class SetNotFoundError(VecstoreError):
    """No embedding set of that name is in the store."""

    def __init__(self, name: str, available: Sequence[str] = ()) -> None:
        self.name = name
        self.available = list(available)
        hint = f" (sets: {listed(self.available)})" if self.available else " (the store has no sets)"
        super().__init__(f"no embedding set named {quoted(name)}{hint}")


class CollectionNotFoundError(VecstoreError):
    """No document collection of that name is in the store."""

    def __init__(self, name: str, available: Sequence[str] = ()) -> None:
        self.name = name
        self.available = list(available)
        hint = f" (collections: {listed(self.available)})" if self.available else " (the store has no collections)"
        super().__init__(f"no collection named {quoted(name)}{hint}")


class CollectionSetChangedError(StoreError):
    """The set a collection's vectors were pooled from was replaced or removed: searching
    it would mix vectors of two sets."""

    def __init__(self, collection: str, set_name: str) -> None:
        self.collection = collection
        self.set_name = set_name
        super().__init__(f"collection {quoted(collection)} was built from set {quoted(set_name)} as it was then; "
                         "that set has been replaced or removed since, so its documents and a query would be "
                         "embedded by different vectors", hint=("rebuild", "remove the collection and add its "
                                                                "documents again"))


class IndexNotFoundError(VecstoreError):
    """A set (or a collection) has no index of the kind named."""

    def __init__(self, subject: str, kind: str, kinds: Sequence[str] = ()) -> None:
        self.kind = kind
        self.kinds = list(kinds)
        super().__init__(f"{subject} has no {kind} index (its indexes: {listed(self.kinds) or 'none'})")


class SetExistsError(VecstoreError):
    """A set of that name exists with other content (or was imported by another process
    meanwhile) and ``replace`` was not given."""

    def __init__(self, name: str, source: str, reason: str = "already exists",
                 settings: Mapping[str, object] | None = None) -> None:
        self.name = name
        self.source = source
        self.reason = reason
        super().__init__(f"a set named {quoted(name)} {reason} (from {printable(source)})",
                         hint=("replace", "pass replace=True to overwrite it, or import under another name"),
                         settings=settings)


class SetChoiceError(VecstoreError):
    """No set was named and the store does not hold exactly one."""

    def __init__(self, available: Sequence[str], how: str = "name the one to use") -> None:
        self.available = list(available)
        if not self.available:
            super().__init__("the store has no sets; import one first")
        else:
            super().__init__(f"the store has {len(self.available)} sets ({listed(self.available)})",
                             hint=("set_name", how))


class UnknownWordError(VecstoreError):
    """A query word is not in the set; carries close spellings that are."""

    def __init__(self, word: str, set_name: str, suggestions: Sequence[str] = (), where: str | None = None) -> None:
        self.word = word
        self.set_name = set_name
        self.suggestions = list(suggestions)
        hint = f"; did you mean {listed(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"{quoted(word)} is not in {where or 'set ' + quoted(set_name)}{hint}")


class InputFileError(VecstoreError):
    """A file given by the user is missing, unreadable or malformed.

    ``line`` is 1-based where the problem is on one line.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None, *,
                 hint: tuple[str, str] | None = None) -> None:
        self.path = printable_path(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}", hint=hint)


class ZipMemberError(InputFileError):
    """A zip holding several files was given without naming the member to read, or with
    a name it does not hold."""

    def __init__(self, path: str | Path, members: Sequence[str], asked: str | None) -> None:
        self.members = list(members)
        self.asked = asked
        if not self.members:
            super().__init__(path, "the zip holds no files")
        elif asked is None:
            super().__init__(path, f"the zip holds {len(self.members)} files ({listed(self.members)})",
                             hint=("member", "name the one to import with member="))
        else:
            super().__init__(path, f"the zip has no member {quoted(asked)}; it holds: {listed(self.members)}")


class OutputExistsError(VecstoreError):
    """An output file exists already and overwriting was not asked for."""

    def __init__(self, path: str | Path) -> None:
        self.path = printable_path(path)
        super().__init__(f"{self.path} exists", hint=("overwrite", "pass overwrite=True to replace it"))


class ProtectedPathError(VecstoreError):
    """An output (or an input to import) is one of a store's own files, which nothing but
    the store itself may write, even when overwriting is asked for."""

    def __init__(self, path: str | Path, what: str) -> None:
        self.path = printable_path(path)
        self.what = what
        super().__init__(f"{self.path} is {what}; vecstore never writes over it (choose another file)")


class InvalidArgumentError(VecstoreError):
    """An argument is out of range or inconsistent with the set (e.g. wrong vector length)."""


class MissingDependencyError(VecstoreError):
    """A feature needs an optional package that is not installed (e.g. TensorFlow for Keras)."""
