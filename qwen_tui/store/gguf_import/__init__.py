"""Import a GGUF file (the format llama.cpp and most downloads use) as a Hugging Face folder.

``read.py`` opens the file and checks what it holds, ``tokenizer.py`` rebuilds the tokenizer
and chat template from its metadata, ``weights.py`` maps and dequantizes the tensors, and
``convert.py`` writes a float folder that the usual quantize path takes.
"""

from .convert import convert_gguf, estimate_gguf_needs, is_gguf, load_float_model

__all__ = ["convert_gguf", "estimate_gguf_needs", "is_gguf", "load_float_model"]
