"""Our own decoder step: every layer of a Qwen model in one C call per step.

``model.py`` reads a loaded model (bigdl-llm's low-bit layers, regrouped for our kernels) into
the C decoder's description; ``cache.py`` is its KV cache (float16, [kv heads, positions,
head dim] per layer). Where a model does not fit (an architecture it does not know, a layer on
bigdl-llm's kernel, a CPU without AVX2), the engine runs bigdl-llm's forwards with our patches.
"""

from .cache import DecoderCache
from .model import Decoder, DecoderUnsupported

__all__ = ["Decoder", "DecoderCache", "DecoderUnsupported"]
