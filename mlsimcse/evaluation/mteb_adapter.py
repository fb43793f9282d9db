"""mteb v2 on mlsimcse encoders, and mlsimcse's own benchmark rows through mteb's protocols.

mteb is how the field reports embedding quality. A saved mlsimcse folder is a sentence-transformers folder,
so ``mteb.evaluate(SentenceTransformer(folder), tasks)`` already works; this module adds the direct route
and a bridge between the two protocols:

- :class:`MTEBEncoder` puts a :class:`~mlsimcse.encoder.SentenceEncoder` behind mteb's encoder protocol
  (``encode(DataLoader, *, task_metadata, hf_split, hf_subset, prompt_type)``, ``similarity``,
  ``similarity_pairwise``, ``mteb_model_meta``), so a model in memory (one being trained, say) is scored
  without a save and without sentence-transformers, through mlsimcse's length-sorted ``encode``.
- :func:`mteb_task` turns an mlsimcse STS or translation-retrieval task name into a local mteb task
  (``AbsTaskSTS`` / ``AbsTaskBitextMining``) over the very rows mlsimcse reads, never touching the Hub, so
  the two protocols are compared on identical data.
- :func:`evaluate_with_mteb` runs ``mteb.evaluate`` on such tasks and returns mlsimcse
  :class:`~mlsimcse.evaluation.results.TaskResult` records whose ``evaluator`` is ``mteb VERSION`` and
  whose ``protocol`` states mteb's metric, so they can share a results JSON with mlsimcse's own numbers
  without being mistaken for them.

How the protocols relate on the same rows (measured figures: README, "Works with"). STS: both are the
Spearman correlation of cosine similarity with gold (mteb's on a 0-1 scale, ×100 here), so they agree to
rounding. Bitext mining: mlsimcse's Tatoeba is cosine 1-NN accuracy in both directions and their mean, a
hit when the retrieved text equals the gold translation's text. mteb scores one direction per subset
(``sentence1`` queries, ``sentence2`` corpus; this module adds the reverse direction as a second subset)
and its main score is scikit-learn's support-weighted F1 over target row indices. With one gold query per
target that F1 is ``mean_i hit_i * 2 / (1 + c_i)``, where ``c_i`` counts the queries whose nearest
neighbour is query i's target: F1 equals accuracy only when no two queries land on one target, and falls
below it the more queries pile onto "hub" sentences. mteb's ``accuracy`` is index-exact 1-NN accuracy,
equal to mlsimcse's per-direction accuracy unless the corpus side repeats a text.

mteb is imported only when used: it is a test dependency, and its import alone takes seconds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from mlsimcse.errors import InputError
from mlsimcse.evaluation.loaders.sts17 import STS17_TRACKS
from mlsimcse.evaluation.mteb_results import bitext_directions, mteb_task_results
from mlsimcse.evaluation.registry import build_task
from mlsimcse.evaluation.results import TaskResult
from mlsimcse.evaluation.tasks.retrieval import TranslationRetrievalTask
from mlsimcse.evaluation.tasks.sts import STSTask
from mlsimcse.prompts import encoder_prompt

if TYPE_CHECKING:
    from mlsimcse.encoder import SentenceEncoder

TASK_PREFIX = "mlsimcse."
"""mteb task names are the mlsimcse task names behind this prefix (``mlsimcse.sts17:es-en-4a``)."""

DEFAULT_BATCH_SIZE = 64


class MTEBEncoder:
    """A :class:`SentenceEncoder` as an mteb v2 encoder (``mteb.models.EncoderProtocol``).

    ``name`` and ``revision`` key mteb's result cache. The default name is the encoder's Hub name, or
    ``mlsimcse/FOLDER`` for a local folder; the default revision hashes the weights and pooling settings as
    they are when wrapped, so a retrained model never reads a stale cached score (wrap it again after
    changing its weights). ``encode_kwargs`` go to :meth:`SentenceEncoder.encode` (``dtype``, ``device``,
    ``max_length``, ...). Prompts are chosen as mteb chooses them for a sentence-transformers model: the
    encoder's prompt named after the task, task type or prompt type (``query`` / ``document``) in mteb's
    order of priority, else the encoder's default prompt; :attr:`applied_prompts` records the text used per
    task.
    """

    def __init__(self, encoder: SentenceEncoder, *, name: str | None = None, revision: str | None = None,
                 encode_kwargs: dict[str, Any] | None = None):
        self.encoder = encoder
        self.name = name or _model_name(encoder)
        if "/" not in self.name:
            raise InputError(f"mteb model names have the form ORGANISATION/NAME, got {self.name!r}")
        self.revision = revision or _weights_revision(encoder)
        self.encode_kwargs = dict(encode_kwargs or {})
        self.applied_prompts: dict[str, str] = {}
        self._meta = None

    def encode(self, inputs, *, task_metadata, hf_split: str, hf_subset: str, prompt_type=None,
               **kwargs: Any) -> np.ndarray:
        """Embeddings of every text the DataLoader yields, in its order, in one length-sorted pass."""
        texts: list[str] = []
        for batch in inputs:
            if "text" not in batch:
                raise InputError(f"mteb task {task_metadata.name} gives {sorted(batch)} inputs; an mlsimcse "
                                 "encoder embeds text only")
            texts.extend(batch["text"])
        from mteb.models.abs_encoder import get_prompt_name

        prompts = getattr(self.encoder, "prompts", None) or None
        prompt_name = get_prompt_name(prompts, task_metadata, prompt_type)
        self.applied_prompts[task_metadata.name] = encoder_prompt(self.encoder, prompt_name)
        options = {"batch_size": kwargs.get("batch_size", DEFAULT_BATCH_SIZE),
                   "show_progress_bar": kwargs.get("show_progress_bar", False), **self.encode_kwargs}
        if prompt_name is not None:
            options["prompt_name"] = prompt_name
        return self.encoder.encode(texts, **options)

    def similarity(self, embeddings1, embeddings2):
        """Cosine similarity matrix, the similarity every mlsimcse protocol uses."""
        from mteb.similarity_functions import cos_sim

        return cos_sim(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1, embeddings2):
        """Cosine similarity of row i with row i."""
        from mteb.similarity_functions import pairwise_cos_sim

        return pairwise_cos_sim(embeddings1, embeddings2)

    @property
    def mteb_model_meta(self):
        """mteb's model card for this encoder, built from what the encoder itself knows (nothing fetched)."""
        if self._meta is None:
            from mteb.models.model_meta import ModelMeta, ScoringFunction

            settings = self.encoder.settings
            self._meta = ModelMeta.create_empty(overwrites={
                "name": self.name,
                "revision": self.revision,
                "n_parameters": sum(param.numel() for param in self.encoder.parameters()),
                "max_tokens": settings.max_length,
                "embed_dim": self.encoder.embedding_dim,
                "open_weights": True,
                "similarity_fn_name": ScoringFunction.COSINE,
                "use_instructions": False,
                "framework": ["PyTorch"],
                "adapted_from": settings.base_model if settings.base_model != self.encoder.name_or_path else None,
            })
        return self._meta


def mteb_task(name: str):
    """A local mteb task over the rows of mlsimcse task ``name`` (read now, from the files mlsimcse reads).

    STS tasks become ``AbsTaskSTS`` (one ``default`` subset, main score ``cosine_spearman``);
    translation-retrieval tasks (``tatoeba:LANG``, ``parallel:A,B``) become ``AbsTaskBitextMining`` with one
    subset per direction (``deu-eng`` and ``eng-deu`` for ``tatoeba:deu``), main score ``f1``.
    """
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.sts import AbsTaskSTS
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.abstasks.text.bitext_mining import AbsTaskBitextMining

    task = build_task(name)
    if not isinstance(task, (STSTask, TranslationRetrievalTask)):
        raise InputError(f"task {name!r} has no mteb form here; STS and translation-retrieval tasks do")
    data = task.load()
    first, second = (_language_script(code) for code in _column_languages(name))
    if isinstance(task, STSTask):
        base, kind, main_score, eval_langs = AbsTaskSTS, "STS", "cosine_spearman", sorted({first, second})
        columns = {"sentence1": data.sentences1, "sentence2": data.sentences2, "score": data.gold.tolist()}
        dataset: Any = DatasetDict({"test": Dataset.from_dict(columns)})
    else:
        base, kind, main_score = AbsTaskBitextMining, "BitextMining", "f1"
        forward, backward = (subset for subset, _key in bitext_directions(name))
        eval_langs = {forward: [first, second], backward: [second, first]}
        dataset = {
            forward: DatasetDict({"test": Dataset.from_dict({"sentence1": data.sources, "sentence2": data.targets})}),
            backward: DatasetDict({"test": Dataset.from_dict({"sentence1": data.targets, "sentence2": data.sources})}),
        }
    metadata = TaskMetadata(
        name=TASK_PREFIX + name,
        description=f"mlsimcse task {name} ({task.protocol}), local rows",
        dataset={"path": f"mlsimcse/{name}", "revision": data.origin.sha256[:16]},
        type=kind,
        category="t2t",
        eval_splits=["test"],
        eval_langs=eval_langs,
        main_score=main_score,
    )

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        """The rows were read when the task was built; mteb's Hub loading is never used."""
        self.dataset = dataset
        self.data_loaded = True

    # mteb reads ``metadata`` from the class (unload_data drops instance copies), so each task is its own class.
    cls = type(f"MLSimCSE{kind}Task", (base,), {"metadata": metadata, "load_data": load_data, "__module__": __name__})
    instance = cls()
    instance.mlsimcse_task = task
    instance.mlsimcse_data_sha256 = data.origin.sha256
    instance.mlsimcse_rows = len(data.sentences1 if isinstance(task, STSTask) else data.sources)
    return instance


def evaluate_with_mteb(model, tasks: Sequence[str], *, cache_dir: str | Path | None = None,
                       batch_size: int = DEFAULT_BATCH_SIZE, show_progress_bar: bool = False) -> list[TaskResult]:
    """Score ``model`` (a SentenceEncoder, an :class:`MTEBEncoder` or anything mteb accepts) with ``mteb.evaluate``.

    ``tasks`` are mlsimcse task names (see :func:`mteb_task`). mteb's result cache goes to ``cache_dir``;
    without one, nothing is cached. Returns one mlsimcse record per task, ``evaluator`` ``mteb VERSION``.
    """
    import mteb

    from mlsimcse.encoder import SentenceEncoder

    if isinstance(model, SentenceEncoder):
        model = MTEBEncoder(model)
    built = [mteb_task(name) for name in tasks]
    cache = mteb.ResultCache(cache_path=cache_dir) if cache_dir is not None else None
    outcome = mteb.evaluate(model, built, cache=cache, encode_kwargs={"batch_size": batch_size},
                            show_progress_bar=show_progress_bar, overwrite_strategy="always")
    return mteb_task_results(outcome, built, getattr(model, "applied_prompts", None))


def _column_languages(name: str) -> tuple[str, str]:
    """The languages of a task's two text columns, as the task name says them."""
    family, _, argument = name.partition(":")
    if family == "sts17":
        return STS17_TRACKS[argument].column_languages
    if family in ("stsb", "stsb-dev"):
        return argument, argument
    if family in ("xstsb", "xstsb-dev"):
        first, _, second = argument.partition("-")
        return first, second
    if family == "tatoeba":
        return argument, "eng"
    if family == "parallel":
        return "und", "und"
    return "en", "en"  # SentEval's English STS12-16 and SICK-R


def _language_script(code: str) -> str:
    """mteb's ``xxx-Scrp`` form of an ISO 639-1/3 code, or the bare ISO 639-3 code where mteb knows no script."""
    try:  # mteb's own table of default scripts; private, so any change there falls back to the bare code
        from mteb.languages.iso_mappings import _hf_lang_to_iso_lang_script

        resolved = _hf_lang_to_iso_lang_script(code)
    except (ImportError, AttributeError):
        resolved = None
    return resolved or (code if len(code) == 3 else "und")


def _model_name(encoder: SentenceEncoder) -> str:
    """The Hub name of a Hub model, else ``mlsimcse/FOLDER`` (the run's name for a run's ``model`` folder)."""
    source = encoder.name_or_path or encoder.settings.base_model or ""
    path = Path(source)
    if "/" in source and not path.exists():
        return source
    label = f"{path.parent.name}-{path.name}" if path.name == "model" and path.parent.name else path.name
    return f"mlsimcse/{label or 'encoder'}"


def _weights_revision(encoder: SentenceEncoder) -> str:
    """A short hash of the weights and the settings that shape the vector: what identifies these embeddings."""
    digest = hashlib.sha256(json.dumps(asdict(encoder.settings), sort_keys=True).encode("utf-8"))
    for key, tensor in encoder.state_dict().items():
        digest.update(key.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return "weights-" + digest.hexdigest()[:16]
