"""The tables a server store's pgvector indexes live in, as the storage layer drops them.

Each pgvector index (:mod:`vecstore.index.pgvector`) is a table of its own named
``vecstore_pgv_<set uid>_<method>_<build>``; ``server_indexes`` records it. A set removed or
replaced takes its tables with it, in the same transaction (:mod:`vecstore.storage.catalog`).
A table name read from the store is used as an SQL identifier only when it is one vecstore
makes: identifiers cannot be bound.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from vecstore.errors import StoreError, quoted
from vecstore.storage import statements as sql

log = logging.getLogger("vecstore")

TABLE_NAME = re.compile(r"^vecstore_pgv_[0-9a-f]{32}_(hnsw|ivfflat)(_[0-9a-f]{8})?$")


def checked_table(name: str) -> str:
    """``name`` if it is a pgvector table name vecstore makes, else :class:`StoreError`."""
    if not TABLE_NAME.match(name):
        raise StoreError(f"the server index table {quoted(name)} is not one vecstore makes")
    return name


def drop_table(tx: Any, table: str) -> None:
    """Drop a pgvector table this role owns (or may act as the owner of). Another role's is
    left, with a warning: its record goes, and ``check --repair`` by its owner drops it."""
    owned = tx.rows("SELECT pg_has_role(c.relowner, 'USAGE') AS mine FROM pg_class c "
                    "WHERE c.oid = to_regclass(:t)", {"t": table})
    if not owned:
        return
    if owned[0]["mine"]:
        tx.execute(f"DROP TABLE {checked_table(table)}")
    else:
        log.warning("left the table %s, which another role owns: vecstore check --repair, run by its owner, "
                    "drops it", table)


def drop_kind(tx: Any, set_id: int, kind: str) -> bool:
    """Remove set ``set_id``'s index of ``kind``: its record, and its table as
    :func:`drop_table` drops it; whether there was one."""
    found = tx.rows(sql.FIND_SERVER_INDEX, {"set_id": set_id, "kind": kind})
    for row in found:
        drop_table(tx, checked_table(str(row["table_name"])))
    tx.execute(sql.DELETE_SERVER_INDEX, {"set_id": set_id, "kind": kind})
    return bool(found)


def drop_for_set(tx: Any, set_id: int) -> None:
    """A set removed or replaced takes its pgvector tables with it (PostgreSQL only)."""
    for row in tx.rows(sql.SET_SERVER_INDEXES, {"set_id": set_id}):
        drop_table(tx, checked_table(str(row["table_name"])))
    tx.execute(sql.DELETE_SET_SERVER_INDEXES, {"set_id": set_id})
