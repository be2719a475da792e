"""qwen-tui: chat with int4-quantized Qwen models on the CPU, in the terminal."""

__version__ = "0.1.0"
