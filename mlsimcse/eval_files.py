"""Where each evaluation set lives under the data root: the one table the evaluation loaders read their
files from and the training-data decontamination globs over.

Two copies of these paths would drift apart silently: a loader moved to a new file name would keep
scoring while decontamination, still globbing the old name, found nothing to remove, or failed. Each
entry is a template relative to the data root; :func:`local_path` fills every field for one file,
:func:`every_file` leaves the fields not given as ``*`` for a glob over all of them.
"""

from __future__ import annotations

import string
from pathlib import Path

TATOEBA = "tatoeba_laser/tatoeba.{language}-eng.{side}"
"""LASER Tatoeba: one file per side, ``side`` the language or ``eng``."""
STSB = "stsb_multi_mt/stsb-{language}-{split}.csv"
STS17_INPUT = "sts2017/STS2017.eval.v1.1/STS.input.{track}.txt"
STS17_GOLD = "sts2017/STS2017.gs/STS.gs.{track}.txt"
SENTEVAL_STS_YEAR = "semeval_sts_en_2012-2016/{year}"
"""One SemEval STS year: a folder of subset files, which SentEval pools."""
SENTEVAL_STS = SENTEVAL_STS_YEAR + "/{subset}.test.tsv"
SICK_TEST = "sick2014/SICK_test_annotated.txt"
SICK_DEV = ("sick2014/SICK_trial.txt", "sick2014/SICK_train.txt")
"""SICK trial and train: never trained on, so together an English dev set outside STS-B's domain. The splits
share one sentence pool with SICK test (most of its sentences, 52 of its pairs), so choosing on it leans towards it."""
NTREX = "ntrex128/newstest2019-ref.{code}.txt"
UN_TESTSET = "un_parallel_v1/testset/UNv1.0.testset.{language}"


def local_path(template: str, **fields: object) -> Path:
    """The file ``template`` names for ``fields``, under the data root (``MLSIMCSE_DATA_ROOT``)."""
    from mlsimcse.paths import data_root

    return data_root() / template.format(**fields)


def every_file(template: str, **fields: str) -> str:
    """A glob (relative to the data root) over the files of ``template``; fields not given match anything."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    return template.format(**{name: fields.get(name, "*") for name in names})
