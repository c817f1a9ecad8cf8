"""Checksums that bind every stored byte and every derived file to a set's content.

- **Chunks.** Each vector chunk and word chunk in the database carries the XXH3-64
  digest of its bytes, seeded by its set's uid, its kind and its number
  (:func:`chunk_digest`): the same bytes in another set, or at another place in the
  same set, give another digest, so a chunk swapped between sets or moved is caught
  like a changed one. It is checked whenever the chunk is read.
- **A set's content checksum** is XXH3-128 over its dimension, row count and the
  digests of its chunks in order (a Merkle root): it changes with any byte of any vector
  or word, and ``check`` (or any read of the whole set) recomputes it from the chunks.
- **Derived files** (a set's FAISS index, the raw copy of its rows) end with a footer, as
  Lucene ends each segment file with a checksum footer: the set's uid and content
  checksum, the payload's size, and a digest per block of the payload. Opening a file
  checks the footer (cheap: it catches a file swapped from another set, a stale or a
  truncated one); reading verifies the blocks it touches, and ``check`` verifies them
  all. The raw rows are the set's vector chunks end to end, so their blocks are those
  chunks and their digests the chunks' own: the rows a query reads are verified against
  the checksums the database holds.

XXH3 (the ``xxhash`` package) is a non-cryptographic hash at about 15 GB/s here, ten
times sha256: it detects corruption, it is not a defence against a forger (who could as
well rewrite the database).
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import xxhash

from vecstore.io.files import open_regular

if TYPE_CHECKING:
    import numpy as np
else:  # (imported on first use: a cold exact query needs no numpy; see vecstore._lazy)
    from vecstore._lazy import numpy as np

#: Bytes of payload per block digest in an index file's footer.
BLOCK_BYTES = 1 << 16

#: The footer kinds of the two derived files.
INDEX_FILE_KIND = "faiss-flat-ip"
ROWS_FILE_KIND = "raw-rows-f32"

_MAGIC = b"VECSTORE"
_END = b"VSFOOTER"
_VERSION = 1
# magic, version, kind, set uid, content checksum, payload size, block size, blocks,
# footer digest (of the block digests and every trailer field before it), end magic
_TRAILER = struct.Struct("<8sI16s32s32sQIQQ8s")
TRAILER_BYTES = _TRAILER.size


def chunk_digest(data: bytes | memoryview, set_uid: str, kind: str, number: int) -> str:
    """The checksum of chunk ``number`` of ``kind`` ("vectors" or "words") of a set: XXH3-64
    of its bytes, seeded by where it belongs, as 16 hex digits."""
    return f"{_chunk_digest(data, set_uid, kind, number):016x}"


def _chunk_digest(data: bytes | memoryview, set_uid: str, kind: str, number: int) -> int:
    seed = xxhash.xxh3_64_intdigest(f"vecstore {set_uid} {kind} {number}".encode())
    return xxhash.xxh3_64_intdigest(data, seed=seed)


def content_checksum(dim: int, count: int, chunk_digests: Iterable[tuple[str, str]]) -> str:
    """A set's content checksum from its (vector digest, word digest) per chunk, in order."""
    h = xxhash.xxh3_128()
    h.update(b"vecstore set content v1\0" + struct.pack("<IQ", dim, count))
    for vectors, words in chunk_digests:
        h.update(bytes.fromhex(vectors) + bytes.fromhex(words))
    return h.hexdigest()


def subword_checksum(set_uid: str, dim: int, settings: tuple[int, int, int], chunk_digests: Iterable[str]) -> str:
    """A subword model's checksum: its set, width, (minn, maxn, bucket) and every n-gram
    chunk's digest in order (so a chunk changed with its digest, or a setting edited, is
    refused as a set's content checksum refuses its chunks)."""
    h = xxhash.xxh3_128()
    h.update(f"vecstore subwords v1\0{set_uid}\0".encode() + struct.pack("<I3q", dim, *settings))
    for digest in chunk_digests:
        h.update(bytes.fromhex(digest))
    return h.hexdigest()


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values (``np.unique`` without its import of ``numpy.ma``: 35 ms
    of a cold query)."""
    ordered = np.sort(values, kind="stable")
    if ordered.size < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


class DerivedFileError(Exception):
    """A derived file does not belong to the set, or failed its checksum (internal: the
    caller rebuilds the file, or reports it in ``check``)."""


@dataclass(frozen=True)
class Layout:
    """How a derived file of one kind is cut into blocks, and how a block is digested."""

    kind: str
    block_bytes: int
    digest: Callable[[memoryview, int], int]  # (block bytes, block number) -> digest


def index_layout() -> Layout:
    return Layout(INDEX_FILE_KIND, BLOCK_BYTES, lambda data, _number: xxhash.xxh3_64_intdigest(data))


def rows_layout(set_uid: str, rows_per_chunk: int, dim: int) -> Layout:
    """The raw rows: one block per vector chunk, digested as the chunk is in the database."""
    return Layout(ROWS_FILE_KIND, rows_per_chunk * dim * 4,
                  lambda data, number: _chunk_digest(data, set_uid, "vectors", number))


@dataclass(frozen=True)
class Footer:
    kind: str
    set_uid: str
    content_checksum: str
    payload_size: int
    block_bytes: int
    digests: tuple[int, ...]  # XXH3-64, one per block


def append_footer(path: Path, layout: Layout, set_uid: str, checksum: str) -> None:
    """Hash the file at ``path`` block by block (it is the payload) and append its footer."""
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        step = layout.block_bytes
        digests = np.empty(-(-size // step), dtype="<u8")
        if size:
            with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mapped, memoryview(mapped) as view:
                for i, start in enumerate(range(0, size, step)):
                    digests[i] = layout.digest(view[start:start + step], i)
        f.seek(size)
        f.write(footer_bytes(layout, set_uid, checksum, size, digests))


def footer_bytes(layout: Layout, set_uid: str, checksum: str, payload_size: int, digests: np.ndarray) -> bytes:
    body = digests.astype("<u8").tobytes()
    fields = (_MAGIC, _VERSION, layout.kind.encode().ljust(16, b"\0"), set_uid.encode(), checksum.encode(),
              payload_size, layout.block_bytes, len(digests))
    head = _TRAILER.pack(*fields, 0, _END)[:-16]
    own = xxhash.xxh3_64_intdigest(body + head)
    return body + _TRAILER.pack(*fields, own, _END)


def footer_kind(path: Path) -> str | None:
    """The file kind a derived file's footer names (None: no footer to read)."""
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size < _TRAILER.size:
                return None
            f.seek(size - _TRAILER.size)
            fields = _TRAILER.unpack(f.read(_TRAILER.size))
    except OSError:
        return None
    return fields[2].rstrip(b"\0").decode("ascii", "replace") if fields[0] == _MAGIC else None


def read_footer(f, name: str, layout: Layout, set_uid: str, checksum: str,
                payload_size: int | None = None) -> Footer:
    """The footer of the open file ``f`` (named ``name`` in messages), checked against the
    set it must belong to (cheap: the trailer and the block digests, not the payload).
    Raises :class:`DerivedFileError`."""
    try:
        size = os.fstat(f.fileno()).st_size
        if size < _TRAILER.size:
            raise DerivedFileError(f"{name}: too short for a footer ({size} bytes)")
        f.seek(size - _TRAILER.size)
        trailer = f.read(_TRAILER.size)
        (magic, version, file_kind, uid, content, payload, block, blocks, own, end) = _TRAILER.unpack(trailer)
        if magic != _MAGIC or end != _END:
            raise DerivedFileError(f"{name}: no vecstore footer (not written by vecstore, or truncated)")
        if version != _VERSION or block < 1:
            raise DerivedFileError(f"{name}: footer version {version} not understood")
        if payload + blocks * 8 + _TRAILER.size != size or blocks != -(-payload // block):
            raise DerivedFileError(f"{name}: its size does not match its footer (truncated or extended)")
        f.seek(payload)
        body = f.read(blocks * 8)
    except OSError as exc:
        raise DerivedFileError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if xxhash.xxh3_64_intdigest(body + trailer[:-16]) != own:
        raise DerivedFileError(f"{name}: its footer fails its checksum")
    found = Footer(file_kind.rstrip(b"\0").decode("ascii", "replace"), uid.decode("ascii", "replace"),
                   content.decode("ascii", "replace"), payload, block, struct.unpack(f"<{blocks}Q", body))
    if found.kind != layout.kind:
        raise DerivedFileError(f"{name}: is a {found.kind!r} file, not {layout.kind!r}")
    if found.set_uid != set_uid:
        raise DerivedFileError(f"{name}: belongs to another set (uid {found.set_uid})")
    if found.content_checksum != checksum:
        raise DerivedFileError(f"{name}: was built from other content than the set holds (stale)")
    if block != layout.block_bytes:
        raise DerivedFileError(f"{name}: has blocks of {block} bytes, not {layout.block_bytes}")
    if payload_size is not None and payload != payload_size:
        raise DerivedFileError(f"{name}: holds {payload} bytes where the set needs {payload_size}")
    return found


class VerifiedFile:
    """A derived file mapped read-only, its footer checked; blocks are verified against
    their digests the first time they are read (and remembered as verified)."""

    def __init__(self, path: Path, layout: Layout, set_uid: str, checksum: str, payload_size: int | None = None,
                 expected_digests: Sequence[int] | None = None) -> None:
        self.path = path
        self.layout = layout
        self._map: mmap.mmap | None = None
        self.payload = memoryview(b"")
        try:
            f = open_regular(path)  # one descriptor for the footer and the mapping; never a FIFO
        except OSError as exc:
            raise DerivedFileError(f"{path.name}: cannot read ({exc.strerror or exc})") from None
        with f:
            self.footer = read_footer(f, path.name, layout, set_uid, checksum, payload_size)
            if expected_digests is not None and self.footer.digests != tuple(expected_digests):
                raise DerivedFileError(f"{path.name}: its blocks are not the set's stored chunks")
            size = self.footer.payload_size
            if size:
                try:
                    self._map = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
                except (OSError, ValueError) as exc:
                    raise DerivedFileError(f"{path.name}: cannot map ({exc})") from None
                self.payload = memoryview(self._map)
        self._verified = bytearray(len(self.footer.digests))  # (1: the block was checked)
        self._unchecked = len(self.footer.digests)  # (0: every block checked, nothing left to look up)
        self._table: np.ndarray | None = None

    def close(self) -> None:
        self._table = None
        if self._map is not None:
            try:
                self.payload.release()
                self._map.close()
            except BufferError:  # (an array still reads the mapping: it goes when that array does)
                pass
            self._map = None

    def array(self, dim: int) -> np.ndarray:
        """The whole payload as read-only float32 rows of ``dim``, every block verified
        first (raises :class:`DerivedFileError`): no copy, the mapping itself."""
        self.verify()
        count = self.footer.payload_size // (dim * 4)
        return np.frombuffer(self.payload, dtype="<f4", count=count * dim).reshape(count, dim)

    def verified_payload(self) -> memoryview:
        """The whole payload, every block verified first: :meth:`array` without numpy."""
        self.verify()
        return self.payload

    def verify(self, start: int = 0, end: int | None = None) -> None:
        """Check the blocks covering payload bytes ``[start, end)``; raise
        :class:`DerivedFileError` naming the first bad block."""
        size = self.footer.payload_size
        end = size if end is None else min(end, size)
        if end <= start:
            return
        step = self.footer.block_bytes
        self.verify_blocks(range(start // step, (end - 1) // step + 1))

    def verify_blocks(self, blocks: Iterable[int] | np.ndarray) -> None:
        """Check each of ``blocks`` not checked before against its digest (plain Python:
        a file has thousands of blocks at most, each costing a digest)."""
        digests, view, step, verified = self.footer.digests, self.payload, self.footer.block_bytes, self._verified
        for block in blocks.tolist() if hasattr(blocks, "tolist") else blocks:
            if verified[block]:
                continue
            start = block * step
            if self.layout.digest(view[start:start + step], block) != digests[block]:
                raise DerivedFileError(f"{self.path.name}: block {block} (bytes {start:,}-"
                                       f"{min(start + step, self.footer.payload_size):,}) fails its checksum")
            verified[block] = 1
            self._unchecked -= 1

    @property
    def all_verified(self) -> bool:
        """Whether every block has been checked (nothing left to verify before a read)."""
        return not self._unchecked

    def verify_rows(self, rows: Iterable[int], dim: int) -> None:
        """Verify the blocks holding a few ``dim``-wide rows (from byte 0), without numpy."""
        if not self._unchecked:  # (a warm handle: every block checked already)
            return
        width, step, verified = dim * 4, self.footer.block_bytes, self._verified
        for row in rows:
            first, last = row * width // step, (row * width + width - 1) // step
            if not (verified[first] and verified[last]):
                self.verify_blocks(range(first, last + 1))

    def table(self, rows: Sequence[int] | np.ndarray, dim: int) -> np.ndarray:
        """The payload as float32 rows of ``dim`` from byte 0 (the mapping itself, no copy),
        after verifying the blocks that hold ``rows``: only those rows may be read from it."""
        width, step = dim * 4, self.footer.block_bytes
        if self._unchecked and len(rows) <= 32:  # (a query's handful: a loop beats numpy's set-up)
            self.verify_rows([int(row) for row in rows], dim)
        elif self._unchecked:
            starts = np.asarray(rows, dtype=np.int64) * width
            self.verify_blocks(distinct(np.concatenate([starts // step, (starts + width - 1) // step])))
        if self._table is None or self._table.shape[1] != dim:
            count = self.footer.payload_size // width
            self._table = np.frombuffer(self.payload, dtype="<f4", count=count * dim).reshape(count, dim)
        return self._table

    def few_rows(self, rows: list[int], dim: int) -> np.ndarray:
        """Float32 rows ``rows`` (a few) of a payload of ``dim``-wide rows from byte 0, their
        blocks verified, as a new array: :meth:`rows` without its numpy set-up."""
        return self.table(rows, dim)[rows]

    def rows(self, rows: np.ndarray, dim: int, offset: int = 0) -> np.ndarray:
        """Float32 rows ``rows`` of a payload that holds ``dim``-wide rows from ``offset``,
        verified, as a new array."""
        width = dim * 4
        step = self.footer.block_bytes
        starts = offset + rows.astype(np.int64) * width
        self.verify_blocks(distinct(np.concatenate([starts // step, (starts + width - 1) // step])))
        count = (self.footer.payload_size - offset) // width
        table = np.frombuffer(self.payload, dtype="<f4", count=count * dim, offset=offset).reshape(count, dim)
        return np.array(table[rows], dtype=np.float32)
