"""What a set (or a collection) may be called, and the name a file gives when none is.

A name is printed in lists, columns and messages, typed after ``--set`` and given on a
command line, so it holds no spaces, slashes, quotes or control characters: 1 to 200
letters (of any script), digits, ``.``, ``_`` and ``-``, starting with a letter or a
digit: ``glove-6b-50d``, ``glove.6B.100d``, ``cc.fr.300``, ``vecteurs_été``. Names of
sets imported before this rule still open, list and remove.
"""

from __future__ import annotations

import re
from pathlib import Path

from vecstore.errors import InvalidArgumentError, printable_path, quoted

MAX_NAME = 200
#: What a new name may hold (see the module docstring).
NAME = re.compile(r"[^\W_][\w.\-]*")
NAME_RULE = f"a name is 1 to {MAX_NAME} letters, digits, '.', '_' and '-', starting with a letter or digit"
#: Suffixes a file's name loses when it names a set: compression, then the formats'.
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zip", ".xz")
FORMAT_SUFFIXES = (".txt", ".vec", ".bin", ".w2v", ".word2vec", ".glove", ".emb")


def check_lookup(name: str) -> str:
    """A name to look up: text that can be stored (no lone surrogates from undecodable bytes)."""
    if not isinstance(name, str):
        raise InvalidArgumentError(f"a set name is text, not {type(name).__name__}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError(f"the set name {quoted(name)} is not valid UTF-8") from None
    return name


def check_name(name: str, subject: str = "name", what: str = "set") -> str:
    """A new name of a set (or, ``what``, a collection), as stored: see the module
    docstring for what it may hold. ``subject``: the parameter it was given as."""
    name = check_lookup(name).strip()
    if len(name) > MAX_NAME or not NAME.fullmatch(name):
        raise InvalidArgumentError(f"{quoted(name)} is not a {what} name: {NAME_RULE}", subject=subject)
    return name


def default_set_name(path: Path) -> str:
    """A file's name without its compression and format suffixes, its other characters
    made fit for a name: ``glove.6B.50d.txt.gz`` -> ``glove.6B.50d``, ``small.w2v.gz`` ->
    ``small``, ``my vectors.vec`` -> ``my-vectors``."""
    name = path.name
    while (suffix := next((s for s in (*COMPRESSION_SUFFIXES, *FORMAT_SUFFIXES) if name.lower().endswith(s)),
                          None)) and len(name) > len(suffix):
        name = name[:-len(suffix)]
    fitted = re.sub(r"[^\w.\-]+", "-", name)
    return re.sub(r"^[\W_]+|-+$", "", fitted)[:MAX_NAME]


def name_of_file(path: Path) -> str:
    """The set name a file gives when none is given, or an error saying to give one."""
    try:
        path.name.encode("utf-8")
        return check_name(default_set_name(path))
    except (InvalidArgumentError, UnicodeEncodeError):
        raise InvalidArgumentError(f"the file name {quoted(printable_path(path.name))} cannot name a set (its bytes "
                                   "are not UTF-8, or it holds no letter or digit)",
                                   hint=("name", "pass name= to name it")) from None
