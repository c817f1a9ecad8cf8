"""pgvector indexes: a server store's approximate search answered by PostgreSQL itself.

A FAISS index of a server store is a file every machine fetches (189 MB for GloVe 6B
50d) before its first approximate query. On a server whose database has pgvector's
``vector`` extension, ``index build --kind pgvector-hnsw`` (or ``pgvector-ivfflat``)
instead copies the set's unit rows into a table of its own, ``vecstore_pgv_<uid>_<kind>``
(one ``vector(dim)`` column, ``halfvec`` past the 2,000 dimensions pgvector indexes
as ``vector``), builds pgvector's index on it in the server, and records it in
``server_indexes`` with a manifest as a FAISS build's: parameters, query-time settings,
recall@10 measured on 1,000 of the set's rows, and the build time. A query is then one
statement, ``ORDER BY v <=> :q LIMIT :k`` (a batch: a ``LATERAL`` join over an array of
queries), with no download.

The build runs in one transaction: a build killed halfway leaves no table and the
previous index in use. As for every index kind, the hits a query prints are re-scored
from the set's verified stored rows (:mod:`vecstore.query`): the table is trusted for
which rows to look at, never for a score. ``vecstore check`` compares every row of the
table with the unit rows of the checksummed chunks (:func:`verify`), and ``--repair``
builds it again.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import struct
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vecstore.errors import InvalidArgumentError, StoreError, quoted
from vecstore.index.approximate import ApproximateKind
from vecstore.storage import statements as sql
from vecstore.storage.server_tables import TABLE_NAME, checked_table, drop_kind, drop_table

if TYPE_CHECKING:
    import numpy as np

    from vecstore.ann import RecallProbe
    from vecstore.index.folder import IndexFolder
    from vecstore.query import EmbeddingSet
    from vecstore.storage.catalog import Catalog
    from vecstore.storage.records import SetInfo
else:  # (imported on first use, as the other kinds do)
    from vecstore._lazy import numpy as np

log = logging.getLogger("vecstore")

#: :func:`vecstore.ann.tune`'s signature: (probe, kind, index, given, say) -> (kind, recall, steps).
Tune = Callable[..., tuple[Any, float, list[dict[str, Any]]]]

#: The kinds by their CLI name, with pgvector's access method.
SERVER_KINDS = {"pgvector-hnsw": "hnsw", "pgvector-ivfflat": "ivfflat"}
#: Build parameters (pgvector's own names) with their bounds, and the query-time one.
BUILD_BOUNDS = {"pgvector-hnsw": {"m": (2, 100), "ef_construction": (4, 1000), "halfvec": (0, 1)},
                "pgvector-ivfflat": {"lists": (1, 32_768), "halfvec": (0, 1)}}
SEARCH_KEY = {"pgvector-hnsw": "ef_search", "pgvector-ivfflat": "probes"}
#: pgvector's ceilings: hnsw.ef_search, and the dimensions each column type indexes.
MAX_EF_SEARCH = 1000
MAX_VECTOR_DIM, MAX_HALFVEC_DIM = 2000, 4000
#: Queries sent in one statement by a batch (their vectors are one array parameter).
QUERIES_A_STATEMENT = 1000
#: The bytes of float32 rows a build copies, or a check reads, in one batch.
BATCH_BYTES = 16 << 20


class PgvectorMissingError(StoreError):
    """The server store cannot hold a pgvector index: no ``vector`` extension in its database."""


@dataclass(frozen=True)
class PgvectorKind(ApproximateKind):
    """A pgvector kind with its resolved parameters (``params``: ``m``, ``ef_construction``
    or ``lists``, and ``halfvec``; ``search``: ``ef_search`` or ``probes``)."""

    @property
    def name(self) -> str:
        return f"pgvector {SERVER_KINDS[self.short]}/cosine"

    @property
    def exact_scores(self) -> bool:
        """``vector`` holds the unit rows' float32 values, so its cosines are the stored
        rows'; ``halfvec``'s are rounded to 16 bits, and its hits are re-ranked."""
        return not self.params.get("halfvec")

    @property
    def score_tolerance(self) -> float | None:
        """How far a ``halfvec`` score may stray from the stored rows' exact cosine (16-bit
        components of a unit row: about 1e-3): further means the table is not this set's."""
        return 1e-2

    @property
    def column(self) -> str:
        return "halfvec" if self.params.get("halfvec") else "vector"

    def widened(self, given: set[str], step: int = 0) -> PgvectorKind | None:
        key = SEARCH_KEY[self.short]
        limit = MAX_EF_SEARCH if key == "ef_search" else self.params["lists"]
        if key in given or self.search[key] >= limit:
            return None
        return PgvectorKind(self.short, self.params, {key: min(limit, self.search[key] * 2)})

    def candidates(self, k: int, search: dict[str, int]) -> int:
        return k if self.exact_scores else 2 * k  # (halfvec: spare hits to re-rank by the exact scores)

    def search_parameters(self, search: dict[str, int]) -> dict[str, int]:
        return dict(search)


def is_server_kind(short: str) -> bool:
    return short in SERVER_KINDS


def resolve(short: str, count: int, dim: int, given: Mapping[str, object] | None = None) -> PgvectorKind:
    """The kind ``short`` with its parameters: pgvector's defaults (``m`` 16,
    ``ef_construction`` 64; ``lists`` rows / 1,000 up to a million rows, their square root
    beyond, as pgvector advises; ``probes`` the square root of ``lists``), overridden by
    ``given``; ``halfvec`` when the set has more dimensions than ``vector`` indexes."""
    bounds = {**BUILD_BOUNDS[short], SEARCH_KEY[short]: (1, MAX_EF_SEARCH if short == "pgvector-hnsw" else 32_768)}
    lists = max(1, count // 1000 if count <= 1_000_000 else int(math.sqrt(count)))
    values: dict[str, int] = ({"m": 16, "ef_construction": 64, "ef_search": 40} if short == "pgvector-hnsw" else
                              {"lists": lists, "probes": max(1, int(math.sqrt(lists)))})
    values["halfvec"] = int(dim > MAX_VECTOR_DIM)
    for key, raw in (given or {}).items():
        if key not in bounds:
            raise InvalidArgumentError(f"takes {', '.join(bounds)} for {short}, not {quoted(key)}", subject="param")
        try:
            value = int(str(raw))
        except ValueError:
            raise InvalidArgumentError(f"{key} must be a whole number, not {quoted(str(raw))}",
                                       subject="param") from None
        low, high = bounds[key]
        if not low <= value <= high:
            raise InvalidArgumentError(f"{key} must be from {low:,} to {high:,}, not {value:,}", subject="param")
        values[key] = value
    if short == "pgvector-hnsw" and values["ef_construction"] < 2 * values["m"]:
        raise InvalidArgumentError(f"ef_construction must be at least twice m ({2 * values['m']}), not "
                                   f"{values['ef_construction']}", subject="param")
    if short == "pgvector-ivfflat":
        if values["lists"] > count:
            raise InvalidArgumentError(f"lists {values['lists']:,} is more than the set's {count:,} rows",
                                       subject="param")
        values["probes"] = min(values["probes"], values["lists"])
    if dim > (MAX_HALFVEC_DIM if values["halfvec"] else MAX_VECTOR_DIM):
        raise InvalidArgumentError(f"pgvector indexes at most {MAX_VECTOR_DIM:,} dimensions as vector and "
                                   f"{MAX_HALFVEC_DIM:,} as halfvec; the set has {dim:,}", subject="kind")
    search_key = SEARCH_KEY[short]
    return PgvectorKind(short, {k: v for k, v in values.items() if k != search_key}, {search_key: values[search_key]})


# -- the server ------------------------------------------------------------------------------


def pgvector_version(catalog: Catalog, short: str = "pgvector-hnsw") -> str:
    """The database's pgvector version; else :class:`PgvectorMissingError`, saying what is
    missing (a SQLite store; a server without pgvector; a database without the extension)."""
    if catalog.driver.dialect != "postgresql":
        raise InvalidArgumentError(f"{short} is an index kind of PostgreSQL stores with pgvector; this store is "
                                   "SQLite, whose approximate kinds are hnsw, ivf and ivfpq")
    installed = catalog.driver.rows("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    if installed:
        return str(installed[0]["extversion"])
    available = catalog.driver.rows("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
    if available:
        raise PgvectorMissingError(f"the database of {catalog.driver.where} lacks the vector extension (pgvector "
                                   f"{available[0]['default_version']} is on the server): a superuser runs "
                                   "CREATE EXTENSION vector in it once; until then, the hnsw kind shares a FAISS index "
                                   "through the store")
    raise PgvectorMissingError(f"the server of {catalog.driver.where} has no pgvector (the vector extension): install "
                               "it on the server, then a superuser runs CREATE EXTENSION vector once; until then, "
                               "the hnsw kind shares a FAISS index through the store")


def table_name(uid: str, short: str, build: str = "") -> str:
    """The table of set ``uid``'s ``short`` index (``build``: 8 hex digits naming one build,
    so a build never meets a table of the same name), checked: the uid comes from the store."""
    return checked_table(f"vecstore_pgv_{uid}_{SERVER_KINDS[short]}" + (f"_{build}" if build else ""))


@dataclass(frozen=True)
class ServerIndex:
    """A set's pgvector index as recorded in ``server_indexes``."""

    kind: PgvectorKind
    table: str
    manifest: dict[str, Any]


def recorded(catalog: Catalog, info: SetInfo) -> list[ServerIndex]:
    """The set's pgvector indexes whose manifests describe this very set, the latest built
    first (none on a SQLite store)."""
    if catalog.driver.dialect != "postgresql":
        return []
    found = []
    for row in catalog.driver.rows(sql.SERVER_INDEXES, {"set_id": info.id}):
        try:
            manifest = json.loads(str(row["manifest"]))
            expected = {"set_uid": info.uid, "content_checksum": info.content_checksum, "rows": info.count,
                        "dim": info.dim, "kind": row["kind"], "table": row["table_name"]}
            if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in expected.items()):
                raise ValueError("another set's manifest")
            kind = resolve(str(row["kind"]), info.count, info.dim, {**manifest["params"], **manifest["search"]})
            table = checked_table(str(row["table_name"]))
            if not table.startswith(table_name(info.uid, str(row["kind"]))):
                raise ValueError(f"its table {table} is another set's")
            found.append(ServerIndex(kind, table, manifest))
        except (ValueError, KeyError, TypeError, InvalidArgumentError, StoreError) as exc:
            log.warning("not using the %s index of %s: its record in the store is not valid (%s)", row["kind"],
                        info.subject, exc)
    return sorted(found, key=lambda s: str(s.manifest.get("built_at", "")), reverse=True)


class PgvectorSearch:
    """A pgvector index searched as a FAISS one is (``ntotal``, ``d``, ``search``): the
    store's code searches, re-scores and checks its hits alike."""

    def __init__(self, run: Callable[[dict[str, int], str, dict[str, Any]], list[dict[str, Any]]],
                 index: ServerIndex, count: int, dim: int) -> None:
        self._run = run
        #: Why the table could not be searched (None: it can): the handle's queries then find
        #: nothing here and are answered exactly (see :class:`_Unavailable`).
        self.unavailable: str | None = None
        self.index = index
        self.ntotal, self.d = count, dim
        cast = f"{index.kind.column}({dim})"
        table = checked_table(index.table)
        self._one = (f"SELECT rowno, v <=> CAST(:q AS {cast}) AS d FROM {table} "
                     f"ORDER BY v <=> CAST(:q AS {cast}) LIMIT :k")
        self._many = (f"SELECT q.i, r.rowno, r.d FROM unnest(CAST(:qs AS {cast}[])) WITH ORDINALITY AS q(v, i) "
                      f"CROSS JOIN LATERAL (SELECT t.rowno, t.v <=> q.v AS d FROM {table} t "
                      "ORDER BY t.v <=> q.v LIMIT :k) r")

    def search(self, queries: np.ndarray, k: int,
               params: dict[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(cosine scores, rows) of each query's ``k`` nearest, -1 rows where fewer came
        (all of them when the table cannot be searched: the caller answers exactly)."""
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.d)
        settings = dict(params or self.index.kind.search)
        if "ef_search" in settings:  # (an HNSW scan returns at most ef_search rows)
            settings["ef_search"] = min(MAX_EF_SEARCH, max(settings["ef_search"], k))
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        filled = np.zeros(len(queries), dtype=np.int64)
        if k > MAX_EF_SEARCH and "ef_search" in settings:  # (more than a scan returns: pgvector 0.8 goes on)
            settings["iterative_scan"] = 1
        try:
            found = [] if self.unavailable is not None else self._found(queries, k, settings)
        except _Unavailable as exc:
            self.unavailable = str(exc)
            log.warning("not using the %s index %s: %s; searching exactly", self.index.kind.short, self.index.table,
                        exc)
            found = []
        for r in found:
            i = int(r["i"]) - 1
            place = filled[i]
            if place < k:
                rows[i, place], scores[i, place] = int(r["rowno"]), 1.0 - float(r["d"])
                filled[i] += 1
        return scores, rows


    def _found(self, queries: np.ndarray, k: int, settings: dict[str, int]) -> list[dict[str, Any]]:
        """The server's rows for ``queries``: (i, the query's 1-based place; rowno; d)."""
        if len(queries) == 1:
            return [{"i": 1, **r} for r in self._run(settings, self._one, {"q": _literal(queries[0]), "k": k})]
        found = []
        for start in range(0, len(queries), QUERIES_A_STATEMENT):
            literal = "{" + ",".join(f'"{_literal(q)}"' for q in queries[start:start + QUERIES_A_STATEMENT]) + "}"
            found += [{**r, "i": int(r["i"]) + start} for r in self._run(settings, self._many, {"qs": literal, "k": k})]
        return found


def _literal(vector: np.ndarray) -> str:
    """A vector as pgvector's text form: each float32 as the shortest text that reads back
    as the same float32 (numpy's ``str`` of a float32)."""
    return "[" + ",".join(map(str, np.asarray(vector, dtype=np.float32))) + "]"


def _search_in(tx: Any, settings: Mapping[str, int], statement: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a search ``statement`` in transaction ``tx``, its query-time ``settings`` set for
    that transaction only (``SET LOCAL``)."""
    names = {"ef_search": "hnsw.ef_search", "probes": "ivfflat.probes", "iterative_scan": "hnsw.iterative_scan"}
    for key, value in settings.items():
        tx.rows("SELECT set_config(:name, :value, true)",
                {"name": names[key], "value": "relaxed_order" if key == "iterative_scan" else str(int(value))})
    return tx.rows(statement, params)


class _Unavailable(Exception):
    """The index's table cannot be searched now (dropped by a rebuild or a removal since,
    or not readable by this role)."""


def searcher(catalog: Catalog, info: SetInfo, index: ServerIndex) -> PgvectorSearch:
    """The index, searched through the store's connection: each search one transaction
    setting its query-time parameter for itself (``SET LOCAL``)."""
    def run(settings: dict[str, int], statement: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            with catalog.driver.transaction(f"search the {index.kind.short} index of {info.subject} in") as tx:
                return _search_in(tx, settings, statement, params)
        except StoreError as exc:
            raise _Unavailable(exc.message) from None

    return PgvectorSearch(run, index, info.count, info.dim)


def answering(catalog: Catalog, folder: IndexFolder, info: SetInfo,
              found: list[ServerIndex]) -> tuple[PgvectorKind, PgvectorSearch] | None:
    """The set's pgvector index if it is the one queries use: the latest built of its
    approximate indexes (the FAISS ones this machine holds or the store shares included);
    ``found``: the set's :func:`recorded` indexes."""
    if not found:
        return None
    latest = found[0]
    from vecstore.index import shared

    faiss_built = [str(m.get("built_at", "")) for m in folder.approximate_manifests(info)]
    faiss_built += [str(m.get("built_at", "")) for _, m in shared._store_copies(catalog, info, warn=False).values()]
    if faiss_built and max(faiss_built) > str(latest.manifest.get("built_at", "")):
        return None
    return latest.kind, searcher(catalog, info, latest)


# -- building --------------------------------------------------------------------------------


def build(embedding_set: EmbeddingSet, kind: PgvectorKind, version: str, given: dict[str, str] | None,
          probe: RecallProbe, tune: Tune, target: float, progress: Callable[[int, int], None] | None = None,
          phases: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build ``embedding_set``'s pgvector index of ``kind`` (:func:`resolve`'s, for a server
    of pgvector ``version``: :func:`pgvector_version`) in the server, measure its
    recall@10 with ``probe`` (``tune`` widening its query-time parameter to reach
    ``target``, as for the FAISS kinds: :mod:`vecstore.ann`), and record it, replacing the
    kind's previous index (in use until this one commits): all in one transaction. Its
    manifest."""
    say = phases or (lambda _step: None)
    catalog, info, short = embedding_set._catalog, embedding_set.info, kind.short
    table = table_name(info.uid, short, os.urandom(4).hex())
    started = time.perf_counter()
    with catalog.driver.transaction(f"build the {short} index of {info.subject} in", lock=f"set {info.name}") as tx:
        if not tx.rows(sql.FIND_SET_BY_UID, {"uid": info.uid}):
            raise StoreError(f"{info.subject} was replaced or removed while its index was built")
        tx.execute(f"CREATE TABLE {table} (rowno int4 PRIMARY KEY, v {kind.column}({info.dim}) NOT NULL)")
        say(f"building {short}: copying the unit rows into the server")
        # (one COPY a batch: each batch is read, and verified, while no COPY holds the connection)
        for block in _copy_blocks(embedding_set, kind.column == "halfvec", progress):
            tx.copy_data(f"COPY {table} (rowno, v) FROM STDIN (FORMAT BINARY)", [block])
        say(f"building {short}: building the index in the server")
        tx.rows("SELECT set_config('maintenance_work_mem', :value, true)",
                {"value": f"{_maintenance_mb(tx, info.count, info.dim, kind)}MB"})
        options = ", ".join(f"{k} = {int(v)}" for k, v in kind.params.items() if k != "halfvec")
        tx.execute(f"CREATE INDEX ON {table} USING {SERVER_KINDS[short]} (v {kind.column}_cosine_ops) "
                   f"WITH ({options})")
        _grant_like_the_vectors(tx, table)
        seconds = time.perf_counter() - started
        say(f"building {short}: measuring recall@10")

        searched = PgvectorSearch(functools.partial(_search_in, tx), ServerIndex(kind, table, {}), info.count,
                                  info.dim)
        kind, recall, steps = tune(probe, kind, searched, given, say)
        size = int(tx.rows("SELECT pg_total_relation_size(CAST(:t AS regclass)) AS size", {"t": table})[0]["size"])
        built_at = datetime.now(UTC).isoformat(timespec="microseconds")
        manifest = {"set_uid": info.uid, "content_checksum": info.content_checksum, "rows": info.count,
                    "dim": info.dim, "kind": short, "table": table, "index": kind.name, "params": kind.params,
                    "search": kind.search, "recall_at_10": recall, "recall_sample": probe.sample,
                    "recall_target": target, "tuning": steps, "given": sorted(given or ()),
                    "build_seconds": round(seconds, 3), "built_at": built_at, "size": size,
                    "pgvector": version}
        # The previous index is dropped last, so that queries use it until this one commits
        # (a DROP locks its table until the transaction ends).
        drop_kind(tx, info.id, short)
        tx.execute(sql.INSERT_SERVER_INDEX, {"set_id": info.id, "kind": short, "table_name": table,
                                             "manifest": json.dumps(manifest),
                                             "created_at": datetime.now(UTC).replace(tzinfo=None)})
    embedding_set.close()  # (the next query finds the new index)
    return manifest


def _maintenance_mb(tx: Any, count: int, dim: int, kind: PgvectorKind) -> int:
    """Memory for the index build: enough that pgvector builds its graph in memory (much
    quicker than on disk), never less than the server's setting, at most 2 GB."""
    current = int(tx.rows("SELECT setting::bigint * 1024 AS bytes FROM pg_settings "
                          "WHERE name = 'maintenance_work_mem'")[0]["bytes"]) // (1024 * 1024)
    per_row = dim * (2 if kind.column == "halfvec" else 4) + 8 * 2 * kind.params.get("m", 16) + 64
    return int(max(current, min(2048, 1.5 * count * per_row / (1 << 20) + 64)))


def _copy_blocks(embedding_set: EmbeddingSet, half: bool,
                 progress: Callable[[int, int], None] | None) -> Iterator[bytes]:
    """The set's verified unit rows, a batch at a time, each a whole COPY in PostgreSQL's
    binary format, as pgvector reads ``vector`` (and ``halfvec``): a 16-bit dimension, 16
    unused bits, then big-endian floats. A batch is about :data:`BATCH_BYTES` of rows."""
    dim = embedding_set.dim
    value = np.dtype(">f2" if half else ">f4")
    row_type = np.dtype([("fields", ">i2"), ("row_len", ">i4"), ("row", ">i4"), ("v_len", ">i4"),
                         ("dim", ">i2"), ("unused", ">i2"), ("v", value, (dim,))])
    done = 0
    for batch in embedding_set.unit_row_batches(rows_a_batch(dim)):
        block = np.zeros(len(batch), dtype=row_type)
        block["fields"], block["row_len"], block["v_len"], block["dim"] = 2, 4, 4 + dim * value.itemsize, dim
        block["row"] = np.arange(done, done + len(batch))
        block["v"] = batch
        yield b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0) + block.tobytes() + struct.pack(">h", -1)
        done += len(batch)
        if progress is not None:
            progress(done, len(embedding_set))


def rows_a_batch(dim: int) -> int:
    """Rows of ``dim`` float32 in about :data:`BATCH_BYTES` (a copy's or a check's batch)."""
    return max(1, BATCH_BYTES // (4 * dim))


def _grant_like_the_vectors(tx: Any, table: str) -> None:
    """Let whoever may read the set's vectors (``vector_chunks``) read its pgvector table."""
    for row in tx.rows("SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS who "
                       "FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a "
                       "LEFT JOIN pg_roles r ON r.oid = a.grantee "
                       "WHERE c.oid = CAST('vector_chunks' AS regclass) AND a.privilege_type = 'SELECT' "
                       "AND a.grantee <> c.relowner"):
        tx.execute(f"GRANT SELECT ON {table} TO {row['who']}")


def remove(catalog: Catalog, info: SetInfo, short: str) -> bool:
    """Remove the set's pgvector index of ``short``; whether there was one."""
    if catalog.driver.dialect != "postgresql":
        return False
    with catalog.driver.transaction(f"remove the {short} index of {info.subject} from", lock=f"set {info.name}") as tx:
        return drop_kind(tx, info.id, short)


def orphan_tables(catalog: Catalog) -> list[str]:
    """pgvector tables vecstore made that no set's record names (left by a role that could
    not drop them)."""
    if catalog.driver.dialect != "postgresql":
        return []
    return _orphans(catalog.driver)


def _orphans(reader: Any) -> list[str]:
    # (one statement, so one snapshot: a build commits its table and its record together)
    tables = reader.rows(_ORPHANS)
    return sorted(t for t in (str(r["tablename"]) for r in tables) if TABLE_NAME.match(t))


_ORPHANS = ("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'vecstore_pgv_%' "
            "AND tablename NOT IN (SELECT table_name FROM server_indexes)")


def drop_orphans(catalog: Catalog, tables: list[str]) -> None:
    """Drop those of ``tables`` that are still orphans (looked at again in the transaction)."""
    with catalog.driver.transaction("drop unused pgvector tables of") as tx:
        still = set(_orphans(tx))
        for table in tables:
            if table in still:
                drop_table(tx, checked_table(table))


# -- checking --------------------------------------------------------------------------------


def verify(embedding_set: EmbeddingSet, index: ServerIndex) -> str | None:
    """What is wrong with the pgvector copy of the set (None: every row is the unit row
    of the verified stored vectors, and the index is there)."""
    catalog, info = embedding_set._catalog, embedding_set.info
    table = index.table
    try:
        method = SERVER_KINDS[index.kind.short]
        present = catalog.driver.rows("SELECT count(*) AS n FROM pg_indexes WHERE tablename = :t "
                                      "AND indexdef LIKE :method", {"t": table, "method": f"%USING {method} %"})
        if not present or not int(present[0]["n"]):
            return f"its table {table} has no {SERVER_KINDS[index.kind.short]} index"
        half = index.kind.column == "halfvec"
        value = np.dtype(">f2" if half else ">f4")
        send = "halfvec_send" if half else "vector_send"
        start = 0
        for unit in embedding_set.unit_row_batches(rows_a_batch(info.dim)):
            rows = catalog.driver.rows(f"SELECT rowno, {send}(v) AS b FROM {table} WHERE rowno >= :lo AND "
                                       "rowno < :hi ORDER BY rowno", {"lo": start, "hi": start + len(unit)})
            if len(rows) != len(unit):
                return f"its table {table} holds {len(rows):,} of rows {start:,} to {start + len(unit) - 1:,}"
            data = b"".join(bytes(r["b"]) for r in rows)
            size = 4 + info.dim * value.itemsize
            if len(data) != size * len(unit):
                return f"its table {table} holds vectors of another size"
            got = np.frombuffer(data, dtype=np.uint8).reshape(len(unit), size)[:, 4:].copy().view(value)
            expected = unit.astype(value.newbyteorder("="))
            wrong = np.flatnonzero(~np.all(got.astype(expected.dtype) == expected, axis=1))
            if len(wrong):
                return (f"its table {table} differs from the stored vectors at {len(wrong):,} rows "
                        f"(the first: row {start + int(wrong[0]):,})")
            start += len(unit)
        extra = catalog.driver.rows(f"SELECT count(*) AS n FROM {table} WHERE rowno < 0 OR rowno >= :n",
                                    {"n": info.count})
        if int(extra[0]["n"]):
            return f"its table {table} holds {int(extra[0]['n']):,} rows beyond the set's {info.count:,}"
    except StoreError as exc:
        return exc.message
    return None
