"""A child process that streams a reply through the chat service with its real save interval,
writing each piece to stdout (as JSON with the time it was taken, before the service adds it)
until it is killed. Run by tests/core/test_crash_safety.py: ``python crash_child.py MODEL_DIR``.
"""

from __future__ import annotations

import json
import sys
import time

from qwen_tui import chat, config, paths
from qwen_tui.engine.open import open_engine
from qwen_tui.history import ConversationStore


def main(model_dir: str) -> None:
    store = ConversationStore(paths.history_db())
    settings = config.Settings(temperature=0.0, max_new_tokens=4000, repetition_penalty=1.0)
    service = chat.ChatService(store, lambda: settings)
    engine = open_engine(model_dir, threads=1)  # the engine the app opens
    engine.load()
    cid = store.create().id
    service.add_user_message(cid, "Tell me a long story.")
    add = chat.service.Streamed.add

    def announced(self, piece: str, reasoning: bool) -> None:
        print(json.dumps({"t": time.monotonic(), "piece": piece}), flush=True)
        time.sleep(0.002)  # a steady stream: the parent kills it mid-way
        add(self, piece, reasoning)

    chat.service.Streamed.add = announced  # type: ignore[method-assign]
    print(json.dumps({"conversation": cid}), flush=True)
    service.generate(cid, engine)
    print(json.dumps({"done": True}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
