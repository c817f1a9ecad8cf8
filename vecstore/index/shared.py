"""Approximate indexes shared through a server store, and the cache each machine keeps.

An HNSW index of 2,000,000 rows takes many minutes to build; a team on one PostgreSQL
store builds it once. The machine that builds an approximate index keeps it in its own
index folder (for a server store, a cache under the user's cache directory) and shares
it: the file, footer included, goes into the store in chunks of :data:`CHUNK_BYTES`,
each with its SHA-256, with the whole file's size and SHA-256 and its manifest.

Another machine's query looks at what the store keeps for the set: an index its cache
lacks, or holds with another SHA-256 (built again since), is fetched, every chunk
checked on the way and the whole file's SHA-256 checked at the end, then put in the
cache as a build would be. From there the cache is trusted as any index folder is: only
when its manifest names this very set (uid and content checksum) and the file's footer
and every block match (:mod:`vecstore.index.folder`). A cached copy that fails its
checks is dropped and fetched again; a copy in the store that fails them is left out,
with a warning, and the set is searched as if it had none.

SQLite stores share nothing: their index folder already sits beside the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vecstore.errors import StoreError
from vecstore.index.approximate import APPROXIMATE_KINDS
from vecstore.index.folder import IndexFolder
from vecstore.integrity import DerivedFileError
from vecstore.storage.catalog import Catalog
from vecstore.storage.records import SetInfo, SharedIndex

log = logging.getLogger("vecstore")

#: The size of a shared index's chunks (one row each; a fetch holds a few at a time).
CHUNK_BYTES = 8 << 20
#: Chunks read in one statement while fetching.
CHUNKS_A_READ = 4
#: A cached index's manifest says so when the store keeps the same file (shared from this
#: machine, or fetched): such a copy goes when the store's does.
SHARED = "shared"


def is_shared(catalog: Catalog) -> bool:
    """Whether indexes built on this store are shared through it (a server store)."""
    return catalog.driver.dialect != "sqlite"


def share(catalog: Catalog, folder: IndexFolder, info: SetInfo, short: str) -> bool:
    """Keep the ``short`` index just built in ``folder`` in the store for other machines;
    whether it was. A store this user may only read keeps it local, with a warning."""
    manifest = folder.approximate_manifest(info, short)
    if manifest is None:
        return False
    path, _ = folder.approximate_paths(info.uid, short)
    manifest = {**manifest, SHARED: True}  # (as every machine's cache will hold it)
    try:
        with path.open("rb") as f:
            size = path.stat().st_size
            shared = catalog.share_index(info, short, json.dumps(manifest), size, manifest["sha256"],
                                         _pieces(f, size, manifest["sha256"]))
    except (StoreError, DerivedFileError, OSError) as exc:
        log.warning("the %s index of %s is kept on this machine only: %s", short, info.name, exc)
        return False
    if shared:
        folder.mark_approximate(info, short, {SHARED: True})
    return shared


def _pieces(f: Any, size: int, sha256: str) -> Iterator[tuple[bytes, str]]:
    """The file in chunks with their SHA-256; the whole must be the file the manifest names
    (else the upload's transaction rolls back)."""
    digest, read = hashlib.sha256(), 0
    while piece := f.read(CHUNK_BYTES):
        digest.update(piece)
        read += len(piece)
        yield piece, hashlib.sha256(piece).hexdigest()
    if read != size or digest.hexdigest() != sha256:
        raise DerivedFileError("its file changed while it was shared")


def unshare(catalog: Catalog, info: SetInfo, short: str) -> bool:
    """Remove the store's copy of a set's ``short`` index; whether there was one."""
    return catalog.unshare_index(info, short)


def fetch(catalog: Catalog, folder: IndexFolder, info: SetInfo, *, again: str | None = None) -> list[str]:
    """Bring this machine's cache in line with the store for ``info``; the kinds fetched.

    Cached copies that came from the store (or were shared to it) and that it no longer
    keeps are dropped: removed, or found damaged, elsewhere. Then only the index that will
    answer is fetched, if the cache lacks it: the latest built of the store's and this
    machine's own (a build this machine could not share stays, until a newer one is
    shared). ``again``: a kind whose cached copy failed its checks, fetched regardless.
    """
    server = _store_copies(catalog, info, warn=True)
    for kind, manifest in {m["kind"]: m for m in folder.approximate_manifests(info)}.items():
        if manifest.get(SHARED) and kind not in server:
            folder.remove_approximate(info.uid, kind)
    for kind, from_server in _by_answering(folder.approximate_manifests(info), server, again):
        if not from_server:
            return []  # (the cache holds the index that answers)
        shared = server[kind][0]
        for attempt in (1, 2):
            try:
                _download(catalog, folder, info, shared)
                return [kind]
            except DerivedFileError as exc:
                current = {s.kind: s for s in catalog.shared_indexes(info.id)}.get(kind)
                if attempt == 1 and current is not None and current.id != shared.id:
                    shared = current  # (shared again by another machine while this one read it)
                    continue
                log.warning("not using the shared %s index of %s: %s", kind, info.name, exc)
            except OSError as exc:
                log.warning("cannot fetch the shared %s index of %s into %s: %s", kind, info.name, folder.folder, exc)
            break
    return []


def _store_copies(catalog: Catalog, info: SetInfo, *, warn: bool) -> dict[str, tuple[SharedIndex, dict[str, Any]]]:
    """The store's copies of ``info``'s indexes whose manifests describe it, by kind, with
    those manifests (``warn``: say which are left out, and why)."""
    server = {}
    for shared in catalog.shared_indexes(info.id):
        try:
            server[shared.kind] = (shared, _shared_manifest(info, shared))
        except DerivedFileError as exc:
            if warn:
                log.warning("not using the shared %s index of %s: %s", shared.kind, info.name, exc)
    return server


def _by_answering(local: list[dict[str, Any]], server: dict[str, tuple[SharedIndex, dict[str, Any]]],
                  again: str | None) -> list[tuple[str, bool]]:
    """(kind, whether the store's copy is the one to use) for each kind, the latest built first."""
    choices: dict[str, tuple[str, bool]] = {}
    for manifest in local:
        choices[manifest["kind"]] = (str(manifest.get("built_at", "")), False)
    for kind, (shared, manifest) in server.items():
        built_at = str(manifest.get("built_at", ""))
        mine = choices.get(kind)
        cached = next((m for m in local if m["kind"] == kind), None)
        same = cached is not None and cached.get("sha256") == shared.sha256
        if kind == again or (not same and (mine is None or cached.get(SHARED) or built_at >= mine[0])):
            choices[kind] = (built_at, True)
    return sorted(((kind, from_server) for kind, (_, from_server) in choices.items()),
                  key=lambda c: choices[c[0]][0], reverse=True)


def listed(catalog: Catalog, folder: IndexFolder, info: SetInfo) -> list[tuple[dict[str, Any], int]]:
    """The set's approximate indexes as queries on this machine will see them, without
    fetching any: (manifest, file size) of each, the one that answers first (``index list``)."""
    server = _store_copies(catalog, info, warn=False)
    local = [m for m in folder.approximate_manifests(info) if not m.get(SHARED) or m["kind"] in server]
    out = []
    for kind, from_server in _by_answering(local, server, None):
        if from_server:
            out.append((server[kind][1], server[kind][0].size))
        else:
            manifest = next(m for m in local if m["kind"] == kind)
            path, _ = folder.approximate_paths(info.uid, kind)
            out.append((manifest, path.stat().st_size if path.exists() else 0))
    return out


def _download(catalog: Catalog, folder: IndexFolder, info: SetInfo, shared: SharedIndex) -> None:
    manifest = _shared_manifest(info, shared)
    tmp = folder.approximate_temp(info, shared.kind)
    try:
        _write_chunks(catalog, shared, tmp)
        folder.install_approximate(info, shared.kind, tmp, manifest)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    if folder.approximate_manifest(info, shared.kind) is None:
        folder.remove_approximate(info.uid, shared.kind)
        raise DerivedFileError("its manifest does not describe this set's index")


def _shared_manifest(info: SetInfo, shared: SharedIndex) -> dict[str, Any]:
    try:
        manifest = json.loads(shared.manifest)
    except ValueError:
        manifest = None
    if (not isinstance(manifest, dict) or manifest.get("sha256") != shared.sha256
            or shared.kind not in APPROXIMATE_KINDS or manifest.get("kind") != shared.kind):
        raise DerivedFileError("its manifest in the store is not valid")
    if manifest.get("set_uid") != info.uid or manifest.get("content_checksum") != info.content_checksum:
        raise DerivedFileError("it was built from other vectors")
    return manifest


def _write_chunks(catalog: Catalog, shared: SharedIndex, tmp: Path) -> None:
    """Write the shared file into ``tmp``, each chunk and the whole checked."""
    with tmp.open("r+b") as out:
        _read_chunks(catalog, shared, out.write)


def _read_chunks(catalog: Catalog, shared: SharedIndex, sink: Callable[[bytes], object]) -> None:
    """Hand the shared file's chunks to ``sink`` in order, each checked against its
    SHA-256, never more than the recorded size; then check the size and the whole SHA-256."""
    digest, written, number = hashlib.sha256(), 0, 0
    while written < shared.size:
        chunks = catalog.shared_index_chunks(shared.id, number, number + CHUNKS_A_READ)
        if not chunks:
            break
        for chunk in chunks:
            if chunk.number != number:
                raise DerivedFileError(f"its chunk {number} is missing from the store")
            if hashlib.sha256(chunk.data).hexdigest() != chunk.checksum:
                raise DerivedFileError(f"its chunk {number} in the store fails its checksum")
            written += len(chunk.data)
            if written > shared.size:  # (bounded: never more than the size recorded)
                raise DerivedFileError("its chunks in the store hold more than its recorded size")
            digest.update(chunk.data)
            sink(chunk.data)
            number += 1
    if written != shared.size:
        raise DerivedFileError(f"its chunks in the store hold {written:,} of its {shared.size:,} bytes")
    if digest.hexdigest() != shared.sha256:
        raise DerivedFileError("its file in the store fails its SHA-256")


def verify_shared(catalog: Catalog, info: SetInfo) -> list[tuple[str, str]]:
    """Every index the store keeps for ``info``, read and checked as a fetch would:
    (kind, what is wrong) of each that fails."""
    problems = []
    for shared in catalog.shared_indexes(info.id):
        try:
            _shared_manifest(info, shared)
            _read_chunks(catalog, shared, lambda _data: None)
        except DerivedFileError as exc:
            problems.append((shared.kind, str(exc)))
    return problems
