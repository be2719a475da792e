"""What the engine runs on: the one thread every torch call uses (``torch_thread.py``), heap
and scratch memory (``memory.py``), and importing bigdl-llm without its log lines
(``quiet.py``)."""
