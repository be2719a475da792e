"""What a model takes on disk and in RAM, from what qwen-tui's code paths measurably need.

Disk: the weights file the streaming quantizer writes, to the byte, from the family's plan
(``families``: every tensor at its recipe's format, the header included), plus the tokenizer
and config files beside it.

RAM, phase by phase. Each constant below was set by a measurement, written beside it: the peak
RSS (``ru_maxrss``) of a child process running ``qwen-tui quantize`` or ``qwen-tui ask`` on the
real Qwen2.5-Coder-0.5B-Instruct GGUF (stored ``mixed_int5``: 529.5 MB) and on the scaled Qwen2
of ``tests/scaled_model.py`` (113.9 MB stored); ``tests/core/test_honest_numbers.py`` holds the
estimates to such peaks (never below, at most 25 % + 64 MB above).

- Quantizing streams the source a chunk of rows at a time: the runtime, the tokenizer (read to
  check it) and a chunk widened to float32. The float model is never built.
- Loading the store (the quality check after quantizing, and every chat) on the native engine
  maps the weights file a piece at a time and packs each piece into the arena our kernels read:
  the stored bytes once, plus one piece. (``QWEN_TUI_DECODER=bigdl`` and bigdl-llm's
  ``save_low_bit`` folders load through bigdl-llm's modules, which hold the stored bytes twice
  while loading and torch's runtime beside them: `ask` on the Coder peaked at 1417 MB there,
  against 637 MB on the native engine. These estimates are for the native engine.)
- The quality check runs the float reference beside the loaded model: one chunk of one float32
  weight, the activations of CHECK_TOKENS positions, and the logits of CHECK_ROWS of them from
  each side.
"""

from __future__ import annotations

from .families import FamilySpec, ModelDims
from .families.spec import LINEAR
from .recipes import BLOCK_BYTES, DEFAULT_RECIPE, RECIPES, Recipe
from .store.weights_header import weights_file_bytes

MB = 1000**2
F32 = 4

CHUNK_VALUES = 4 << 20  # source values read, widened and used at a time (quantizer, reference)
CHECK_TOKENS = 512  # positions of each text the quality check scores (eval/gate.py)
CHECK_ROWS = 64  # positions whose logits are in memory at a time (eval/metrics.py)
CHAT_CONTEXT = 4096  # the conversation the KV cache is counted for

# Python, numpy, the tokenizer library and our kernels, with a model loaded (no torch): `ask`
# on the native engine peaked at 636.5 MB on the Coder and 175.9 MB on the scaled model; less
# the stored bytes and the tokenizer kept, that is 58 and 52 MB. Rounded up for what varies:
# `quantize` with its check peaked at 886.9 MB on the Coder GGUF, 1 % under the estimate at 72.
ENGINE_RUNTIME = 80 * MB
LOAD_PIECE = 16 << 20  # the stored bytes mapped at a time while packing (engine/native/layout.py)
# Python, numpy, gguf and our kernels, streaming: `quantize --no-quality` peaked at 68.5 MB on
# the scaled model (a 512-token tokenizer) and at 168 MB on the Coder (its tokenizer read: 89 MB)
QUANT_RUNTIME = 70 * MB
# Qwen's tokenizer.json (151,646 tokens) took 89 MB while read and kept 48 MB once loaded
TOKENIZER_PEAK = 590  # bytes per token of the vocabulary
TOKENIZER_KEPT = 320
# What the quantizing process still holds when its check loads the model (the source's
# vocabulary, a GGUF's token list): `quantize` peaked 19.9 MB above `ask` for the Coder GGUF
# (151,936 tokens) and 2.9 MB above it for the scaled model (32,768): 131 and 89 bytes a token
QUANT_KEPT = 160  # bytes per token of the vocabulary


def stored_bytes(family: FamilySpec, dims: ModelDims, recipe: Recipe) -> int:
    """The store's weights file, to the byte."""
    return weights_file_bytes(family.plan(dims, recipe))


PACKED_HEADER = 4096  # engine/native/packed_cache.py's header
PACKED_GROUP = 16  # rows our kernels take at a time (a weight's rows are padded to them)
PACKED_ALIGN = 64  # each weight's start in the arena


def packed_file_bytes(family: FamilySpec, dims: ModelDims, recipe: Recipe) -> int:
    """The packed weights the first load keeps in the cache folder, to the byte: every
    quantized tensor regrouped for our kernels (``engine/native/packed_cache.py``)."""
    total = 0
    for t in family.plan(dims, recipe):
        if t.store != "f32":
            rows, cols = t.shape
            size = -(-rows // PACKED_GROUP) * PACKED_GROUP * (cols // 64) * BLOCK_BYTES[t.store]
            total += -(-size // PACKED_ALIGN) * PACKED_ALIGN
    return PACKED_HEADER + total


def disk_bytes(family: FamilySpec, dims: ModelDims, recipe: Recipe) -> int:
    """What a quantized model takes on disk: the store's weights and their packed copy."""
    return stored_bytes(family, dims, recipe) + packed_file_bytes(family, dims, recipe)


def kv_bytes_per_token(dims: ModelDims) -> int:
    """The decoder's KV cache per position: keys and values of every full-attention layer
    (every layer but a hybrid model's linear ones), float16."""
    full = sum(kind != LINEAR for kind in dims.layer_types) if dims.layer_types else dims.layers
    return 2 * full * dims.kv_dim * 2


SNAPSHOTS = 4  # a hybrid conversation cache's saved states (engine/native/hybrid_cache.py)


def recurrent_bytes(dims: ModelDims) -> int:
    """A hybrid model's fixed state, whatever the context: per linear layer a float32 state per
    value head and the conv's window; and the snapshots a conversation keeps of them."""
    linear = sum(kind == LINEAR for kind in dims.layer_types)
    state = dims.linear_v_heads * dims.linear_k_dim * dims.linear_v_dim
    channels = 2 * dims.linear_k_heads * dims.linear_k_dim + dims.linear_v_heads * dims.linear_v_dim
    window = max(dims.conv_kernel - 1, 0) * channels
    return (1 + SNAPSHOTS) * linear * (state + window) * F32


def loading_ram(dims: ModelDims, stored: int) -> int:
    """The peak of loading a store of ``stored`` bytes (a chat, or the quality check)."""
    return ENGINE_RUNTIME + dims.vocab * TOKENIZER_KEPT + stored + LOAD_PIECE


def reference_ram(dims: ModelDims) -> int:
    """The float reference's working set: a chunk of a weight (read and widened), the
    activations and attention scores of CHECK_TOKENS positions, and CHECK_ROWS positions'
    logits from the reference and the model with their log-softmax."""
    widest = max(dims.hidden, dims.q_dim + 2 * dims.kv_dim, 2 * dims.inter)
    activations = CHECK_TOKENS * (3 * dims.hidden + widest) * F32
    scores = 3 * CHECK_TOKENS * CHECK_TOKENS * F32
    return 2 * CHUNK_VALUES * F32 + activations + scores + 4 * CHECK_ROWS * dims.vocab * F32


def quantize_ram(family: FamilySpec, dims: ModelDims, recipe: Recipe, check: bool = True) -> int:
    """Peak RAM of ``quantize`` from safetensors or GGUF, with the quality check or without."""
    stream = QUANT_RUNTIME + dims.vocab * TOKENIZER_PEAK + 2 * CHUNK_VALUES * F32
    if not check:
        return stream
    stored = stored_bytes(family, dims, recipe)
    loaded = ENGINE_RUNTIME + dims.vocab * TOKENIZER_KEPT + stored
    measuring = max(loading_ram(dims, stored), loaded + reference_ram(dims))
    return max(stream, measuring + dims.vocab * QUANT_KEPT)


def whole_model_ram(family: FamilySpec, dims: ModelDims) -> int:
    """Peak RAM of quantizing through the whole float model (a folder of .bin files): the
    float32 model plus 800 MB, as measured when every quantization went that way."""
    return unique_params(family, dims) * F32 + 800 * MB


def chat_ram(family: FamilySpec, dims: ModelDims, recipe: Recipe) -> int:
    """RAM to chat: loading the store, or after it the stored weights, the runtime and the KV
    cache of a CHAT_CONTEXT-position conversation, whichever is more."""
    stored = stored_bytes(family, dims, recipe)
    kept = ENGINE_RUNTIME + dims.vocab * TOKENIZER_KEPT + stored
    context = kv_bytes_per_token(dims) * CHAT_CONTEXT + recurrent_bytes(dims)
    return max(loading_ram(dims, stored), kept + context)


def unique_params(family: FamilySpec, dims: ModelDims) -> int:
    """The model's parameter count (a tied table counted once)."""
    shapes = [t.shape for t in family.plan(dims, RECIPES[DEFAULT_RECIPE])]  # any recipe
    return sum(_count(shape) for shape in shapes)


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
