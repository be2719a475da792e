"""The engine that runs without torch, transformers or bigdl-llm: a store folder's weights
mapped straight into our C decoder.

``layout.py`` reads what the folder holds (config.json and qwen-tui-lowbit.json against the
family's table), ``arena.py`` maps each tensor of model.safetensors into one arena on 2 MB
pages in the kernels' layout, ``rotary.py`` builds the rotary tables, ``model.py`` describes
the layers to C and runs a step, ``cache.py`` is the KV cache (numpy float16) and
``engine.py`` the engine (``NativeEngine``).
"""
