"""`qwen-tui bench`: load time, first-token latency, decode speed, memory."""
