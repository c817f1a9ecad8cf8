"""What a store's rows hold, independent of the driver that reads them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vecstore.errors import printable_path, quoted

#: A collection's document vectors are the set named this prefix and the collection's
#: name: no set a person names can be called so (names hold no control characters).
COLLECTION_SET_PREFIX = "\x1fcollection:"

#: Rows per chunk are chosen so a chunk of vectors is about this many bytes.
CHUNK_BYTES = 1 << 20


def rows_per_chunk(dim: int) -> int:
    return max(1, CHUNK_BYTES // (4 * dim))


def new_uid() -> str:
    """32 random hex digits naming one import (and its derived files)."""
    return os.urandom(16).hex()


@dataclass(frozen=True)
class SetInfo:
    """One embedding set's row: what it is, where it came from, its content checksum."""

    id: int
    uid: str
    name: str
    dim: int
    count: int
    rows_per_chunk: int
    format: str
    source: str
    source_sha256: str
    created_at: datetime
    parent_uid: str | None = None
    stats: str | None = None  # JSON, see vecstore.stats.SetStats
    content_checksum: str = ""
    read_options: str | None = None  # JSON of the options that shaped the set
    kind: str = "words"  # "words", or "documents": a collection's document vectors (ids for words)

    @property
    def display_name(self) -> str:
        """Its name as people see it: the set's, or for document vectors the collection's."""
        return self.name.removeprefix(COLLECTION_SET_PREFIX) if self.kind == "documents" else self.name

    @property
    def has_subwords(self) -> bool:
        """Whether the set was imported with a subword model (a fastText ``.bin`` with
        n-grams): its read options say so, so a model lost from the store is noticed."""
        import json

        try:
            return bool(self.read_options and json.loads(self.read_options).get("subwords"))
        except (ValueError, AttributeError):
            return False

    @property
    def subject(self) -> str:
        """How messages name it: ``set 'glove'``, or ``collection 'reviews'``."""
        return f"{'collection' if self.kind == 'documents' else 'set'} {quoted(self.display_name)}"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SetInfo:
        """A set from its row, by column name, as either driver returns it."""
        created = row["created_at"]
        if isinstance(created, str):  # SQLite keeps text (SQLAlchemy's DateTime format)
            created = datetime.fromisoformat(created)
        if created.tzinfo is None:  # SQLite keeps no zone; vecstore writes UTC
            created = created.replace(tzinfo=UTC)
        optional = {k: None if row[k] is None else str(row[k]) for k in ("parent_uid", "stats", "read_options")}
        return cls(int(row["id"]), str(row["uid"]), str(row["name"]), int(row["dim"]), int(row["count"]),
                   int(row["rows_per_chunk"]), str(row["format"]), str(row["source"]), str(row["source_sha256"]),
                   created, content_checksum=str(row["content_checksum"] or ""), kind=str(row.get("kind") or "words"),
                   **optional)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "count": self.count,
            "dim": self.dim,
            "format": self.format,
            "source": self.source,
            "sha256": self.source_sha256,
            "created_at": self.created_at.isoformat(),
            "uid": self.uid,
            "parent_uid": self.parent_uid,
            "content_checksum": self.content_checksum,
            "read_options": json.loads(self.read_options) if self.read_options else {},
        }


@dataclass(frozen=True)
class Chunk:
    """One stored chunk: its number, bytes, and the checksum recorded when it was written."""

    number: int
    data: bytes
    checksum: str


@dataclass(frozen=True)
class SharedIndex:
    """An index kept in the store for every machine: its kind, manifest (JSON), the size
    and SHA-256 of its file (which is kept in chunks)."""

    id: int
    kind: str
    manifest: str
    size: int
    sha256: str


@dataclass(frozen=True)
class SetHeader:
    """What is known of a set before its rows are: the row written first, completed by
    :meth:`~vecstore.storage.catalog.SetWriter.finish` with the count, checksums and
    statistics."""

    name: str
    dim: int
    format: str
    source: str
    parent_uid: str | None = None
    read_options: str | None = None
    kind: str = "words"

    def row_values(self, uid: str) -> dict[str, Any]:
        """The set's row, ``created_at`` a naive UTC datetime (SQLite keeps no zone)."""
        return {"uid": uid, "name": self.name, "dim": self.dim, "count": 0,
                "rows_per_chunk": rows_per_chunk(self.dim), "format": self.format,
                "source": printable_path(self.source), "source_sha256": "",
                "created_at": datetime.now(UTC).replace(tzinfo=None), "parent_uid": self.parent_uid,
                "stats": None, "content_checksum": "", "read_options": self.read_options, "kind": self.kind}


@dataclass(frozen=True)
class Completion:
    """What :meth:`~vecstore.storage.catalog.SetWriter.finish` records once every row is written."""

    count: int
    source_sha256: str
    content_checksum: str
    stats: str | None = None


@dataclass(frozen=True)
class CollectionInfo:
    """One collection's row: its documents' vectors (a set of kind ``documents``, by uid),
    the word set and pooling that made them."""

    id: int
    name: str
    word_set_uid: str
    word_set_name: str
    vectors_uid: str
    pool: str
    options: str  # JSON: case_fold, and the idf or sif_component fitted on the first documents
    count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CollectionInfo:
        times = {}
        for key in ("created_at", "updated_at"):
            value = row[key]
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            times[key] = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return cls(int(row["id"]), str(row["name"]), str(row["word_set_uid"]), str(row["word_set_name"]),
                   str(row["vectors_uid"]), str(row["pool"]), str(row["options"]), int(row["count"]), **times)

    def to_dict(self) -> dict[str, object]:
        options = json.loads(self.options)
        return {"name": self.name, "set": self.word_set_name, "set_uid": self.word_set_uid, "pool": self.pool,
                "count": self.count, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat(),
                "options": {k: v for k, v in options.items() if k not in ("idf", "sif_component")}}
