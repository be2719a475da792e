"""What the engine runs on: the one thread every kernel and torch call uses
(``torch_thread.py``), a buffer on 2 MB pages and giving freed heap back, without torch
(``pages.py``), torch's heap and scratch memory (``memory.py``), and importing bigdl-llm
without its log lines (``quiet.py``)."""
