"""The model store: download, quantize, verify and list int4 models on disk."""
