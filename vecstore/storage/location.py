"""Where a store lives: a SQLite file path or any SQLAlchemy URL.

Resolving a location imports nothing heavy: the query path decides from it whether the
stdlib ``sqlite3`` reader can serve, before SQLAlchemy is ever imported.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vecstore.io.files import ProtectedFiles

STORE_ENV = "VECSTORE_STORE"
_URL = re.compile(r"^[a-z][a-z0-9+]*://", re.IGNORECASE)


@dataclass(frozen=True)
class StoreLocation:
    """A resolved store: its SQLAlchemy URL, the SQLite file if it is one, and the index folder."""

    url: str
    sqlite_path: Path | None
    index_dir: Path

    def own_files(self) -> list[Path]:
        """The database and the files SQLite keeps beside it (nothing for a server store)."""
        if self.sqlite_path is None:
            return []
        return [self.sqlite_path, *(self.sqlite_path.with_name(self.sqlite_path.name + suffix)
                                    for suffix in ("-wal", "-shm", "-journal"))]

    def protected(self) -> ProtectedFiles:
        """What no output may overwrite and no import may read: the database and its
        companions, and the folder of derived files."""
        from vecstore.io.files import ProtectedFiles

        return ProtectedFiles(self.own_files(), [self.index_dir])

    def display(self) -> str:
        """The location for messages, without a password."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.url)


def default_store_path() -> Path:
    """One store per user, in the platform's data directory, shared by every project."""
    from platformdirs import user_data_path

    return user_data_path("vecstore", appauthor=False) / "store.db"


def resolve(location: str | os.PathLike[str] | None = None) -> StoreLocation:
    """Resolve ``location`` (a path, a SQLAlchemy URL, or None for $VECSTORE_STORE / the default)."""
    raw = location if location is not None else os.environ.get(STORE_ENV) or None
    if raw is None:
        return _sqlite_location(default_store_path())
    text = os.fsdecode(raw)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        from vecstore.errors import StoreError, printable_path

        raise StoreError(f"the store path {printable_path(text)} is not valid UTF-8, which SQLite's file "
                         "names must be; choose another path") from None
    if _URL.match(text):
        if text.startswith("sqlite:///") and len(text) > len("sqlite:///"):
            return _sqlite_location(Path(text[len("sqlite:///") :]))
        # Indexes of a server store are a local cache keyed by the URL (no password).
        import hashlib  # (here: a cold query of a SQLite store does not pay for it)

        from platformdirs import user_cache_path

        key = hashlib.sha256(re.sub(r"://([^:/@]+):[^@]*@", r"://\1@", text).encode()).hexdigest()[:16]
        return StoreLocation(url=text, sqlite_path=None,
                             index_dir=user_cache_path("vecstore", appauthor=False) / "indexes" / key)
    return _sqlite_location(Path(text))


def _sqlite_location(path: Path) -> StoreLocation:
    path = path.expanduser().resolve()
    return StoreLocation(url=f"sqlite:///{path}", sqlite_path=path,
                         index_dir=path.with_name(path.name + ".indexes"))
