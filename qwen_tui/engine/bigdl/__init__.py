"""The engine on bigdl-llm's low-bit models.

``engine.py`` is ``BigdlEngine`` (load, chat, unload); ``matmul.py`` the per-layer matmul
plan (kept on the loaded layers, not in a module global); ``lowbit/`` how our low-bit models
are built, saved and loaded; ``decoder/`` our whole-model step in C; ``patches/`` the one
registry of changes to bigdl-llm's and transformers' code.
"""
