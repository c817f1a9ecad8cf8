"""Vocabularies: word lists, TextVectorization, the legacy Tokenizer's JSON, and fitting one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vecstore import InputFileError, InvalidArgumentError
from vecstore.vocabulary import Vocabulary, tokenize

# The tutorial's ten documents (../shared/tutorial.md).
TUTORIAL_DOCS = ["Well done!", "Good work", "Great effort", "nice work", "Excellent!", "Weak", "Poor effort!",
                 "not good", "poor work", "Could have done better."]
TUTORIAL_WORDS = {"well", "done", "good", "work", "great", "effort", "nice", "excellent", "weak", "poor", "not",
                  "could", "have", "better"}

# Ties, capitals, punctuation inside and around words, several spaces and tabs.
CORPUS = ["The cat sat on the mat.", "THE DOG, the cat; and the bird!", "a b c d e f g",
          "it's  a\tdog-eat-dog world", "Über café — naïve 'quotes' \"double\"", "g f e d c b a a a"]


def test_a_word_list_is_index_per_line(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("the\ncat\nsat\n", encoding="utf-8")
    vocab = Vocabulary.read(path)
    assert vocab.tokens == ("the", "cat", "sat") and len(vocab) == 3
    assert vocab.padding is None and vocab.oov is None and vocab.kind == "word list"


def test_a_textvectorization_word_list_has_padding_and_oov(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"\xef\xbb\xbf\r\n[UNK]\r\nthe\r\ncat\r\n")  # BOM and CRLF, as Windows editors save
    vocab = Vocabulary.read(path)
    assert vocab.tokens == ("", "[UNK]", "the", "cat")
    assert (vocab.padding, vocab.oov, vocab.kind) == (0, 1, "TextVectorization")
    assert vocab.word_indexes() == [2, 3]


@pytest.mark.parametrize(("content", "line", "message"), [
    (b"the\ncat\nthe\n", 3, "'the' is also on line 1"),
    (b"the\n\ncat\n", 2, "empty token"),
    (b"the\ncat\xff\n", 2, "not valid UTF-8"),
])
def test_bad_word_lists_name_the_line(tmp_path: Path, content: bytes, line: int, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message) as caught:
        Vocabulary.read(path)
    assert caught.value.line == line and str(path) in str(caught.value)


def test_a_json_list_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(["", "[UNK]", "a", "b"]))
    assert Vocabulary.read(path).tokens == ("", "[UNK]", "a", "b")
    with pytest.raises(InputFileError, match="no such file"):
        Vocabulary.read(tmp_path / "nope.txt")


def test_tutorial_tokenizer_json_gives_the_tutorials_15_rows(tmp_path: Path) -> None:
    from keras_preprocessing.text import Tokenizer

    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(TUTORIAL_DOCS)
    path = tmp_path / "tokenizer.json"
    path.write_text(tokenizer.to_json())
    vocab = Vocabulary.read(path)
    assert len(vocab) == 15 and vocab.padding == 0 and vocab.oov is None and vocab.kind == "Tokenizer JSON"
    assert set(vocab.tokens[1:]) == TUTORIAL_WORDS
    for word, index in tokenizer.word_index.items():
        assert vocab.tokens[index] == word
    # Sequences the tokenizer makes index the same tokens
    for text, sequence in zip(TUTORIAL_DOCS, tokenizer.texts_to_sequences(TUTORIAL_DOCS), strict=True):
        assert [vocab.tokens[i] for i in sequence] == tokenize(text)


def test_tokenizer_num_words_and_oov_token(tmp_path: Path) -> None:
    from keras_preprocessing.text import Tokenizer

    tokenizer = Tokenizer(num_words=6, oov_token="<OOV>")
    tokenizer.fit_on_texts(CORPUS)
    vocab = Vocabulary.from_tokenizer_json(tokenizer.to_json())
    assert len(vocab) == 6  # indexes 0..5: the tokenizer never emits 6 or more
    assert vocab.oov == 1 and vocab.tokens[1] == "<OOV>"
    for word, index in tokenizer.word_index.items():
        if index < 6:
            assert vocab.tokens[index] == word
    emitted = {i for seq in tokenizer.texts_to_sequences(CORPUS) for i in seq}
    assert max(emitted) < len(vocab)


def test_not_a_tokenizer_json(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(InputFileError, match="not a Keras Tokenizer JSON"):
        Vocabulary.read(path)


def test_textvectorization_vocabulary_round_trips_through_a_file(tmp_path: Path) -> None:
    import keras

    layer = keras.layers.TextVectorization()
    layer.adapt(CORPUS)
    vocab = Vocabulary.from_tokens(layer.get_vocabulary())
    assert (vocab.padding, vocab.oov, vocab.kind) == (0, 1, "TextVectorization")
    vocab.write(tmp_path / "vocab.txt")
    assert Vocabulary.read(tmp_path / "vocab.txt") == vocab
    # Keras takes the tokens back as the same vocabulary, and encodes as we do
    again = keras.layers.TextVectorization(vocabulary=list(vocab.tokens))
    assert again.get_vocabulary() == list(vocab.tokens)
    texts = [*CORPUS, "an unseen word and the cat"]
    ours = vocab.encode(texts, length=12)
    theirs = np.asarray(keras.layers.TextVectorization(vocabulary=list(vocab.tokens),
                                                       output_sequence_length=12)(texts))
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("max_tokens", [None, 3, 10])
def test_fit_builds_what_textvectorization_adapts(max_tokens: int | None) -> None:
    import keras

    layer = keras.layers.TextVectorization(max_tokens=max_tokens)
    layer.adapt(CORPUS + TUTORIAL_DOCS)
    fitted = Vocabulary.fit(CORPUS + TUTORIAL_DOCS, max_tokens=max_tokens)
    assert list(fitted.tokens) == layer.get_vocabulary()
    assert fitted.kind == "fitted"


def test_fit_min_count_and_bad_arguments() -> None:
    vocab = Vocabulary.fit(TUTORIAL_DOCS, min_count=2)
    assert vocab.tokens == ("", "[UNK]", "work", "poor", "good", "effort", "done")
    with pytest.raises(InvalidArgumentError, match="max_tokens"):
        Vocabulary.fit(TUTORIAL_DOCS, max_tokens=2)
    with pytest.raises(InvalidArgumentError, match="min_count"):
        Vocabulary.fit(TUTORIAL_DOCS, min_count=0)


def test_encode_pads_at_the_end_and_maps_unknown_words_to_oov() -> None:
    vocab = Vocabulary.fit(TUTORIAL_DOCS)
    encoded = vocab.encode(["Good work!", "excellent unknownword effort"], length=4)
    index = {t: i for i, t in enumerate(vocab.tokens)}
    assert encoded.tolist() == [[index["good"], index["work"], 0, 0],
                                [index["excellent"], 1, index["effort"], 0]]


def test_encode_needs_a_padding_index_to_pad() -> None:
    words = Vocabulary.from_tokens(["good", "work", "poor"])
    assert words.encode(["good work", "poor good"]).tolist() == [[0, 1], [2, 0]]
    with pytest.raises(InvalidArgumentError, match="no padding index"):
        words.encode(["good work", "poor"])


def test_tokens_given_in_python_follow_the_same_rule_as_files() -> None:
    with pytest.raises(InvalidArgumentError, match="vocabulary index 2 is an empty token"):
        Vocabulary.from_tokens(["", "a", ""])
    with pytest.raises(InvalidArgumentError, match=r"vocabulary token '\[UNK\]' is at index 1 and 3"):
        Vocabulary.from_tokens(["", "[UNK]", "a", "[UNK]"])
