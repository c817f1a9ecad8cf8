"""What any input may make vecstore allocate or print: every bound, in one place.

Each bound is far above what real data needs (the figures say by how much), so that a
broken or hostile input is refused early with a one-line message instead of taking
gigabytes of memory or printing megabytes of error.
"""

from __future__ import annotations

#: The longest line of a text embedding file (and the longest word of a binary one):
#: about a thousand times a real file's longest line (GloVe 840B: about 4 KB; even
#: 65,536 values of 14 characters fit). Pinned to the C parser's copy by a test.
MAX_LINE_BYTES = 4 << 20
#: The most dimensions a set may have (real embeddings have at most a few thousand).
MAX_DIM = 65_536
#: The largest vocabulary file read (about 20 million words; real ones hold thousands).
MAX_VOCABULARY_BYTES = 256 << 20
#: The largest benchmark file read by the evaluations (questions-words.txt is 600 KB).
MAX_BENCHMARK_BYTES = 256 << 20
#: The largest texts file ``vecstore matrix --texts`` fits a vocabulary on.
MAX_TEXTS_BYTES = 1 << 30
#: The most documents one input may hold (each costs a row of vectors: 10 million x 300
#: dimensions is 12 GB of float32).
MAX_DOCUMENTS = 10_000_000
#: The most labels a classifier may learn (each is a column of the head: real label sets
#: have at most a few thousand; more means the wrong column was named).
MAX_LABELS = 10_000
#: The most rows x labels of a multi-label training (a float32 target each): 1 GiB.
MAX_TARGET_CELLS = 1 << 28
#: The largest query vector file (a vector of 65,536 values is about 1 MB of text).
MAX_VECTOR_BYTES = 16 << 20
#: The most neighbours one query returns (a larger k is a listing, not a query).
MAX_K = 10_000
#: The most characters of one token, value or name a message quotes, and the most names
#: it lists (sets, zip members).
QUOTE_CHARS = 80
LIST_NAMES = 20
