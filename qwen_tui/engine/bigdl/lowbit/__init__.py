"""qwen-tui's low-bit models: bigdl-llm's LowBitLinear layers in a format per layer (a recipe),
and a quantized embedding table.

``build.py`` quantizes a float model by a recipe, ``io.py`` saves such a model and loads it
back (bigdl-llm's ``load_low_bit`` knows one format per model and a float embedding, so the
layout is recorded in ``qwen-tui-lowbit.json`` and our loader applies it), ``embedding.py``
is the table whose rows are dequantized as they are looked up.
"""

LAYOUT_FILE = "qwen-tui-lowbit.json"
