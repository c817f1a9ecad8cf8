"""Keeping native libraries' own output off the terminal.

TensorFlow's C++ start-up (CUDA probes, CPU features, absl's notices) and FAISS's
training warnings are written by native code straight to file descriptor 2, past
Python's ``sys.stderr``. :func:`native_stderr_captured` sends that descriptor to a temp
file while a block runs and hands back what was written, so vecstore can say it in its
own words (or drop it); Python's ``sys.stderr`` keeps the real terminal meanwhile, so
progress bars and warnings of vecstore's own still show.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Captured:
    """What native code wrote to stderr inside the block (read when the block ends)."""

    text: str = ""


@contextlib.contextmanager
def native_stderr_captured() -> Iterator[Captured]:
    """File descriptor 2 redirected to a temp file for the block; ``sys.stderr`` still
    writes to where descriptor 2 went before."""
    captured = Captured()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # (no descriptor 2 to redirect: nothing to keep quiet)
        yield captured
        return
    python_stderr = sys.stderr
    terminal = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb", buffering=0), encoding="utf-8",
                                errors="backslashreplace", line_buffering=True, write_through=True)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        if getattr(python_stderr, "fileno", None) is not None and _is_fd2(python_stderr):
            sys.stderr = terminal
        try:
            yield captured
        finally:
            with contextlib.suppress(ValueError, OSError):
                sys.stderr.flush()
            sys.stderr = python_stderr
            os.dup2(saved, 2)
            os.close(saved)
            terminal.close()
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")


def _is_fd2(stream: object) -> bool:
    """Whether ``stream`` writes to descriptor 2 (not a test runner's capture)."""
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False


@contextlib.contextmanager
def tensorflow_quiet() -> Iterator[None]:
    """TensorFlow started without its native log lines, unless the caller asked for them
    by setting ``TF_CPP_MIN_LOG_LEVEL`` (TensorFlow's own switch: ``0`` shows them all).
    Errors are kept: its C++ logging keeps level 3 (fatal) only; what its start-up wrote
    anyway is dropped when the block succeeds, and shown when it fails."""
    import sqlite3  # noqa: F401  (first: TensorFlow brings a SQLite without FTS5, which would serve sqlite3 after it)

    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        yield
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    captured = Captured()
    try:
        with native_stderr_captured() as captured:
            yield
    except BaseException:
        if captured.text.strip():
            sys.stderr.write(captured.text)
        raise
