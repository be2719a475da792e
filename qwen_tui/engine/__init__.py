"""Load a quantized model and stream chat replies from it.

- ``types.py``    the Engine protocol and its dataclasses (ChatMessage, GenerationParams, Reply)
- ``open.py``     which engine runs a model from the store (``open_engine``), and why
- ``local.py``    what both local engines share: loading the tokenizer, a reply (fitting, the
                  loop, detokenizing, thinking, stats, kept KV caches, cancelling)
- ``native/``     the default engine: the store mapped into our C decoder, without torch
- ``generate/``   backend-agnostic: the token loop, sampling, detokenizing, prompt building and
                  window fitting, the per-conversation KV cache
- ``runtime/``    the one compute thread, memory pages, heap and scratch, importing bigdl-llm
                  quietly
- ``bigdl/``      the bigdl-llm engine: load, the matmul plan, low-bit storage, our C decoder over
                  its modules, and ``patches/`` (every change to bigdl-llm's and transformers' code)
- ``kernels/``    the only gateway to our C kernels (checked tensors in, per-CPU variants)
"""
