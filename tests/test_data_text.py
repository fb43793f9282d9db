"""Text helpers every recipe relies on: the comparison key, PTB detokenisation, sentence splitting."""

from mlsimcse.data.normalize import normalize_text
from mlsimcse.data.ptb import detokenize_ptb
from mlsimcse.data.sentence_split import split_sentences


def test_normalize_text_folds_width_case_and_whitespace():
    assert normalize_text("  Ｈｅｌｌｏ\u00a0  WORLD\t\n") == "hello world"
    assert normalize_text("Straße") == normalize_text("STRASSE")
    assert normalize_text("ﬁne") == "fine"
    assert normalize_text("a b") != normalize_text("ab")


def test_detokenize_ptb_restores_ordinary_text():
    assert detokenize_ptb("Two women are embracing while holding to go packages . ") == (
        "Two women are embracing while holding to go packages."
    )
    assert detokenize_ptb("A man do n't like it , he 's sad .") == "A man don't like it, he's sad."
    assert detokenize_ptb("People are saying `` cheese '' . ") == 'People are saying "cheese".'
    assert detokenize_ptb("a dog -LRB- brown -RRB- costs $ 5 or 50 % !") == "a dog (brown) costs $5 or 50%!"


def test_split_sentences_cuts_at_sentence_punctuation_and_newlines():
    text = "Berlin is a city. It has 3.7 million people!  Is it big?\nYes\n\n日本は島国です。東京が首都です。"
    assert split_sentences(text) == [
        "Berlin is a city.",
        "It has 3.7 million people!",
        "Is it big?",
        "Yes",
        "日本は島国です。",
        "東京が首都です。",
    ]
