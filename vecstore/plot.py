"""Pictures of a neighbourhood: words (and, optionally, their neighbours) projected to 2-D.

The projection is PCA (the two leading right singular vectors of the centred unit
vectors), drawn with matplotlib (the optional ``plot`` extra, imported only here and
only when a picture is drawn, without pyplot: a caller's backend is left alone). Each given word is
a labelled point in its own colour; its neighbours share the colour, smaller. Labels are
placed so that none covers another, by adjustText (Flyamer's port of ggrepel's repulsion).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vecstore.cosine import normalized
from vecstore.errors import InvalidArgumentError, MissingDependencyError
from vecstore.io.files import NOTHING_PROTECTED, AtomicOutput, ProtectedFiles

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from vecstore.collection import Collection
    from vecstore.query import EmbeddingSet

PICTURE_FORMATS = ("png", "svg", "pdf")
#: The most points one picture labels (beyond it labels overlap into a grey blot).
MAX_POINTS = 2_000


@dataclass(frozen=True)
class Projection:
    """Points in 2-D with their labels, and which given word each belongs to."""

    labels: list[str]
    points: np.ndarray  # (n, 2) float64
    groups: list[int]  # index into the given words
    seeds: list[bool]  # a given word (True) or one of its neighbours
    explained: tuple[float, float]  # share of the variance along each axis


def project(vectors: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """PCA to 2-D of the rows' unit vectors: the points and the variance each axis explains."""
    unit = normalized(np.asarray(vectors, dtype=np.float32)).astype(np.float64)
    centred = unit - unit.mean(axis=0)
    if len(centred) < 2:
        return np.zeros((len(centred), 2)), (0.0, 0.0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2] if len(vt) >= 2 else np.vstack([vt, np.zeros_like(vt)])
    total = float((singular**2).sum()) or 1.0
    shares = [float(s**2) / total for s in singular[:2]] + [0.0, 0.0]
    return centred @ axes.T, (shares[0], shares[1])


def word_projection(embedding_set: EmbeddingSet, words: Sequence[str], *, neighbours: int = 0) -> Projection:
    """The words (each looked up as the set holds it) and ``neighbours`` nearest words of
    each, projected together; a given word is always drawn as given, and a neighbour of
    two words once (with the first)."""
    if not words:
        raise InvalidArgumentError("give at least one word to draw")
    if neighbours < 0 or len(words) * (1 + neighbours) > MAX_POINTS:
        raise InvalidArgumentError(f"at most {MAX_POINTS:,} points: {len(words)} words with {neighbours} "
                                   "neighbours each is too many", subject="neighbours")
    for word in words:
        embedding_set.row(word)  # (an unknown word is an error with suggestions, before any drawing)
    labels = list(dict.fromkeys(words))  # the given words first: each drawn large, in its own colour
    groups = [words.index(w) for w in labels]
    seeds = [True] * len(labels)
    seen = set(labels)
    for group, word in enumerate(words):
        for hit in embedding_set.neighbours(word, k=neighbours) if neighbours else []:
            if hit.word not in seen:
                seen.add(hit.word)
                labels.append(hit.word)
                groups.append(group)
                seeds.append(False)
    points, explained = project(embedding_set.vectors_of_rows(embedding_set.rows_of(labels)))
    return Projection(labels, points, groups, seeds, explained)


def document_projection(collection: Collection, ids: Sequence[str] | None = None, *,
                        limit: int = 200) -> Projection:
    """The documents ``ids`` of a collection (default: its first ``limit``), projected,
    labelled by id."""
    vectors = collection.vectors()
    chosen = list(ids) if ids else vectors.words[:limit]
    if not chosen:
        raise InvalidArgumentError(f"collection {collection.name!r} has no documents to draw")
    if len(chosen) > MAX_POINTS:
        raise InvalidArgumentError(f"at most {MAX_POINTS:,} points, not {len(chosen):,}", subject="limit")
    rows = [vectors.row(doc_id) for doc_id in chosen]  # (an unknown id is an error naming close ones)
    points, explained = project(vectors.vectors_of_rows(rows))
    return Projection(chosen, points, [0] * len(chosen), [False] * len(chosen), explained)


def draw(projection: Projection, out: str | Path, *, title: str = "", overwrite: bool = False,
         protected: ProtectedFiles = NOTHING_PROTECTED, size: tuple[float, float] = (8.0, 6.0),
         dpi: int = 100) -> Path:
    """Draw ``projection`` to a PNG (or any format matplotlib knows by ``out``'s suffix)."""
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower() or "png"
    if fmt not in PICTURE_FORMATS:
        raise InvalidArgumentError(f"a picture is {', '.join('.' + f for f in PICTURE_FORMATS)}, not {out.suffix!r}")
    figure = render(projection, title=title, size=size, dpi=dpi)
    with AtomicOutput(out, overwrite=overwrite, protected=protected, compress=False) as f:
        figure.savefig(f, format=fmt)
    return out


def render(projection: Projection, *, title: str = "", size: tuple[float, float] = (8.0, 6.0),
           dpi: int = 100) -> Figure:
    """The picture of ``projection`` as a matplotlib figure: each point in its word's
    colour, its label placed beside it where no other label is (adjustText's nudging,
    with a leader line back to the point when the label had to move)."""
    try:
        import matplotlib
        from adjustText import adjust_text
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure  # (a Figure draws itself: no pyplot, the caller's backend untouched)
    except ImportError as exc:
        raise MissingDependencyError("pictures need matplotlib and adjustText: pip install 'vecstore[plot]'") from exc
    figure = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(figure)  # (labels are placed by their drawn size: a renderer measures them)
    axes = figure.add_subplot()
    colours = matplotlib.colormaps["tab10"]
    points = projection.points
    labels = []
    for i, label in enumerate(projection.labels):
        colour = colours(projection.groups[i] % 10)
        seed = projection.seeds[i]
        axes.scatter(points[i, 0], points[i, 1], s=60 if seed else 18, color=colour, zorder=3 if seed else 2)
        labels.append(axes.text(points[i, 0], points[i, 1], label, fontsize=11 if seed else 8, color=colour,
                                fontweight="bold" if seed else "normal", zorder=4))
    axes.set_xlabel(f"PC 1 ({100 * projection.explained[0]:.0f} % of the variance)")
    axes.set_ylabel(f"PC 2 ({100 * projection.explained[1]:.0f} % of the variance)")
    if title:
        axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.margins(0.12)  # (room for the labels of the outermost points, inside the frame)
    figure.tight_layout()
    if len(labels) > 1:
        adjust_text(labels, x=points[:, 0], y=points[:, 1], ax=axes, expand=(1.1, 1.25),
                    arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.5})
    return figure
