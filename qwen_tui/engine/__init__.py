"""Load a quantized model and stream chat replies from it.

- ``types.py``    the Engine protocol and its dataclasses (ChatMessage, GenerationParams, Reply)
- ``generate/``   backend-agnostic: the token loop, sampling, detokenizing, prompt building and
                  window fitting, the per-conversation KV cache
- ``runtime/``    the one torch thread, heap and scratch memory, importing bigdl-llm quietly
- ``bigdl/``      the bigdl-llm engine: load, the matmul plan, low-bit storage, our C decoder,
                  and ``patches/`` (every change to bigdl-llm's and transformers' code)
- ``kernels/``    the only gateway to our C kernels (checked tensors in, per-CPU variants)
"""
