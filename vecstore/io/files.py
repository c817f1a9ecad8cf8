"""Writing files safely: exclusive temp files, atomic publication, no surprise overwrites.

Every file vecstore writes (an export, a matrix, a vocabulary, a derived index file) is
first written to a temp file created exclusively in the destination folder
(``O_CREAT | O_EXCL | O_NOFOLLOW``: never through a symlink planted at its name, never
over another process's temp file) and locked while it is written. Only a complete file
is moved to its name. A killed writer's temp file carries its pid; the next writer to
that folder removes it once no process holds its lock and its process is gone
(:func:`reclaim_temp_files`).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from vecstore.errors import InputFileError, OutputExistsError, ProtectedPathError, printable_path, quoted

if TYPE_CHECKING:
    import numpy as np

try:
    import fcntl
except ImportError:  # not POSIX: temp files are reclaimed by their pid and age only
    fcntl = None  # type: ignore[assignment]

#: A temp file: ``<name>.<pid>.t<token>.<tmp|part>``, maybe behind a leading dot (the
#: ``t`` keeps an all-digit token from reading as a pid). Before schema 0003 vecstore
#: named them ``<uid>.<faiss|rows|json>.<pid>.tmp`` (derived files) and
#: ``.<name>.<pid>.part`` (outputs); a store upgraded from then may still hold some. The
#: old forms are matched that narrowly, so that no user's file is taken for one.
_TEMP = re.compile(r"^\.?(?P<name>.+)\.(?P<pid>\d+)\.t(?P<token>[0-9a-f]{8})\.(?:tmp|part)$")
_LEGACY_TEMP = (re.compile(r"^(?P<name>[0-9a-f]{32}\.(?:faiss|rows|json))\.(?P<pid>\d+)\.tmp$"),
                re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.part$"))
#: A temp file this old is reclaimed even if its pid now names a live process (reused).
STALE_AFTER = 24 * 3600.0


def temp_path(path: Path, suffix: str = "tmp", hidden: bool = False) -> Path:
    """A fresh temp name beside ``path``, naming this process."""
    dot = "." if hidden else ""
    return path.with_name(f"{dot}{path.name}.{os.getpid()}.t{os.urandom(4).hex()}.{suffix}")


def create_exclusive(path: Path) -> BinaryIO:
    """Create ``path`` for writing; fail if anything (even a dangling symlink) is there.

    The file is locked (``flock``) until closed, which tells :func:`reclaim_temp_files`
    that its writer is alive.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def _temp_match(name: str) -> re.Match | None:
    return _TEMP.match(name) or _LEGACY_TEMP[0].match(name) or _LEGACY_TEMP[1].match(name)


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is that of a vecstore temp file."""
    return _temp_match(name) is not None


def reclaim_temp_files(folder: Path, names: Iterable[str] | None = None, *, dry_run: bool = False) -> list[Path]:
    """Remove the temp files in ``folder`` left by writers that died (killed, crashed).

    A temp file is reclaimed when no process holds its lock and its pid names no live
    process (or it is older than :data:`STALE_AFTER`, the pid having been reused).
    ``names`` restricts it to the temp files of those final names. Returns what it
    removed (with ``dry_run``, what it would remove).
    """
    wanted = None if names is None else set(names)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _temp_match(entry.name)
        if match is None or (wanted is not None and match["name"] not in wanted):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = time.time() - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if _writer_alive(int(match["pid"])) and age < STALE_AFTER:
            continue
        if not _lock_free(Path(entry.path)):
            continue
        if dry_run:
            removed.append(Path(entry.path))
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # alive under another user (or unknowable): leave it
    return True


def _lock_free(path: Path) -> bool:
    if fcntl is None:
        return True
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def special_file_kind(mode: int) -> str | None:
    """What a non-regular file is ("a character device", ...), or None for a regular file."""
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


def open_regular(path: Path):
    """Open ``path`` for reading only if it is a regular file: never waiting on a FIFO,
    never through a symlink planted at a derived file's name. Raises OSError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{special_file_kind(os.fstat(fd).st_mode)}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_input(path: Path, what: str) -> BinaryIO:
    """Open a file the user gave, for reading. A device, FIFO, socket or folder is refused
    by what it is ("is a named pipe (FIFO), not ``what``") before it is opened: opening a
    FIFO would wait for a writer, reading /dev/zero would never end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputFileError(path, "no such file" if not os.path.islink(path) else
                             "a symbolic link to a file that does not exist") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from None
    kind = special_file_kind(mode)
    if kind is not None:
        raise InputFileError(path, f"is {kind}, not {what}")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from None


def read_whole(path: Path, limit: int, what: str) -> bytes:
    """A small input file's bytes (a vocabulary, texts, a vector): refused by what it is
    when it is not a regular file, and when larger than ``limit`` bytes."""
    with open_input(path, f"a {what} file") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise InputFileError(path, f"is {size:,} bytes; a {what} file may hold at most {limit:,}")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:  # it grew meanwhile
        raise InputFileError(path, f"a {what} file may hold at most {limit:,} bytes")
    return data


class ProtectedFiles:
    """The files only the store itself may write: its database (with its WAL, SHM and
    journal) and its folder of derived files. Matched by resolved path and by inode,
    so a symlink or a hard link to them is caught too."""

    def __init__(self, files: Iterable[Path], folders: Iterable[Path]) -> None:
        self.files = [Path(os.path.realpath(p)) for p in files]
        self.folders = [Path(os.path.realpath(p)) for p in folders]

    def reason(self, path: Path) -> str | None:
        """Why ``path`` is protected, or None (any store's files are, not only this one's)."""
        real = Path(os.path.realpath(path))
        for folder in self.folders:
            if real == folder or folder in real.parents:
                return "inside the store's folder of derived files" if real != folder else \
                    "the store's folder of derived files"
        if real in self.files:
            return "one of the store's own files (its database)"
        with contextlib.suppress(OSError):
            target = os.stat(path)
            for own in self.files:
                with contextlib.suppress(OSError):
                    mine = os.stat(own)
                    if (mine.st_dev, mine.st_ino) == (target.st_dev, target.st_ino):
                        return "a link to the store's database"
        return _any_store_file(real)

    def check(self, path: Path) -> None:
        reason = self.reason(path)
        if reason is not None:
            raise ProtectedPathError(path, reason)


def _any_store_file(real: Path) -> str | None:
    """Whether ``real`` (a resolved path) is a SQLite database, one of its companion files,
    or inside a store's folder of derived files, whichever store it is."""
    if _is_sqlite(real):
        return "a SQLite database (a store's, perhaps)"
    for suffix in ("-wal", "-shm", "-journal"):
        if real.name.endswith(suffix) and _is_sqlite(real.with_name(real.name.removesuffix(suffix))):
            return "a companion file of a SQLite database"
    for folder in (real.parent, *real.parents):
        if folder.name.endswith(".indexes") and _is_sqlite(folder.with_name(folder.name.removesuffix(".indexes"))):
            return "inside a store's folder of derived files"
    return None


def _is_sqlite(path: Path) -> bool:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # (never open a FIFO or a device to look)
            return False
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


NOTHING_PROTECTED = ProtectedFiles((), ())


class AtomicOutput:
    """Write ``path`` through an exclusive temp file beside it; publish it only when complete.

    Without ``overwrite`` an existing ``path`` is refused before anything is written, and
    the publication itself never replaces a file that appeared meanwhile (``link`` fails
    if the name is taken). ``.gz`` and ``.bz2`` names are compressed. The store's own
    files (``protected``) are refused even with ``overwrite``.
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False,
                 protected: ProtectedFiles = NOTHING_PROTECTED, compress: bool = True) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.compress = compress
        check_output(self.path, overwrite=overwrite, protected=protected)
        self.tmp = temp_path(self.path, "part", hidden=True)

    def __enter__(self) -> BinaryIO:
        reclaim_temp_files(self.path.parent, [self.path.name])
        try:
            raw = create_exclusive(self.tmp)
        except OSError as exc:
            raise InputFileError(self.path, f"cannot write: {exc.strerror or exc}") from None
        self.raw = raw
        self.file: BinaryIO = raw
        if self.compress and self.path.suffix == ".gz":
            import gzip

            self.file = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6)  # type: ignore[assignment]
        elif self.compress and self.path.suffix == ".bz2":
            import bz2

            self.file = bz2.BZ2File(raw, mode="wb")  # type: ignore[assignment]
        return self.file

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: object) -> None:
        try:
            if self.file is not self.raw:
                self.file.close()
            self.raw.flush()
            os.fsync(self.raw.fileno())
            self.raw.close()
        except OSError as error:  # a full disk, a file size limit
            self.tmp.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.raw.close()
            if exc is None:
                raise InputFileError(self.path, f"cannot write: {error.strerror or error}") from None
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        if exc is not None:
            self.tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):  # the writing itself failed: one line, the file named
                raise InputFileError(self.path, f"cannot write: {exc.strerror or exc}") from None
            return
        try:
            self._publish()
        except OSError as exc:
            self.tmp.unlink(missing_ok=True)
            if isinstance(exc, FileExistsError):
                raise OutputExistsError(self.path) from None
            raise InputFileError(self.path, f"cannot write: {exc.strerror or exc}") from None

    def _publish(self) -> None:
        if self.overwrite:
            os.replace(self.tmp, self.path)
            return
        try:
            os.link(self.tmp, self.path)  # fails if the name was taken meanwhile: nothing is overwritten
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: the check before writing must do
            if os.path.lexists(self.path):
                raise FileExistsError(self.path) from None
            os.replace(self.tmp, self.path)
            return
        os.unlink(self.tmp)


def check_output_folder(folder: Path, marker: str, what: str, *, overwrite: bool,
                        protected: ProtectedFiles = NOTHING_PROTECTED, signature: bytes = b"",
                        expected: frozenset[str] | None = None) -> None:
    """Refuse to write the folder ``folder`` (a ``what``, known by its file ``marker``, which
    holds ``signature`` in its first 64 KiB) over a file or a symbolic link, over a folder
    that is not a ``what`` (even with ``overwrite``: ``--out .`` must not empty the working
    directory, nor a project whose own ``labels.json`` looks like a marker), over a
    ``what`` holding entries other than ``expected`` (they would be deleted with it), or
    over a ``what`` without ``overwrite``."""
    protected.check(folder)
    if folder.is_symlink():
        raise InputFileError(folder, f"is a symbolic link; give the {what}'s own folder")
    if os.path.lexists(folder) and not folder.is_dir():
        raise InputFileError(folder, f"is a file; a {what} is a folder")
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    if not (folder / marker).is_file() or signature not in _head(folder / marker):
        raise InputFileError(folder, f"is a folder that is not a {what} (it has no {marker} vecstore wrote): it is "
                             "never replaced")
    others = sorted(entry.name for entry in folder.iterdir() if expected is not None and entry.name not in expected)
    if others:
        raise InputFileError(folder, f"holds {quoted(others[0])}, which vecstore did not write there: a {what} "
                             "is replaced whole, so it is never replaced with other files in it")
    if not overwrite:
        raise OutputExistsError(folder)


def write_folder(folder: Path, fill: Callable[[Path], None], recheck: Callable[[], None]) -> Path:
    """Write a folder whole or not at all: ``fill`` writes its files into a temp folder
    beside ``folder``, which is then renamed into place. A folder there already is
    ``recheck``-ed (it may have changed since the caller's check), moved aside, and
    deleted only once the new one is in place; if that rename fails it is put back."""
    import shutil
    import tempfile  # (here: a cold query imports this module and needs neither)

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        fill(tmp)
        if folder.is_dir():
            recheck()
            old = folder.with_name(tmp.name.removesuffix(".part") + ".old")
            folder.rename(old)
            try:
                tmp.rename(folder)
            except BaseException:
                old.rename(folder)  # (the previous one back: never neither)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _head(path: Path, size: int = 1 << 16) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(size)
    except OSError:
        return b""


def check_output(path: Path, *, overwrite: bool, protected: ProtectedFiles = NOTHING_PROTECTED) -> None:
    """Refuse to write ``path`` where it is protected, not a regular file (a folder, a
    device, a FIFO: replacing one with a file would be a surprise), or exists without
    ``overwrite``."""
    protected.check(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and special_file_kind(mode) is not None:
        raise InputFileError(path, f"is {special_file_kind(mode)}; vecstore writes regular files (give a file name)")
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(path)
    if not path.parent.is_dir():
        raise InputFileError(path, f"the folder {printable_path(path.parent)} does not exist")


def read_npy_matrix(path: str | os.PathLike[str]) -> np.ndarray:
    """A 2-D float matrix from a ``.npy`` file, mapped read-only rather than read (its
    size costs no memory): never unpickled; anything else is one line naming the file."""
    import numpy as np

    path = Path(path)
    with open_input(path, "a .npy file") as f:  # (the same refusals as every input: a FIFO, a folder...)
        if f.read(6) != b"\x93NUMPY":
            raise InputFileError(path, "not a .npy file (numpy.save writes one)")
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(path, f"not a .npy array file ({exc})") from None
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2 or matrix.dtype.kind != "f":
        shape = getattr(matrix, "shape", None)
        raise InputFileError(path, f"holds a {getattr(matrix, 'dtype', '?')} array of shape {shape}; "
                                   "expected a 2-D float array, one vector a row")
    step = max(1, (64 << 20) // max(1, matrix.shape[1] * matrix.dtype.itemsize))  # (checked 64 MB at a time)
    for start in range(0, len(matrix), step):
        part = np.asarray(matrix[start:start + step])
        with np.errstate(over="ignore"):
            bad = ~np.isfinite(part.astype(np.float32, copy=False)).all(axis=1)
        if bad.any():
            row = start + int(np.flatnonzero(bad)[0])
            what = "a value beyond float32's range" if np.isfinite(part[row - start]).all() else "a value that is " \
                "not a finite number"
            raise InputFileError(path, f"row {row:,} holds {what}")
    return matrix
