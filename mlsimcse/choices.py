"""The closed sets of values that options take (precisions, poolings, mining backends ...), as plain data.

Each set is checked by the code that uses it (the encoder refuses an unknown precision, the search an unknown
index) and offered by the command line as argparse ``choices``. The sets live here, apart from that code, because
that code imports torch, numpy or pyarrow, and every command's parser is built on each start of ``mlsimcse``:
the parsers import this module instead, so ``mlsimcse --help`` loads none of them. The modules that check a set
import it from here, under the name they always gave it.
"""

# mlsimcse.precision
PRECISIONS = ("fp32", "bf16", "fp16", "int8", "auto")
"""What ``encode(precision=...)``, ``--precision`` and the JSON results name."""

DTYPE_PRECISIONS = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
"""The torch dtype names that ``encode(dtype=...)`` and the older ``--dtype`` options take, as precisions."""

PRECISION_HELP = ("fp32, bf16 (a bf16 copy of the encoder), fp16 (autocast), int8 (an int8 copy, CPU only) or "
                  "auto (bf16 where this device has it natively, else fp32); default: fp32 (speed and quality of each: "
                  "benchmarks/README.md)")
"""The help of every ``--precision`` option."""

# mlsimcse.pooling
POOLINGS = ("cls", "cls_mlp", "mean")

# mlsimcse.data.pipeline
FORMS = ("local", "hub")
"""Where a recipe's sources are read from: their local files under the data root, or the Hugging Face Hub."""

# mlsimcse.mining.corpus, .knn, .margin, .output
CORPUS_FORMATS = ("auto", "plain", "ids")
BACKENDS = ("auto", "faiss", "torch")
INDEXES = ("flat", "ivf", "ivfpq", "hnsw")
MARGINS = ("ratio", "distance", "absolute")
MODES = ("forward", "backward", "intersect", "max")
"""Mining's retrieval modes: which candidate pairs the margin scores."""
EMITS = ("text", "ids")
