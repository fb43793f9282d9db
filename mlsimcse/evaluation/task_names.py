"""The names of evaluation tasks, groups of tasks and suites (``mlsimcse eval --tasks/--suite``, a config's
``evaluation.tasks``).

Task names (FAMILY:ARGUMENT):
  stsb:LANG                STS-B test, LANG in en de es fr it ja nl pl pt ru zh (stsb_multi_mt)
  stsb-dev:LANG            the same on the dev split (fast: the trainer's checkpoint selection)
  xstsb:L1-L2              cross-lingual STS-B test: sentence1 in L1, sentence2 in L2
  xstsb-dev:L1-L2          the same on dev
  sts17:TRACK              STS17: ar-ar ar-en es-es es-en-4a es-en-4b en-en tr-en
  sts12 ... sts16          SentEval STS with the "all" aggregation
  sickr                    SICK-R test
  sickr-dev                SICK trial + train relatedness (5,000 pairs): English dev outside STS-B's domain
  tatoeba:LANG             LASER Tatoeba retrieval, LANG a LASER code (deu, cmn, swh, ...)
  news:LANG                NTREX-128 news retrieval against English (newstest2019, 1,997 sentences), LANG an
                           NTREX code (arb, deu, zho_Hans, ...) or its two-letter code (ar, de, zh)
  parallel:SRC,TGT         retrieval between any two line-aligned files
  bucc:FOLDER[:TUNE:EVAL]  BUCC mining; FOLDER a path named SRC-TGT, or a pair under DATA_ROOT/bucc2018;
                           threshold tuned on split TUNE (default sample), reported on EVAL (default training)
  un-bucc:LANG             BUCC-style mining LANG->en on the UN v1.0 testset, LANG in ar es fr ru zh; the
                           benchmark is built once (fixed seed and sizes) under $MLSIMCSE_CACHE_DIR
                           (default ~/.cache/mlsimcse)
  geometry[:LANG]          alignment, uniformity, anisotropy on STS-B test (default en)

Groups: stsb, stsb-dev (11 languages each), xstsb (en->each of the 10 others), sts17 (7 tracks),
senteval-sts (SimCSE's 7 English tasks), tatoeba (112), tatoeba-xnli14, tatoeba-xtreme36, news-xnli14
(the 14 XNLI languages), un-bucc (the 5).
Suites: quick (stsb xstsb sts17 tatoeba-xnli14), multilingual (the same with all of tatoeba),
english-senteval (senteval-sts geometry), full (all of the above), heldout (news-xnli14 un-bucc: domains no
training recipe uses, for checking a recipe chosen on the others).
Averages such as "STS-B multi avg (10)" are added whenever all their tasks ran (see aggregates).
"""

# The text above is the epilog of `mlsimcse eval --help`; it and SUITES live apart from the registry, which
# imports every loader and task (and so numpy and scipy), so that the parser can be built without them.

SUITES: dict[str, tuple[str, ...]] = {
    "quick": ("stsb", "xstsb", "sts17", "tatoeba-xnli14"),
    "multilingual": ("stsb", "xstsb", "sts17", "tatoeba"),
    "english-senteval": ("senteval-sts", "geometry"),
    "full": ("stsb", "xstsb", "sts17", "tatoeba", "senteval-sts", "geometry"),
    "heldout": ("news-xnli14", "un-bucc"),
}
