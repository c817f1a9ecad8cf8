"""Checksums that bind every stored byte and every derived file to a set's content.

- **Chunks.** Each vector chunk and word chunk in the database carries the XXH3-64
  digest of its bytes, checked whenever the chunk is read.
- **A set's content checksum** is XXH3-128 over its dimension, row count and the digests
  of its chunks in order (a Merkle root): it changes with any byte of any vector or word,
  and ``check`` recomputes it from the chunks alone.
- **Derived files** (a set's FAISS index, the raw copy of its rows) end with a footer, as
  Lucene ends each segment file with a checksum footer: the set's uid and content
  checksum, the payload's size, and the XXH3-64 digest of each 64 KiB block of the
  payload. Opening a file checks the footer (cheap: it catches a file swapped from
  another set, a stale or truncated one); reading verifies the blocks it touches, and
  ``check`` verifies them all.

XXH3 (the ``xxhash`` package) is a non-cryptographic hash at about 15 GB/s here, ten
times sha256: it detects corruption, it is not a defence against a forger (who could as
well rewrite the database).
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

#: Bytes of payload per block digest in a derived file's footer.
BLOCK_BYTES = 1 << 16

_MAGIC = b"VECSTORE"
_END = b"VSFOOTER"
_VERSION = 1
# magic, version, kind, set uid, content checksum, payload size, block size, blocks,
# footer digest (of the block digests and every trailer field before it), end magic
_TRAILER = struct.Struct("<8sI16s32s32sQIQQ8s")


def digest(data: bytes | memoryview) -> str:
    """The XXH3-64 digest of ``data``, 16 hex digits (a chunk's checksum)."""
    return xxhash.xxh3_64_hexdigest(data)


def content_checksum(dim: int, count: int, chunk_digests: Iterable[tuple[str, str]]) -> str:
    """A set's content checksum from its (vector digest, word digest) per chunk, in order."""
    h = xxhash.xxh3_128()
    h.update(b"vecstore set content v1\0" + struct.pack("<IQ", dim, count))
    for vectors, words in chunk_digests:
        h.update(bytes.fromhex(vectors) + bytes.fromhex(words))
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
class Footer:
    kind: str
    set_uid: str
    content_checksum: str
    payload_size: int
    digests: np.ndarray  # uint64, one per block

    @property
    def size(self) -> int:
        return self.digests.nbytes + _TRAILER.size


def append_footer(path: Path, kind: str, set_uid: str, checksum: str) -> None:
    """Hash the file at ``path`` block by block (it is the payload) and append its footer."""
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        digests = np.empty(-(-size // BLOCK_BYTES), dtype="<u8")
        if size:
            with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mapped, memoryview(mapped) as view:
                for i, start in enumerate(range(0, size, BLOCK_BYTES)):
                    digests[i] = xxhash.xxh3_64_intdigest(view[start:start + BLOCK_BYTES])
        f.seek(size)
        f.write(footer_bytes(kind, set_uid, checksum, size, digests))


def footer_bytes(kind: str, set_uid: str, checksum: str, payload_size: int, digests: np.ndarray) -> bytes:
    body = digests.astype("<u8").tobytes()
    fields = (_MAGIC, _VERSION, kind.encode().ljust(16, b"\0"), set_uid.encode(), checksum.encode(),
              payload_size, BLOCK_BYTES, len(digests))
    head = _TRAILER.pack(*fields, 0, _END)[:-16]
    own = xxhash.xxh3_64_intdigest(body + head)
    return body + _TRAILER.pack(*fields, own, _END)


def read_footer(path: Path, kind: str, set_uid: str, checksum: str, payload_size: int | None = None) -> Footer:
    """The footer of ``path``, checked against the set it must belong to (cheap: the
    trailer and the block digests, not the payload). Raises :class:`DerivedFileError`."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < _TRAILER.size:
                raise DerivedFileError(f"{path.name}: too short for a footer ({size} bytes)")
            f.seek(size - _TRAILER.size)
            trailer = f.read(_TRAILER.size)
            (magic, version, file_kind, uid, content, payload, block, blocks, own, end) = _TRAILER.unpack(trailer)
            if magic != _MAGIC or end != _END:
                raise DerivedFileError(f"{path.name}: no vecstore footer (not written by vecstore, or truncated)")
            if version != _VERSION or block != BLOCK_BYTES:
                raise DerivedFileError(f"{path.name}: footer version {version}, block {block} not understood")
            if payload + blocks * 8 + _TRAILER.size != size or blocks != -(-payload // BLOCK_BYTES):
                raise DerivedFileError(f"{path.name}: its size does not match its footer (truncated or extended)")
            f.seek(payload)
            body = f.read(blocks * 8)
    except OSError as exc:
        raise DerivedFileError(f"{path.name}: cannot read ({exc.strerror or exc})") from None
    if xxhash.xxh3_64_intdigest(body + trailer[:-16]) != own:
        raise DerivedFileError(f"{path.name}: its footer fails its checksum")
    found = Footer(file_kind.rstrip(b"\0").decode("ascii", "replace"), uid.decode("ascii", "replace"),
                   content.decode("ascii", "replace"), payload, np.frombuffer(body, dtype="<u8"))
    if found.kind != kind:
        raise DerivedFileError(f"{path.name}: is a {found.kind!r} file, not {kind!r}")
    if found.set_uid != set_uid:
        raise DerivedFileError(f"{path.name}: belongs to another set (uid {found.set_uid})")
    if found.content_checksum != checksum:
        raise DerivedFileError(f"{path.name}: was built from other content than the set holds (stale)")
    if payload_size is not None and payload != payload_size:
        raise DerivedFileError(f"{path.name}: holds {payload} bytes where the set needs {payload_size}")
    return found


class VerifiedFile:
    """A derived file mapped read-only, its footer checked; blocks are verified against
    their digests the first time they are read (and remembered as verified)."""

    def __init__(self, path: Path, kind: str, set_uid: str, checksum: str, payload_size: int | None = None) -> None:
        self.path = path
        self.footer = read_footer(path, kind, set_uid, checksum, payload_size)
        size = self.footer.payload_size
        self._verified = np.zeros(len(self.footer.digests), dtype=bool)
        if size == 0:
            self._map = None
            self.payload = memoryview(b"")
            return
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
        self.payload = memoryview(self._map)

    def close(self) -> None:
        if self._map is not None:
            self.payload.release()
            self._map.close()
            self._map = None

    def verify(self, start: int = 0, end: int | None = None) -> None:
        """Check the blocks covering payload bytes ``[start, end)``; raise
        :class:`DerivedFileError` naming the first bad block."""
        size = self.footer.payload_size
        end = size if end is None else min(end, size)
        if end <= start:
            return
        self.verify_blocks(np.arange(start // BLOCK_BYTES, (end - 1) // BLOCK_BYTES + 1))

    def verify_blocks(self, blocks: np.ndarray) -> None:
        todo = blocks[~self._verified[blocks]]
        digests, view = self.footer.digests, self.payload
        for block in todo.tolist():
            start = block * BLOCK_BYTES
            if xxhash.xxh3_64_intdigest(view[start:start + BLOCK_BYTES]) != int(digests[block]):
                raise DerivedFileError(f"{self.path.name}: block {block} (bytes {start:,}-"
                                       f"{min(start + BLOCK_BYTES, self.footer.payload_size):,}) fails its checksum")
        self._verified[todo] = True

    def rows(self, rows: np.ndarray, dim: int, offset: int = 0) -> np.ndarray:
        """Float32 rows ``rows`` of a payload that holds ``dim``-wide rows from ``offset``,
        verified, as a new array."""
        width = dim * 4
        starts = offset + rows.astype(np.int64) * width
        blocks = distinct(np.concatenate([starts // BLOCK_BYTES, (starts + width - 1) // BLOCK_BYTES]))
        self.verify_blocks(blocks)
        count = (self.footer.payload_size - offset) // width
        table = np.frombuffer(self.payload, dtype="<f4", count=count * dim, offset=offset).reshape(count, dim)
        return np.array(table[rows], dtype=np.float32)
