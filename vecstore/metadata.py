"""Document metadata, and the conditions a collection search filters documents by.

``docs add --meta-col`` keeps columns of each document as metadata: strings, checked by
:func:`check_metadata` against the bounds of :mod:`vecstore.io.documents`, each stored with
the number it reads as (:func:`metadata_number`) so that ``<`` and ``>`` compare numbers.
``docs search --where`` (and ``Collection.search(where=...)``) gives conditions in the
forms :func:`parse_condition` reads, the one parser of the library and the command line;
:class:`Condition` is what the store's SQL is built from (every value bound).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vecstore.errors import InvalidArgumentError, quoted
from vecstore.io.documents import MAX_METADATA_KEYS, metadata_problem

#: The most --where conditions of a search, and values of one ``in``.
MAX_CONDITIONS = 32
MAX_IN_VALUES = 1_000

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_CONDITION = re.compile(r"(?P<key>[^=!<>]*?)\s*(?P<op>!=|<=|>=|=|<|>)(?P<value>.*)", re.DOTALL)
_IN = re.compile(r"(?P<key>.*?)\s+in\s+(?P<values>.*)", re.DOTALL | re.IGNORECASE)
CONDITION_FORMS = "COL=VALUE, COL!=VALUE, COL in A,B,C, COL<N, COL>N, COL<=N or COL>=N"


def metadata_number(value: str) -> float | None:
    """A metadata value as the number the numeric conditions compare: a plain decimal
    (``2001``, ``-3.5``, ``1e3``) that is a finite float, else None."""
    if not _NUMBER.fullmatch(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Condition:
    """One condition on a document's metadata: ``key`` compared by ``op`` (``=``, ``!=``,
    ``in``: the text; ``<``, ``>``, ``<=``, ``>=``: the number) with ``values``. A document
    without the key meets no condition on it (``!=`` included)."""

    key: str
    op: str
    values: tuple[str, ...] | tuple[float, ...]

    def as_sql(self) -> tuple[str, str, tuple[object, ...]]:
        return self.key, self.op, self.values

    def __str__(self) -> str:
        if self.op == "in":
            return f"{self.key} in {','.join(map(str, self.values))}"
        return f"{self.key}{self.op}{self.values[0]}"


def parse_condition(text: str) -> Condition:
    """A condition written ``COL=VALUE``, ``COL!=VALUE``, ``COL in A,B,C`` (the values a
    CSV row: quote one holding a comma), ``COL<N``, ``COL>N``, ``COL<=N`` or ``COL>=N``;
    spaces around the column and the values are ignored. The one parser of the library
    and of ``docs search --where``."""
    def refused(why: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"{quoted(text)} is not a condition: {why}", subject="where")

    if not isinstance(text, str):
        raise InvalidArgumentError(f"{quoted(str(text))} is not a condition (a string)", subject="where")
    if len(text) > MAX_IN_VALUES * 64:
        raise refused(f"{len(text):,} characters")
    # "COL in A,B": the column before the first " in " (a column holds no operator character).
    matched = _CONDITION.fullmatch(text)
    inside = _IN.fullmatch(text)
    if inside is not None and not re.search(r"[=!<>]", inside["key"]):
        key = inside["key"].strip()
        try:
            values = [v.strip() for v in next(csv.reader([inside["values"]], skipinitialspace=True), [])]
        except csv.Error as exc:  # (a line break in the list)
            raise refused(f"its values do not read as one list ({exc})") from None
        if not values:
            raise refused("no values after 'in'")
        if len(values) > MAX_IN_VALUES:
            raise refused(f"{len(values):,} values; at most {MAX_IN_VALUES:,}")
        condition = Condition(key, "in", tuple(dict.fromkeys(values)))
    elif matched is not None:
        key, op, value = matched["key"].strip(), matched["op"], matched["value"].strip()
        if op in ("=", "!="):
            condition = Condition(key, op, (value,))
        else:
            number = metadata_number(value)
            if number is None:
                raise refused(f"{quoted(value)} is not a number ({op} compares numbers)")
            condition = Condition(key, op, (number,))
    else:
        raise refused(f"write {CONDITION_FORMS}")
    if not condition.key:
        raise refused("no column before the operator")
    for value in condition.values:
        problem = metadata_problem(condition.key, value if isinstance(value, str) else "0")
        if problem is not None:
            raise refused(problem)
    return condition


def parse_where(where: Sequence[str | Condition] | str | None) -> list[Condition]:
    """The conditions of ``where`` (strings parsed by :func:`parse_condition`, or
    :class:`Condition`), all of which a document must meet."""
    if where is None:
        return []
    if isinstance(where, str | Condition):
        where = [where]
    if len(where) > MAX_CONDITIONS:
        raise InvalidArgumentError(f"gives {len(where)} conditions; at most {MAX_CONDITIONS}", subject="where")
    return [w if isinstance(w, Condition) else parse_condition(w) for w in where]


def check_metadata(metadata: Sequence[Mapping[str, str]] | None, count: int) -> list[dict[str, str]] | None:
    """``metadata`` (one mapping a document, or None) checked: string keys and values
    within the bounds of :mod:`vecstore.io.documents`, at most
    :data:`~vecstore.io.documents.MAX_METADATA_KEYS` keys a document."""
    if metadata is None:
        return None
    if isinstance(metadata, Mapping) or len(metadata) != count:
        given = "a mapping" if isinstance(metadata, Mapping) else f"{len(metadata)} mappings"
        raise InvalidArgumentError(f"must be one mapping a document: {given} for {count} documents",
                                   subject="metadata")
    checked = []
    for i, values in enumerate(metadata):
        if not isinstance(values, Mapping):
            raise InvalidArgumentError(f"document {i + 1}: a {type(values).__name__}, not a mapping of keys to values",
                                       subject="metadata")
        if len(values) > MAX_METADATA_KEYS:
            raise InvalidArgumentError(f"document {i + 1}: {len(values)} keys, more than {MAX_METADATA_KEYS}",
                                       subject="metadata")
        for key, value in values.items():
            problem = metadata_problem(key, value)
            if problem is not None:
                raise InvalidArgumentError(f"document {i + 1}: {problem}", subject="metadata")
        checked.append(dict(values))
    return checked
