"""Backend-agnostic generation: what turns a conversation into tokens and tokens into text.

``prompt.py`` builds the prompt from the chat template and fits it to the window,
``loop.py`` is the token loop (prompt, then one token at a time, cancel between tokens; no torch),
``sampling.py`` (torch) or ``native_sampling.py`` (C, no torch) picks each token,
``detok.py`` turns tokens into text as they come, and ``conversation_cache.py`` keeps each
conversation's KV cache for the next turn (an LRU).
"""
