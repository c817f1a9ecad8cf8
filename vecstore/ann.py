"""Building a set's approximate index, and measuring what it gives up.

:func:`build_approximate` builds a kind of :mod:`vecstore.index.approximate` from the
set's verified unit rows, measures its recall@10 against the exact search on a seeded
sample of the set's own rows, and publishes it with a manifest recording its
parameters, recall, build time and size. The previous index of the kind stays in use
until the new one is complete: a build killed halfway changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore.errors import InvalidArgumentError
from vecstore.index.approximate import ApproximateKind, resolve
from vecstore.native import native_stderr_captured

if TYPE_CHECKING:
    import faiss

    from vecstore.index.folder import IndexFolder
    from vecstore.query import EmbeddingSet
    from vecstore.storage.catalog import Catalog
    from vecstore.storage.records import SetInfo

log = logging.getLogger("vecstore")

#: The rows whose neighbours a build compares with the exact ones.
RECALL_SAMPLE = 1_000
#: The recall@10 a build widens the query-time parameters to reach (the issue's floors).
RECALL_TARGET = {"hnsw": 0.95, "ivf": 0.95, "ivfpq": 0.90, "pgvector-hnsw": 0.95, "pgvector-ivfflat": 0.95}
RECALL_K = 10
#: Rows added to an index a call: small enough that a progress bar moves every few seconds.
ADD_BATCH = 16_384


@dataclass(frozen=True)
class IndexReport:
    """One index of a set: what ``vecstore index list`` shows and a build prints."""

    set_name: str
    kind: str
    params: dict[str, int]
    search: dict[str, int]
    recall_at_10: float | None
    recall_sample: int
    build_seconds: float | None
    file_size: int
    built_at: str | None
    chosen: bool = False
    collection: bool = False  # (set_name is then the collection's name)
    #: The query-time parameters the build tried, each with its recall@10 (see :func:`tune`).
    tuning: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_approximate(embedding_set: EmbeddingSet, short: str, given: dict[str, str] | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      phases: Callable[[str], None] | None = None) -> IndexReport:
    """Build, measure and publish ``embedding_set``'s ``short`` index (``given``: build
    and default search parameters). ``progress(done, total)`` follows the rows added;
    ``phases(step)`` is told each step as it starts (adding, measuring, writing, sharing)."""
    from vecstore.index import pgvector

    say = phases or (lambda _step: None)
    if pgvector.is_server_kind(short):  # (built in the server, not in a FAISS file)
        server_kind = pgvector.resolve(short, len(embedding_set), embedding_set.dim, given)  # (before rows are read)
        version = pgvector.pgvector_version(embedding_set._catalog, short)
        say(f"building {short}: measuring the exact neighbours of {RECALL_SAMPLE:,} rows")
        probe = RecallProbe(embedding_set)  # (before the build's transaction: it reads the rows on this machine)
        m = pgvector.build(embedding_set, server_kind, version, given, probe, tune, RECALL_TARGET[short], progress,
                           phases)
        return IndexReport(embedding_set.info.display_name, short, m["params"], m["search"], m["recall_at_10"],
                           m["recall_sample"], m["build_seconds"], m["size"], m["built_at"], chosen=True,
                           collection=_is_collection(embedding_set), tuning=m["tuning"])
    kind = resolve(short, len(embedding_set), embedding_set.dim, given, embedding_set.info.subject)
    started = time.perf_counter()
    say(f"building {short}: adding rows")
    with native_stderr_captured() as faiss_said:  # (FAISS warns in its own words on stderr: said here in ours)
        try:
            index = kind.build(lambda: embedding_set.unit_row_batches(ADD_BATCH), len(embedding_set),
                               embedding_set.dim, progress)
        except RuntimeError as exc:  # (FAISS refusing what the parameters ask of these rows)
            raise InvalidArgumentError(f"FAISS cannot build this {short} index of {embedding_set.info.subject}: "
                                       f"{str(exc).strip().splitlines()[-1][:200]}", subject="param") from None
    if faiss_said.text.strip():
        log.warning("FAISS, building the %s index of %s: %s", short, embedding_set.info.subject,
                    " ".join(faiss_said.text.split())[:300])
    seconds = time.perf_counter() - started
    say(f"building {short}: measuring recall@10")
    probe = RecallProbe(embedding_set)
    kind, recall, steps = tune(probe, kind, index, given, say)
    sample = probe.sample
    built_at = datetime.now(UTC).isoformat(timespec="microseconds")  # (orders builds: the latest answers)
    facts = {"recall_at_10": recall, "recall_sample": sample, "build_seconds": round(seconds, 3),
             "built_at": built_at, "recall_target": RECALL_TARGET[kind.short], "tuning": steps,
             "given": sorted(given or ())}
    say(f"building {short}: writing the index")
    path = embedding_set._indexes.publish_approximate(embedding_set.info, kind, index, facts)
    from vecstore.index import shared

    if shared.is_shared(embedding_set._catalog):  # (other machines fetch it rather than build it)
        say(f"building {short}: sharing it in the store")
        shared.share(embedding_set._catalog, embedding_set._indexes, embedding_set.info, short)
    embedding_set.close()  # (the next query loads the new index, checked)
    return IndexReport(embedding_set.info.display_name, short, kind.params, kind.search, recall, sample, seconds,
                       path.stat().st_size, built_at, chosen=True, collection=_is_collection(embedding_set),
                       tuning=steps)


def rebuild_approximate(embedding_set: EmbeddingSet, manifest: dict[str, Any]) -> IndexReport:
    """Build the index a manifest describes again (damaged, or over rewritten vectors):
    the build parameters it records and the query-time ones its builder gave; the others
    are tuned again, for the rows the set has now."""
    from vecstore.index.approximate import given_params

    if manifest["kind"] not in RECALL_TARGET:
        raise InvalidArgumentError(f"unknown index kind {manifest['kind']!r}", subject="kind")
    return build_approximate(embedding_set, manifest["kind"], given_params(manifest))




def _is_collection(embedding_set: EmbeddingSet) -> bool:
    return embedding_set.info.kind == "documents"


class RecallProbe:
    """recall@10 against the exact search for a seeded sample of the set's own rows, each
    query excluding itself: the share of the true ten nearest an index returns among its
    ten. The exact answers are found once, so a build can try several query-time
    parameters (:func:`build_approximate` tunes them)."""

    def __init__(self, embedding_set: EmbeddingSet, sample: int = RECALL_SAMPLE, seed: int = 0) -> None:
        from vecstore.cosine import normalized
        from vecstore.index.flat import blas_for_batches

        self.embedding_set = embedding_set
        count = len(embedding_set)
        self.rows = np.sort(np.random.default_rng(seed).choice(count, size=min(sample, count), replace=False))
        self.k = min(RECALL_K, count - 1)
        self.truth: np.ndarray | None = None
        if count > 1:
            self.queries = np.ascontiguousarray(normalized(embedding_set.vectors_of_rows(self.rows)), dtype=np.float32)
            with blas_for_batches(len(self.queries)):
                _, self.truth = embedding_set.index().search(self.queries, self.k + 1)

    @property
    def sample(self) -> int:
        return 0 if self.truth is None else len(self.rows)

    def recall(self, kind: ApproximateKind, index: faiss.Index) -> float:
        """recall@10 of ``index`` searched with ``kind``'s query-time parameters."""
        if self.truth is None:
            return 1.0
        _, found = index.search(self.queries, kind.candidates(self.k + 1, kind.search),
                                params=kind.search_parameters(kind.search))
        if not kind.exact_scores:  # (codes: re-ranked by the exact scores, as queries are)
            found = _reranked(self.embedding_set, self.queries, found)
        hits = 0
        for row, true_rows, got in zip(self.rows.tolist(), self.truth, found, strict=True):
            wanted = [r for r in true_rows.tolist() if r != row][:self.k]
            answered = [r for r in got.tolist() if r != row and r >= 0][:self.k]
            hits += len(set(wanted) & set(answered))
        return hits / (self.k * len(self.rows))


def tune(probe: RecallProbe, kind: ApproximateKind, index: faiss.Index, given: dict[str, str] | None = None,
         say: Callable[[str], None] | None = None) -> tuple[ApproximateKind, float, list[dict[str, Any]]]:
    """Widen the query-time parameters the user did not give (:meth:`ApproximateKind.widened`)
    until the measured recall@10 reaches :data:`RECALL_TARGET` or they can grow no more:
    the defaults fit most sets, but an index of 2,000,000 rows of 300 dimensions can need
    four times GloVe's ``efSearch``. The kind chosen, its recall, and every step tried."""
    recall = probe.recall(kind, index)
    steps = [{"search": dict(kind.search), "recall_at_10": recall}]
    while recall < RECALL_TARGET[kind.short] and (wider := kind.widened(set(given or ()), len(steps) - 1)) is not None:
        kind = wider
        if say is not None:
            say(f"building {kind.short}: recall@10 {recall:.3f}, measuring again at "
                + ", ".join(f"{k}={v}" for k, v in kind.search.items()))
        recall = probe.recall(kind, index)
        steps.append({"search": dict(kind.search), "recall_at_10": recall})
    if recall < RECALL_TARGET[kind.short]:
        more = {"hnsw": "a larger M or efConstruction", "ivf": "a larger nprobe",
                "ivfpq": "a larger m or nbits, or the ivf kind", "pgvector-hnsw": "a larger m or ef_construction",
                "pgvector-ivfflat": "more lists, or pgvector-hnsw"}[kind.short]
        log.warning("the %s index reaches recall@10 %.3f, under %.2f, at %s: build it with %s", kind.short, recall,
                    RECALL_TARGET[kind.short], ", ".join(f"{k}={v}" for k, v in kind.search.items()), more)
    return kind, recall, steps


def _reranked(embedding_set: EmbeddingSet, queries: np.ndarray, found: np.ndarray) -> np.ndarray:
    from vecstore.cosine import normalized

    out = np.full_like(found, -1)
    for i, (query, candidates) in enumerate(zip(queries, found, strict=True)):
        valid = candidates[candidates >= 0]
        scores = normalized(embedding_set.vectors_of_rows(valid)) @ query
        out[i, :len(valid)] = valid[np.argsort(-scores, kind="stable")]
    return out


def index_reports(embedding_set: EmbeddingSet) -> list[IndexReport]:
    """The set's indexes: the exact one, then its approximate ones (the first listed is the
    one queries use)."""
    folder, info = embedding_set._indexes, embedding_set.info
    listed = listed_indexes(embedding_set._catalog, folder, info)
    flat_path, _ = folder.paths(info.uid)
    name, collection = embedding_set.info.display_name, _is_collection(embedding_set)
    reports = [IndexReport(name, "flat", {}, {}, 1.0, 0, None, _size(flat_path), None, chosen=not listed,
                           collection=collection)]
    for i, (manifest, size) in enumerate(listed):
        reports.append(IndexReport(name, manifest["kind"], manifest["params"], manifest["search"],
                                   manifest.get("recall_at_10"), manifest.get("recall_sample", 0),
                                   manifest.get("build_seconds"), size, manifest.get("built_at"), chosen=i == 0,
                                   collection=collection, tuning=_tuning(manifest.get("tuning"))))
    return reports


def listed_indexes(catalog: Catalog, folder: IndexFolder, info: SetInfo) -> list[tuple[dict[str, Any], int]]:
    """The set's approximate indexes as queries on this machine will see them, without
    fetching any: (manifest, size) of each, the one that answers (the latest built) first.
    The FAISS ones of the index folder and, on a server store, the store's shared copies
    and the server's pgvector indexes."""
    from vecstore.index import pgvector, shared

    if shared.is_shared(catalog):  # (the store's copies included)
        listed = shared.listed(catalog, folder, info)
    else:
        listed = [(m, _size(folder.approximate_paths(info.uid, m["kind"])[0]))
                  for m in folder.approximate_manifests(info)]
    listed += [(s.manifest, int(s.manifest.get("size", 0))) for s in pgvector.recorded(catalog, info)]
    return sorted(listed, key=lambda m: str(m[0].get("built_at", "")), reverse=True)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _tuning(recorded: object) -> list[dict[str, Any]]:
    """A manifest's tuning steps, if they are what a build writes (else none: a manifest is
    matched to its set, not checksummed)."""
    if not isinstance(recorded, list):
        return []
    steps = [step for step in recorded if isinstance(step, dict) and isinstance(step.get("search"), dict)
             and isinstance(step.get("recall_at_10"), int | float)]
    return steps if len(steps) == len(recorded) else []
