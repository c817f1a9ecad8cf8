"""Printing: JSON, notes on stderr, tables of hits, and progress bars.

Words, names and texts come from files the user did not write: everything printed for a
terminal goes through :func:`vecstore.errors.printable`, so a word cannot send escape
sequences; JSON keeps them as they are (escaped by JSON itself).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import typer

from vecstore.errors import printable


def print_json(value: object) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def neighbours_json_lines(answers: Any, first: int) -> list[str]:
    """The JSON of a batch's answers, one item a line, exactly as ``json.dumps`` of
    :meth:`~vecstore.query.BatchNeighbours.to_list`'s items writes them (``"vector": i``
    counted from ``first``), written by hand: a 10,000-word batch spends 0.2 s in the
    generic encoder, against a few ms here. An item with a score JSON cannot write as a
    number goes through ``json.dumps``."""
    quote = json.encoder.encode_basestring  # (json's own, in C, as ensure_ascii=False uses)
    lines = []
    for i, (query, hits) in enumerate(zip(answers.queries, answers.results, strict=True)):
        head = f'{{"vector": {first + i}' if answers.vectors else f'{{"word": {quote(query)}'
        if hits is None:
            lines.append(f'{head}, "neighbours": null}}')
        elif all(math.isfinite(h.score) for h in hits):
            lines.append(f'{head}, "neighbours": [' + ", ".join(
                [f'{{"word": {quote(h.word)}, "score": {float.__repr__(h.score)}}}' for h in hits]) + "]}")
        else:
            item = {"vector": first + i} if answers.vectors else {"word": query}
            lines.append(json.dumps({**item, "neighbours": [h.to_dict() for h in hits]}, ensure_ascii=False))
    return lines


def note(text: str) -> None:
    """A remark on stderr (stdout keeps the answer, or the JSON)."""
    typer.echo(f"note: {text}", err=True)


def on_terminal(*quiet: bool) -> bool:
    """Whether progress may be drawn: stderr is a terminal and no flag asked for quiet."""
    return not any(quiet) and sys.stderr.isatty()


def print_neighbours(hits: list[Any], as_json: bool) -> None:
    """Words with their scores, aligned; or a JSON list of ``{"word", "score"}``."""
    if as_json:
        print_json([h.to_dict() for h in hits])
        return
    words = [printable(h.word) for h in hits]
    width = max(map(len, words), default=0)
    for word, h in zip(words, hits, strict=True):
        typer.echo(f"{word:<{width}}  {h.score:.4f}")


def print_fields(values: Mapping[str, object]) -> None:
    """``key: value`` lines of a record, each value as a person reads it (a mapping as
    ``k=v`` pairs, a list comma-separated, nothing for None), never a Python repr."""
    for key, value in values.items():
        typer.echo(f"{key}: {shown(value)}")


def shown(value: object) -> str:
    """A value of a record for a terminal: see :func:`print_fields`."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={shown(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(shown(v) for v in value) or "-"
    if isinstance(value, int):
        return f"{value:,}"
    return printable(str(value))


class Bar:
    """A progress bar's handle: call it with ``(done, total)`` (and ``rows=`` for bytes);
    :meth:`phase` names a long job's next step."""

    def __init__(self, progress: Any, task: Any) -> None:
        self._progress, self._task = progress, task

    def __call__(self, done: int, total: int | None, rows: int = 0) -> None:
        self._progress.update(self._task, completed=done, total=total, rows=rows)

    def phase(self, step: str) -> None:
        """The next step of the job, its count kept where the last step left it (a build's
        rows stay added while it measures)."""
        self._progress.update(self._task, description=step)


@contextmanager
def progress_bar(enabled: bool, label: str = "importing", units: str = "bytes") -> Iterator[Bar | None]:
    """A progress bar on stderr when ``enabled`` (None when not): bytes (MB/s, rows, ETA)
    or items counted in ``units``."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    if units == "bytes":
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TextColumn("{task.fields[rows]:,} rows"), TimeRemainingColumn())
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(units),
                   TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield Bar(progress, progress.add_task(label, total=None, rows=0))
