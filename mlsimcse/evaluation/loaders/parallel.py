"""Line-aligned parallel sentences: LASER's Tatoeba test set and any two files a user points at.

Line i of one file translates line i of the other, so the only safe reading is a strict one: both files
must have the same number of lines, and no line may be empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlsimcse.errors import InputError
from mlsimcse.eval_files import TATOEBA, local_path
from mlsimcse.evaluation.loaders.hub import HubTable, load_hub_rows
from mlsimcse.evaluation.loaders.origin import DataOrigin
from mlsimcse.evaluation.loaders.text_files import require_text
from mlsimcse.text_lines import read_lines


@dataclass(frozen=True)
class ParallelSet:
    """``sources[i]`` and ``targets[i]`` are translations of each other."""

    sources: list[str]
    targets: list[str]
    origin: DataOrigin

    def sentences(self) -> list[str]:
        return self.sources + self.targets


def read_parallel_files(source_path: Path, target_path: Path) -> ParallelSet:
    """Two line-aligned files; differing line counts or an empty line are errors naming the file."""
    sources = read_lines(source_path)
    targets = read_lines(target_path)
    if not sources:
        raise InputError("empty parallel file", path=source_path)
    if len(sources) != len(targets):
        raise InputError(
            f"{len(sources)} lines, but {target_path} has {len(targets)}: files are not line-aligned",
            path=source_path,
        )
    for path, lines in ((source_path, sources), (target_path, targets)):
        for line_no, line in enumerate(lines, start=1):
            require_text(line, what="sentence", path=path, line=line_no)
    return ParallelSet(sources, targets, DataOrigin.from_files([source_path, target_path]))


def tatoeba_paths(language: str) -> tuple[Path, Path]:
    return local_path(TATOEBA, language=language, side=language), local_path(TATOEBA, language=language, side="eng")


def read_parallel_or_hub(source_path: Path, target_path: Path, form: HubTable) -> ParallelSet:
    """The two local files when the source file is there, else the Hub form's two columns (sources, targets)."""
    if source_path.exists():
        return read_parallel_files(source_path, target_path)
    rows, origin = load_hub_rows(form, local_path=source_path)
    return ParallelSet([str(row[0]) for row in rows], [str(row[1]) for row in rows], origin)


def read_tatoeba(language: str) -> ParallelSet:
    """LASER Tatoeba pairs for one language (xx side as sources, English as targets)."""
    form = HubTable("mteb/tatoeba-bitext-mining", f"{language}-eng", "test", ("sentence1", "sentence2"))
    return read_parallel_or_hub(*tatoeba_paths(language), form)
