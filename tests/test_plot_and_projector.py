"""Pictures (vecstore plot) and TensorBoard Projector exports, on the real GloVe 6B 50d.
A picture is checked by its size and its pixels: each word's colour is drawn."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from typer.testing import CliRunner

from vecstore import InvalidArgumentError, UnknownWordError
from vecstore.cli.app import app
from vecstore.cosine import normalized
from vecstore.plot import MAX_POINTS, draw, project, word_projection

runner = CliRunner()
TAB10 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]  # matplotlib's first four colours


def test_the_projection_is_pca_of_the_unit_vectors() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(30, 8)).astype(np.float32)
    points, explained = project(vectors)
    unit = normalized(vectors).astype(np.float64)
    centred = unit - unit.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    assert np.allclose(np.abs(points), np.abs(expected), atol=1e-6)  # (each axis up to its sign)
    assert explained == pytest.approx(tuple(singular[:2] ** 2 / (singular**2).sum()))
    assert project(vectors[:1])[0].shape == (1, 2)


def test_words_and_their_neighbours_are_drawn_in_their_colours(glove, tmp_path: Path) -> None:
    projection = word_projection(glove, ["king", "queen", "paris", "frog"], neighbours=3)
    assert projection.labels[:4] == ["king", "queen", "paris", "frog"] and projection.seeds[:4] == [True] * 4
    assert len(projection.labels) == len(set(projection.labels)) <= 16 and not all(projection.seeds)
    assert "prince" in projection.labels and projection.groups[projection.labels.index("prince")] == 0
    out = draw(projection, tmp_path / "map.png", title="test")
    pixels = (matplotlib.image.imread(out)[:, :, :3] * 255).round().astype(int)
    assert pixels.shape == (600, 800, 3)  # 8 x 6 inches at 100 dpi
    assert (pixels.sum(axis=2) < 600).mean() > 0.005  # ink: points, labels, axes, not a blank page
    for colour in TAB10:  # every word's colour is on the page
        assert (np.abs(pixels - colour).sum(axis=2) < 30).sum() > 20, colour
    with pytest.raises(Exception, match="exists"):
        draw(projection, out)  # never overwritten unasked


def test_bad_requests_are_refused_before_drawing(glove, tmp_path: Path) -> None:
    with pytest.raises(UnknownWordError, match="kingg"):
        word_projection(glove, ["king", "kingg"])
    with pytest.raises(InvalidArgumentError, match=f"at most {MAX_POINTS:,} points"):
        word_projection(glove, ["king"] * 10, neighbours=MAX_POINTS)
    with pytest.raises(InvalidArgumentError, match="at least one word"):
        word_projection(glove, [])


def test_plot_command(glove_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.png"
    done = runner.invoke(app, ["--store", str(glove_store), "plot", "king", "queen", "--neighbours", "2",
                               "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert matplotlib.image.imread(out).shape[:2] == (600, 800)
    again = runner.invoke(app, ["--store", str(glove_store), "plot", "king", "--out", str(out)])
    assert again.exit_code == 1 and "--force" in again.output
    unknown = runner.invoke(app, ["--store", str(glove_store), "plot", "kingg", "--out", str(tmp_path / "x.png")])
    assert unknown.exit_code == 1 and "did you mean king" in unknown.output and not (tmp_path / "x.png").exists()


def test_projector_export_reads_back_exactly(glove_store: Path, glove, tmp_path: Path) -> None:
    out = tmp_path / "glove.tsv"
    done = runner.invoke(app, ["--store", str(glove_store), "export", "glove", str(out), "--format", "projector"])
    assert done.exit_code == 0, done.output
    assert "glove.metadata.tsv" in done.output
    words = (tmp_path / "glove.metadata.tsv").read_text(encoding="utf-8").split("\n")[:-1]
    assert words == glove.words
    vectors = np.loadtxt(out, dtype=np.float32, delimiter="\t", max_rows=5_000)
    assert np.array_equal(vectors, glove.matrix()[:5_000])
    assert sum(1 for _ in out.open()) == 400_000


@pytest.mark.parametrize("words", [["king", "queen", "man", "woman", "paris", "france"],
                                   ["king", "queen", "man", "woman", "prince", "elizabeth"]],
                         ids=["the README's six words", "royals and their neighbours"])
def test_no_label_covers_another(glove, words: list[str]) -> None:
    import itertools

    from vecstore.plot import render

    figure = render(word_projection(glove, words, neighbours=4), title="test")
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    boxes = {text.get_text(): text.get_window_extent(renderer) for text in axes.texts}
    assert len(boxes) == len(axes.texts) >= 12
    overlapping = [(a, b) for a, b in itertools.combinations(boxes, 2) if boxes[a].overlaps(boxes[b])]
    assert overlapping == []
    frame = axes.get_window_extent(renderer)
    assert all(frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
               for box in boxes.values())  # (and every label inside the plot)
