"""`qwen-tui eval`: perplexity, and against a reference model KL divergence and top-1
agreement, through the prompt path and the decode path; and the quality check ``quantize``
records in the manifest.

``texts/`` holds the default texts (see ``texts/SOURCES.md``), ``metrics.py`` the arithmetic,
``float_reference.py`` the float model a quantized one is compared with (computed in numpy from
its source, one weight at a time, by ``float_layers.py``, and ``float_deltanet.py`` for
Qwen3.5's linear attention; ``float_decoder.py`` feeds it a token at a time on its caches),
``run.py`` the whole.
"""
