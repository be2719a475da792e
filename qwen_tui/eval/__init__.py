"""`qwen-tui eval`: perplexity, and against a reference model KL divergence and top-1
agreement, through the prompt path and the decode path; and the quality check ``quantize``
records in the manifest.

``texts/`` holds the default texts (see ``texts/SOURCES.md``), ``metrics.py`` the arithmetic,
``reference.py`` the float model a quantized one is compared with, ``run.py`` the whole.
"""
