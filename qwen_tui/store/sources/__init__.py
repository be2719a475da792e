"""Sources of weights read one tensor at a time: a Hugging Face folder's safetensors files
(``safetensors.py``), a GGUF file (``gguf.py``), and a PyTorch checkpoint read without torch
(``torch_zip.py``: a save_low_bit folder's ``pytorch_model.bin``), the first and last as byte
ranges of their files (``mapped.py``)."""
