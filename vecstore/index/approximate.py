"""Approximate index kinds: FAISS's HNSW, IVF and IVF-PQ over a set's unit rows.

An approximate index is built on demand (``vecstore index build``), never by an import:
it trains or links on all the rows, which a streaming import does not hold. Each kind
resolves its parameters from the set's shape and what the user gave, builds from unit
rows fed in batches (so IVF-PQ needs only its codes in memory, not the matrix), and says
how to search it: HNSW's ``efSearch`` and IVF's ``nprobe`` can be set per query.

HNSW and IVF store the unit rows themselves, so their scores are exact cosines and are
checked against the stored rows like the flat index's. IVF-PQ stores codes: it proposes
``rerank`` x k candidates, which are re-scored from the stored rows and re-ranked, so the
scores printed are exact cosines too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import xxhash

from vecstore.errors import InvalidArgumentError, quoted
from vecstore.integrity import BLOCK_BYTES, Layout

if TYPE_CHECKING:
    import numpy as np
else:  # (imported on first use: a cold exact query needs no numpy; see vecstore._lazy)
    from vecstore._lazy import numpy as np

if TYPE_CHECKING:
    import faiss

#: The approximate kinds by their short name (the CLI's ``--kind``).
APPROXIMATE_KINDS = ("hnsw", "ivf", "ivfpq")
#: Build parameters each kind takes, and query-time ones (``efSearch``, ``nprobe``, ``rerank``).
BUILD_PARAMS = {"hnsw": ("M", "efConstruction"), "ivf": ("nlist",), "ivfpq": ("nlist", "m", "nbits")}
SEARCH_PARAMS = {"hnsw": ("efSearch",), "ivf": ("nprobe",), "ivfpq": ("nprobe", "rerank"),
                 "pgvector-hnsw": ("ef_search",), "pgvector-ivfflat": ("probes",)}  # (vecstore.index.pgvector)
#: Rows an IVF kind trains its centroids on: FAISS asks for 39 to 256 per list.
TRAINING_ROWS_PER_LIST = 64
#: The fewest rows FAISS's k-means trains a centroid on (an IVF list's, or an IVF-PQ
#: code's) without warning that they are too few.
ROWS_PER_CENTROID = 39
#: How far a build widens a query-time parameter the user did not give, to reach its recall.
TUNING_LIMITS = {"efSearch": 2_048, "nprobe": 4_096, "rerank": 160}
#: The bounds of every parameter (a graph degree of 10,000 is a typo, not a choice).
PARAM_BOUNDS = {"M": (4, 256), "efConstruction": (8, 4096), "efSearch": (1, 32_768), "nlist": (1, 1 << 20),
                "nprobe": (1, 1 << 20), "m": (1, 65_536), "nbits": (4, 12), "rerank": (1, 1000),
                "ef_search": (1, 1000), "probes": (1, 32_768)}


@dataclass(frozen=True)
class ApproximateKind:
    """One approximate kind with its resolved parameters."""

    short: str
    params: dict[str, int]
    search: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return {"hnsw": "IndexHNSWFlat/cosine", "ivf": "IndexIVFFlat/cosine", "ivfpq": "IndexIVFPQ/cosine"}[self.short]

    @property
    def exact_scores(self) -> bool:
        """Whether the index's scores are the exact cosines of the stored unit rows."""
        return self.short != "ivfpq"

    @property
    def score_tolerance(self) -> float | None:
        """For a kind without :attr:`exact_scores`: how far its scores may stray from the
        stored rows' exact cosines, or None when they are not comparable (ivfpq's codes:
        their hits are only re-ranked)."""
        return None

    def layout(self, manifest: dict[str, Any] | None = None) -> Layout:
        """The footer's layout: blocks digested with a seed made of what the index's
        manifest says of it (:data:`BOUND_FACTS`: its parameters, query-time settings,
        recall), so an edited ``efSearch`` fails the blocks' checksums as a flipped byte
        does. Without a manifest: the unseeded layout of indexes built before."""
        if manifest is None:
            return Layout(f"faiss-{self.short}", BLOCK_BYTES, lambda data, _number: xxhash.xxh3_64_intdigest(data))
        seed = bound_seed(manifest)
        return Layout(f"faiss-{self.short}-m", BLOCK_BYTES,
                      lambda data, _number: xxhash.xxh3_64_intdigest(data, seed=seed))

    def widened(self, given: set[str], step: int = 0) -> ApproximateKind | None:
        """This kind with a query-time parameter doubled, for more recall: ``efSearch``;
        ``nprobe`` (up to ``nlist``); for ``ivfpq`` ``nprobe`` and ``rerank`` in turn (by
        ``step``). Never one in ``given`` (the user's choice), never past
        :data:`TUNING_LIMITS`; None when nothing can grow."""
        order = {"hnsw": ["efSearch"], "ivf": ["nprobe"], "ivfpq": ["nprobe", "rerank"]}[self.short]
        order = order[step % len(order):] + order[:step % len(order)]
        for key in order:
            limit = TUNING_LIMITS[key] if key != "nprobe" else min(TUNING_LIMITS[key], self.params["nlist"])
            if key not in given and self.search[key] < limit:
                return ApproximateKind(self.short, self.params, {**self.search, key: min(limit, self.search[key] * 2)})
        return None

    def candidates(self, k: int, search: dict[str, int]) -> int:
        """How many hits to ask the index for, to return ``k`` after re-ranking."""
        return k * search.get("rerank", 1)

    def search_parameters(self, search: dict[str, int]) -> faiss.SearchParameters:
        import faiss

        if self.short == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=search["efSearch"])
        return faiss.SearchParametersIVF(nprobe=search["nprobe"])

    def build(self, batches: Callable[[], Iterator[np.ndarray]], count: int, dim: int,
              progress: Callable[[int, int], None] | None = None) -> faiss.Index:
        """The index of the unit rows that ``batches()`` yields (called twice for the IVF
        kinds: a seeded sample to train on, then every row)."""
        import faiss

        if self.short == "hnsw":
            index = faiss.IndexHNSWFlat(dim, self.params["M"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.params["efConstruction"]
        else:
            quantizer = faiss.IndexFlatIP(dim)
            if self.short == "ivf":
                index = faiss.IndexIVFFlat(quantizer, dim, self.params["nlist"], faiss.METRIC_INNER_PRODUCT)
            else:
                index = faiss.IndexIVFPQ(quantizer, dim, self.params["nlist"], self.params["m"], self.params["nbits"],
                                         faiss.METRIC_INNER_PRODUCT)
            index.own_fields = True
            quantizer.this.disown()  # (the index owns its quantizer now)
            index.cp.seed = 1234
            wanted = max(self.params["nlist"] * TRAINING_ROWS_PER_LIST,
                         ROWS_PER_CENTROID * (1 << self.params.get("nbits", 0)))
            index.train(_training_sample(batches, count, wanted))
        done = 0
        for batch in batches():
            index.add(np.ascontiguousarray(batch, dtype=np.float32))
            done += len(batch)
            if progress is not None:
                progress(done, count)
        return index


def _training_sample(batches: Callable[[], Iterator[np.ndarray]], count: int, wanted: int) -> np.ndarray:
    """A seeded sample of at most ``wanted`` unit rows, read batch by batch."""
    chosen = np.sort(np.random.default_rng(0).choice(count, size=min(wanted, count), replace=False))
    parts, start = [], 0
    for batch in batches():
        stop = start + len(batch)
        lo, hi = np.searchsorted(chosen, [start, stop])
        if hi > lo:
            parts.append(np.array(batch[chosen[lo:hi] - start], dtype=np.float32))
        start = stop
    return np.ascontiguousarray(np.concatenate(parts))


def resolve(short: str, count: int, dim: int, given: dict[str, str] | None = None,
            subject: str = "the set") -> ApproximateKind:
    """The kind ``short`` with its parameters: the defaults for a set of ``count`` rows of
    ``dim`` (chosen to reach recall@10 of 0.95, measured by ``benchmarks/bench_ann.py``),
    overridden by ``given`` (build or search parameters, as text or numbers). A set too
    small for the kind is refused in its own words (``subject``: how to name it) when
    the defaults ask too much of it, or naming the parameter given when one does."""
    if short not in APPROXIMATE_KINDS:
        raise InvalidArgumentError(f"must be one of flat, {', '.join(APPROXIMATE_KINDS)}, pgvector-hnsw, "
                                   f"pgvector-ivfflat, not {quoted(short)}", subject="kind")
    nlist = max(1, min(int(4 * math.sqrt(count)), count // 39 or 1))
    defaults: dict[str, dict[str, int]] = {
        "hnsw": {"M": 32, "efConstruction": 80, "efSearch": 64},
        "ivf": {"nlist": nlist, "nprobe": min(nlist, max(16, nlist // 20))},
        "ivfpq": {"nlist": nlist, "m": _pq_m(dim), "nbits": 8, "nprobe": min(nlist, max(16, nlist // 20)),
                  "rerank": 20},
    }[short]
    values = dict(defaults)
    for key, raw in (given or {}).items():
        if key not in defaults:
            raise InvalidArgumentError(f"takes {', '.join(defaults)} for {short}, not {quoted(key)}", subject="param")
        values[key] = _checked(key, raw, "param")
    given = given or {}
    if short != "hnsw" and values["nlist"] > count:
        raise InvalidArgumentError(f"nlist {values['nlist']:,} is more than the set's {count:,} rows",
                                   subject="param")
    if short == "ivfpq" and dim % values["m"]:
        raise InvalidArgumentError(f"m must divide the set's {dim} dimensions, not {values['m']}", subject="param")
    if short != "hnsw":  # (FAISS trains each list's centroid, and each code's, on 39 rows or more)
        needs, why = ROWS_PER_CENTROID * values["nlist"], f"{values['nlist']:,} lists"
        if short == "ivfpq" and ROWS_PER_CENTROID * (1 << values["nbits"]) > needs:
            needs, why = ROWS_PER_CENTROID * (1 << values["nbits"]), f"{values['nbits']}-bit codes"
        if count < needs:
            _too_small(short, count, needs, why, subject, "nbits" if "codes" in why else "nlist", given)
    build = {k: values[k] for k in BUILD_PARAMS[short]}
    search = {k: values[k] for k in SEARCH_PARAMS[short]}
    return ApproximateKind(short, build, search)


def _too_small(short: str, count: int, needs: int, why: str, subject: str, key: str, given: dict[str, str]) -> None:
    """Refuse a set too small to train the kind: naming the parameter the user gave, or
    else the set, with what to do instead."""
    if key in given:
        raise InvalidArgumentError(f"{key}={given[key]} needs {needs:,} rows to train its {why}; the set has "
                                   f"{count:,}", subject="param")
    fewest = PARAM_BOUNDS["nbits"][0]
    smaller = (f" (fewer bits need fewer: nbits=N trains on {ROWS_PER_CENTROID} x 2^N rows)"
               if short == "ivfpq" and count >= ROWS_PER_CENTROID << fewest else "")
    raise InvalidArgumentError(f"{subject} has {count:,} rows, and an {short} index needs {needs:,} to train its "
                               f"{why}{smaller}", hint=("small_set", "a set this small is searched exactly as fast; "
                                                        "an hnsw index needs no training"))


#: What a manifest says of its index that its footer binds (see ApproximateKind.layout).
BOUND_FACTS = ("set_uid", "content_checksum", "rows", "dim", "kind", "index", "params", "search", "recall_at_10",
               "recall_sample", "recall_target", "tuning", "given")


def bound_seed(manifest: dict[str, Any]) -> int:
    """The seed of an index's block digests: XXH3-64 of its manifest's bound facts."""
    import json

    facts = {key: manifest.get(key) for key in BOUND_FACTS}
    return xxhash.xxh3_64_intdigest(json.dumps(facts, sort_keys=True, separators=(",", ":")).encode())


def recorded_params(manifest: dict[str, Any]) -> dict[str, int]:
    """The build and search parameters an index's manifest records (to resolve it)."""
    return {**manifest["params"], **manifest["search"]}


def given_params(manifest: dict[str, Any]) -> dict[str, int]:
    """What to build an index again with: its build parameters, and the query-time ones
    its builder gave (the others are tuned again, for the rows the set has now). Manifests
    from before tuning keep all theirs."""
    given = manifest.get("given")
    search = manifest["search"] if not isinstance(given, list) else {
        k: v for k, v in manifest["search"].items() if k in given}
    return {**manifest["params"], **search}


def search_overrides(kind: ApproximateKind, given: dict[str, str] | None) -> dict[str, int]:
    """The kind's query-time parameters with ``given`` ones (``efSearch``, ``nprobe``,
    ``rerank``) in their place, checked."""
    values = dict(kind.search)
    for key, raw in (given or {}).items():
        if key not in SEARCH_PARAMS[kind.short]:
            raise InvalidArgumentError(f"takes {', '.join(SEARCH_PARAMS[kind.short])} for the {kind.short} index, "
                                       f"not {quoted(key)}", subject="search")
        values[key] = _checked(key, raw, "search")
    return values


def _checked(key: str, raw: object, subject: str) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        raise InvalidArgumentError(f"{key} must be a whole number, not {quoted(str(raw))}", subject=subject) from None
    low, high = PARAM_BOUNDS[key]
    if not low <= value <= high:
        raise InvalidArgumentError(f"{key} must be from {low:,} to {high:,}, not {value:,}", subject=subject)
    return value


def _pq_m(dim: int) -> int:
    """Sub-quantizers for IVF-PQ: the divisor of ``dim`` nearest ``dim / 4`` (a byte of code
    for four dimensions: 300 dimensions in 75 bytes), the larger on a tie."""
    divisors = [m for m in range(1, dim + 1) if dim % m == 0]
    return min(divisors, key=lambda m: (abs(m - dim / 4), -m))


def params_from_text(pairs: list[str], subject: str = "param") -> dict[str, str]:
    """``["M=32", "efSearch=64"]`` as a dict; a pair without ``=`` is an error about
    ``subject``, the parameter the pairs were given as (``param`` for a build's,
    ``search`` for a query's)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidArgumentError(f"is key=value, not {quoted(pair)}", subject=subject)
        out[key.strip()] = value.strip()
    return out
