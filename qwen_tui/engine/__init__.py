"""Load a quantized model and stream chat replies from it."""
