"""Write mined pairs as ``score<TAB>src<TAB>tgt``, best first, atomically.

``text`` rows carry the sentences, one row per distinct sentence pair (LASER's output). ``ids`` rows carry
ids instead and expand each pair to every line holding either sentence — the id column of an id file, or
the 1-based line number of a plain file — which is what BUCC-style evaluation and corpus filtering need.
The file appears only when complete, so an interrupted run never leaves a truncated list of pairs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlsimcse.faults import fault_point
from mlsimcse.io_utils import atomic_path
from mlsimcse.mining.corpus import Corpus
from mlsimcse.row_chunks import row_chunks
from mlsimcse.mining.margin import MinedPairs

WRITE_CHUNK = 65536
"""Pairs whose texts are read back and written at a time, bounding memory for any number of pairs."""


def write_pairs(path: str | Path, pairs: MinedPairs, src: Corpus, tgt: Corpus, emit: str = "text") -> int:
    """Write ``pairs`` to ``path``; returns the number of rows written."""
    rows = 0
    with atomic_path(path, inputs=[src.path, tgt.path]) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        for start, stop in row_chunks(len(pairs), WRITE_CHUNK):
            fault_point("mid_pairs_write", start)
            scores = pairs.score[start:stop].tolist()
            if emit == "text":
                src_texts = src.sentences_at(src.first_line[pairs.src[start:stop]])
                tgt_texts = tgt.sentences_at(tgt.first_line[pairs.tgt[start:stop]])
                for score, src_text, tgt_text in zip(scores, src_texts, tgt_texts):
                    out.write(f"{score:.6f}\t{src_text}\t{tgt_text}\n")
                rows += stop - start
                continue
            src_ids = _ids_per_unique(src, pairs.src[start:stop])
            tgt_ids = _ids_per_unique(tgt, pairs.tgt[start:stop])
            for score, src_group, tgt_group in zip(scores, src_ids, tgt_ids):
                for src_id in src_group:
                    for tgt_id in tgt_group:
                        out.write(f"{score:.6f}\t{src_id}\t{tgt_id}\n")
                rows += len(src_group) * len(tgt_group)
    return rows


def _ids_per_unique(corpus: Corpus, uniques: np.ndarray) -> list[list[str]]:
    """For each unique sentence, the ids of all lines holding it, read from the file in one pass."""
    groups = [corpus.lines_of(unique) for unique in uniques.tolist()]
    flat = corpus.ids_at(np.concatenate(groups)) if groups else []
    bounds = np.cumsum([0] + [len(group) for group in groups]).tolist()
    return [flat[bounds[i]:bounds[i + 1]] for i in range(len(groups))]
