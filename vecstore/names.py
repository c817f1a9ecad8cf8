"""What a set may be called, and the name a file gives when none is."""

from __future__ import annotations

from pathlib import Path

from vecstore.errors import InvalidArgumentError, printable, printable_path, quoted


def check_lookup(name: str) -> str:
    """A name to look up: text that can be stored (no lone surrogates from undecodable bytes)."""
    if not isinstance(name, str):
        raise InvalidArgumentError(f"a set name is text, not {type(name).__name__}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError(f"the set name {quoted(name)} is not valid UTF-8") from None
    return name


def check_name(name: str) -> str:
    """A set name as stored: 1 to 200 characters of valid Unicode, no control characters
    (a name is printed: it must not carry line breaks or a terminal's escape sequences)."""
    name = check_lookup(name).strip()
    if not name or len(name) > 200 or printable(name) != name:
        raise InvalidArgumentError(f"invalid set name {quoted(name)}: use 1 to 200 characters, none of them "
                                   "control characters")
    return name


def default_set_name(path: Path) -> str:
    """A file's name without its compression and format suffixes: glove.6B.50d.txt.gz -> glove.6B.50d."""
    name = path.name
    for suffix in (".gz", ".bz2", ".zip", ".txt", ".vec", ".bin"):
        name = name.removesuffix(suffix)
    return name or path.name


def name_of_file(path: Path) -> str:
    """The set name a file gives when none is given, or an error saying to give one."""
    try:
        return check_name(default_set_name(path))
    except InvalidArgumentError:
        raise InvalidArgumentError(f"the file name {quoted(printable_path(path.name))} cannot name a set (its bytes "
                                   "are not UTF-8, or it holds control characters)",
                                   hint=("name", "pass name= to name it")) from None
