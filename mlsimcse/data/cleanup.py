"""The clean-up every recipe source goes through, in a fixed order so the manifest counts are comparable.

1. decontamination: any text found in an evaluation set drops the example (counted per language); for scored
   pairs, the whole row: STS-B's train pairs *are* SemEval STS test pairs, so a German translation of an
   English test pair is that test pair with its gold score, even where no German test set exists to catch it;
2. length: texts shorter than ``min_chars`` or longer than ``max_chars`` characters;
3. identical texts: a pair or triplet whose texts normalise to the same string teaches nothing;
4. duplicates: an example whose normalised texts were all seen before in this source.
"""

from __future__ import annotations

from mlsimcse.data.buckets import language_key
from mlsimcse.data.eval_sentences import EvalSentences
from mlsimcse.data.normalize import normalize_text
from mlsimcse.data.recipe import SourceRecipe
from mlsimcse.data.report import SourceReport
from mlsimcse.records import Example


class ExampleCleaner:
    """Decides, example by example, whether a source's example is kept, recording why not."""

    def __init__(self, source: SourceRecipe, report: SourceReport, eval_sentences: EvalSentences | None):
        self._source = source
        self._report = report
        self._eval_keys = eval_sentences.keys if eval_sentences is not None else frozenset()
        self._seen: set[tuple[str, ...]] = set()

    def keep(self, example: Example) -> bool:
        keys = _keys(example)
        if self._holds_eval_sentence(keys):
            self._report.decontaminated[language_key(example)] += 1
            return False
        reason = self._rejection(example, keys)
        if reason is not None:
            self._report.dropped[reason] += 1
            return False
        return True

    def keep_row(self, row: list[Example]) -> list[Example]:
        """The kept examples of one aligned row (one group): none if any of them holds an evaluation sentence."""
        if any(self._holds_eval_sentence(_keys(example)) for example in row):
            for example in row:
                self._report.decontaminated[language_key(example)] += 1
            return []
        return [example for example in row if self.keep(example)]

    def _holds_eval_sentence(self, keys: tuple[str, ...]) -> bool:
        return any(key in self._eval_keys for key in keys)

    def _rejection(self, example: Example, keys: tuple[str, ...]) -> str | None:
        if any(len(text) < self._source.min_chars for text in example.texts):
            return "too_short"
        if any(len(text) > self._source.max_chars for text in example.texts):
            return "too_long"
        if self._source.drop_identical and len(set(keys)) < len(keys):
            return "identical_texts"
        if self._source.dedup:
            if keys in self._seen:
                return "duplicate"
            self._seen.add(keys)
        return None


def _keys(example: Example) -> tuple[str, ...]:
    return tuple(normalize_text(text) for text in example.texts)
