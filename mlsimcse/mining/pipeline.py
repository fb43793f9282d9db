"""Mining end to end, and the three steps it splits into when one machine is not enough.

``mine_corpora`` runs everything in one process: read and de-duplicate both corpora, fill the embedding
caches, search both directions, score, write. For corpora that outgrow one machine the same work is split
into jobs any scheduler can run — ``embed_files`` (any number of parts per file), ``search_files`` (one
part of the source side against the whole target side) and ``merge_files`` — and the merged result equals
the single-process one for exact search. Stages are timed and peak memory is reported at the end.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from mlsimcse.encoder_protocol import SentenceEncoderLike
from mlsimcse.errors import InputError
from mlsimcse.mining.corpus import Corpus, read_corpus
from mlsimcse.mining.embedding import embed_corpus
from mlsimcse.mining.knn import Neighbours, RowSource, RowWindow, SearchConfig, exact_knn
from mlsimcse.mining.margin import score_neighbours
from mlsimcse.mining.options import EncodeOptions, ModelSpec, ScoringOptions, as_encoder
from mlsimcse.mining.output import write_pairs
from mlsimcse.mining.parts import Part, SearchPart, combine_parts, load_search_part, save_search_part
from mlsimcse.mining.summary import MiningSummary, StageClock, peak_rss_bytes


def ensure_embeddings(corpus: Corpus, encoder: SentenceEncoderLike, options: EncodeOptions) -> RowSource:
    """The corpus's cached embeddings, encoding whatever shards are missing."""
    return embed_corpus(corpus, encoder, options).finish()


def search_part(src_emb: RowSource, tgt_emb: RowSource, part: Part, k: int, config: SearchConfig) -> SearchPart:
    """Forward neighbours of the part's source rows, and target neighbours among those rows (global ids)."""
    start, stop = part.rows(len(src_emb))
    if start == stop:
        raise InputError(f"part {part} has no source sentences ({len(src_emb)} unique): use fewer parts")
    window = RowWindow(src_emb, start, stop)
    forward = exact_knn(window, tgt_emb, k, config, desc=f"search src->tgt (part {part})")
    partial = exact_knn(tgt_emb, window, k, config, desc=f"search tgt->src (part {part})")
    backward = Neighbours(partial.sims, np.where(partial.valid, partial.ids + start, -1))
    return SearchPart(part, (start, stop), forward, backward, meta={"k": k})


def mine_corpora(src_path: str | Path, tgt_path: str | Path, out_path: str | Path,
                 encoder: SentenceEncoderLike | ModelSpec | str, *,
                 scoring: ScoringOptions = ScoringOptions(), search: SearchConfig = SearchConfig(),
                 encoding: EncodeOptions = EncodeOptions(), file_format: str = "auto") -> MiningSummary:
    """Mine ``src_path`` against ``tgt_path`` into ``out_path`` in this process."""
    clock = StageClock()
    with clock.stage("read"):
        src, tgt = read_corpus(src_path, file_format), read_corpus(tgt_path, file_format)
    with clock.stage("load model"):
        encoder = as_encoder(encoder)
    with clock.stage("encode"):
        src_emb, tgt_emb = ensure_embeddings(src, encoder, encoding), ensure_embeddings(tgt, encoder, encoding)
    with clock.stage("search"):
        found = search_part(src_emb, tgt_emb, Part(0, 1), scoring.k, search)
    return _score_and_write(found.forward, found.backward, src, tgt, out_path, scoring, clock)


def embed_files(paths: list[str | Path], encoder: SentenceEncoderLike | ModelSpec | str, *, part: Part = Part(0, 1),
                encoding: EncodeOptions = EncodeOptions(), file_format: str = "auto") -> dict[Path, bool]:
    """Encode part ``part`` of each file's shards; per file, whether its cache is now complete."""
    corpora = [read_corpus(path, file_format) for path in paths]
    encoder = as_encoder(encoder)
    complete = {}
    for corpus in corpora:
        cache = embed_corpus(corpus, encoder, encoding, part=part)
        complete[corpus.path] = not cache.missing_shards()
        if complete[corpus.path]:
            cache.finish()
    return complete


def search_files(src_path: str | Path, tgt_path: str | Path, out_path: str | Path,
                 encoder: SentenceEncoderLike | ModelSpec | str, *,
                 part: Part, k: int = 4, search: SearchConfig = SearchConfig(),
                 encoding: EncodeOptions = EncodeOptions(), file_format: str = "auto") -> SearchPart:
    """Search one source part and save its neighbour lists for ``merge_files``."""
    src, tgt = read_corpus(src_path, file_format), read_corpus(tgt_path, file_format)
    encoder = as_encoder(encoder)
    src_emb, tgt_emb = ensure_embeddings(src, encoder, encoding), ensure_embeddings(tgt, encoder, encoding)
    found = search_part(src_emb, tgt_emb, part, k, search)
    found = replace(found, meta={**found.meta, "src_sha256": src.sha256, "tgt_sha256": tgt.sha256})
    save_search_part(out_path, found)
    return found


def merge_files(src_path: str | Path, tgt_path: str | Path, part_paths: list[str | Path], out_path: str | Path, *,
                scoring: ScoringOptions = ScoringOptions(), file_format: str = "auto") -> MiningSummary:
    """Combine the search parts of one split, then score and write as ``mine_corpora`` would."""
    clock = StageClock()
    with clock.stage("read"):
        src, tgt = read_corpus(src_path, file_format), read_corpus(tgt_path, file_format)
        parts = [load_search_part(path) for path in part_paths]
    if not parts:
        raise InputError("no part files to merge")
    for found in parts:
        if (found.meta["src_sha256"], found.meta["tgt_sha256"]) != (src.sha256, tgt.sha256):
            raise InputError(f"part {found.part} was searched on other files than {src.path} and {tgt.path}")
        if found.meta["k"] != scoring.k:
            raise InputError(f"part {found.part} holds k={found.meta['k']} neighbours but k={scoring.k} was asked")
    with clock.stage("merge"):
        forward, backward = combine_parts(parts, src.n_unique)
    return _score_and_write(forward, backward, src, tgt, out_path, scoring, clock)


def _score_and_write(forward: Neighbours, backward: Neighbours, src: Corpus, tgt: Corpus, out_path: str | Path,
                     scoring: ScoringOptions, clock: StageClock) -> MiningSummary:
    with clock.stage("score"):
        mined = score_neighbours(forward, backward, margin=scoring.margin, mode=scoring.mode,
                                 greedy=scoring.greedy)
        kept = scoring.select(mined)
    with clock.stage("write"):
        rows = write_pairs(out_path, kept, src, tgt, scoring.emit)
    return MiningSummary(src.n_lines, src.n_unique, tgt.n_lines, tgt.n_unique, len(kept), rows,
                         clock.seconds, peak_rss_bytes())
