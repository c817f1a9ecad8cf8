"""How a layer made by vecstore names the set it was seeded from (no Keras import)."""

from __future__ import annotations

import re

#: Layers made by :func:`vecstore.keras.embedding_layer` are named so, which lets
#: :func:`vecstore.keras.import_keras` record the set a trained embedding came from.
LAYER_NAME_PREFIX = "vecstore_"

#: A layer name that names its parent set: the prefix, then the set's uid.
PARENT_IN_NAME = re.compile(rf"{LAYER_NAME_PREFIX}([0-9a-f]{{32}})")
