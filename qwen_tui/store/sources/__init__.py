"""Sources of float weights for the streaming quantizer, read one tensor at a time: a Hugging
Face folder's safetensors files (``safetensors.py``) and a GGUF file (``gguf.py``)."""
