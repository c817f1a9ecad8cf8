"""Query vectors read from a file or stdin: what ``--vector FILE`` gives a search."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vecstore.errors import InputFileError
from vecstore.limits import MAX_VECTOR_BYTES


def read_vector(source: str | Path) -> list[float]:
    """One query vector from ``source`` (``"-"``: stdin): numbers separated by spaces, a
    JSON list, or the JSON object ``vecstore vector --json`` prints (``{"word", "vector"}``).
    At most :data:`~vecstore.limits.MAX_VECTOR_BYTES` are read."""
    from vecstore.io.files import read_whole

    label = "stdin" if source == "-" else str(source)
    limit = MAX_VECTOR_BYTES
    raw = sys.stdin.buffer.read(limit + 1) if source == "-" else read_whole(Path(source), limit, "vector")
    if len(raw) > limit:
        raise InputFileError(label, f"more than {limit:,} bytes: not one vector")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InputFileError(label, "not valid UTF-8") from None
    try:
        values = json.loads(text) if text[:1] in "[{" and text else [float(v) for v in text.split()]
    except (ValueError, RecursionError):
        raise InputFileError(label, "expected numbers separated by spaces, a JSON list, or a JSON object with "
                                    "a \"vector\" list (what the vector command prints as JSON)") from None
    if isinstance(values, dict):
        values = values.get("vector")
    if not isinstance(values, list) or not values or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise InputFileError(label, "expected a non-empty list of numbers")
    try:
        return [float(v) for v in values]
    except OverflowError:
        raise InputFileError(label, "a value is too large to be a float") from None
