"""Render README screenshots (SVG) from the real app.

Real Qwen weights are not available on the machines that build qwen-tui, so
the model here is a scripted demo engine that streams a fixed Markdown reply;
everything else (screens, widgets, storage, worker thread) is the real app.

    .venv/bin/python scripts/screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "screenshots")
TMP = Path(tempfile.mkdtemp(prefix="qwen-tui-shots-"))
for name in ("CONFIG", "DATA", "CACHE"):
    os.environ[f"QWEN_TUI_{name}_DIR"] = str(TMP / name.lower())

from qwen_tui import config, paths  # noqa: E402
from qwen_tui.engine.types import GenerationParams, ModelInfo, Reply, ReplyStats  # noqa: E402
from qwen_tui.history import ConversationStore  # noqa: E402
from qwen_tui.store.local import LocalModel  # noqa: E402
from qwen_tui.manifest import Manifest  # noqa: E402
from qwen_tui.ui.app import QwenApp  # noqa: E402
from qwen_tui.ui.widgets.prompt_input import PromptInput  # noqa: E402

REPLY = """Here is a small function that reads a file and counts its words:

```python
from collections import Counter

def word_counts(path: str) -> Counter:
    with open(path, encoding="utf-8") as fh:
        return Counter(fh.read().split())
```

`Counter.most_common(10)` then gives the ten most frequent words. 中文也可以：按空格分词。
"""


class DemoEngine:
    """Streams REPLY a few characters at a time, like a model at ~12 tokens/s."""

    def __init__(self) -> None:
        self.info: ModelInfo | None = None
        self._cancel = threading.Event()

    def load(self) -> ModelInfo:
        self.info = ModelInfo("qwen-1_8b-chat", "sym_int4", "qwen", "/demo", 6144, GenerationParams())
        return self.info

    def chat(self, messages, params=None, *, on_text=None, cancel=None, cache_key=None) -> Reply:
        self._cancel.clear()
        out = []
        for i in range(0, len(REPLY), 4):
            if self._cancel.is_set() or (cancel and cancel.is_set()):
                break
            piece = REPLY[i : i + 4]
            out.append(piece)
            if on_text:
                on_text(piece)
            time.sleep(0.02)
        stats = ReplyStats(prompt_tokens=57, generated_tokens=96, time_to_first_token=0.9,
                           decode_tokens_per_s=12.4, context_used=153, context_window=6144,
                           finish_reason="stop")
        return Reply("".join(out), stats)

    def cancel(self) -> None:
        self._cancel.set()

    def unload(self) -> None:
        self.info = None

    def forget(self, key: str) -> None:
        pass

    def count_tokens(self, messages) -> int:
        return sum(len(m.content) // 3 + 4 for m in messages)


def fill(store: ConversationStore) -> None:
    stats = {"generated_tokens": 41, "decode_tokens_per_s": 12.1, "dropped_turns": 0}
    a = store.create()
    store.add_message(a.id, "user", "What is the capital of Australia?")
    store.add_message(a.id, "assistant", "**Canberra** — not Sydney, which is the largest city.", stats=stats)
    b = store.create()
    store.add_message(b.id, "user", "用一句话介绍北京。")
    store.add_message(b.id, "assistant", "北京是中国的首都，有三千多年的历史。", stats=stats)
    c = store.create()
    store.add_message(c.id, "user", "Explain Python list comprehensions")
    store.add_message(c.id, "assistant", "A list comprehension builds a list from an iterable:\n\n```python\nsquares = [n * n for n in range(10)]\n```", stats=stats)


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    store = ConversationStore(paths.history_db())
    fill(store)
    demo = LocalModel("qwen-1_8b-chat-sym_int4", Path("/demo"), Manifest(
        "qwen-1_8b-chat", "sym_int4", "qwen", "Qwen/Qwen-1_8B-Chat", None, True, ()))
    app = QwenApp(settings=config.Settings(), store=store, engine_factory=lambda m, s: DemoEngine(),
                  open_wizard=False, save_settings=lambda s: None)
    async with app.run_test(size=(100, 32)) as pilot:
        app.load_model(demo)
        await pilot.pause(0.5)
        for widget in app.query("Input, TextArea"):
            widget.cursor_blink = False
        await pilot.press("ctrl+n")
        prompt = app.screen.query_one(PromptInput)
        prompt.load_text("Write a Python function that counts words in a file")
        prompt.action_send()  # (pilot.press would wait for the whole reply to finish)
        for _ in range(200):
            await pilot.pause(0.05)
            if len(app.queue.live.get(app.screen.conversation_id, "")) > len(REPLY) * 0.6:
                break
        app.save_screenshot(str(OUT / "chat-streaming.svg"))
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        await pilot.press("ctrl+f")
        for key in "python":
            await pilot.press(key)
        await pilot.pause(0.3)
        app.save_screenshot(str(OUT / "sidebar-search.svg"))
        await pilot.press("escape")
        await pilot.press("f1")
        await pilot.pause(0.3)
        app.save_screenshot(str(OUT / "help.svg"))
        await pilot.press("escape")
        await pilot.press("ctrl+s")
        await pilot.pause(0.5)
        app.save_screenshot(str(OUT / "settings.svg"))
        await pilot.press("escape")
        await pilot.pause(0.2)
        app.action_setup_model()
        await pilot.pause(0.8)
        app.save_screenshot(str(OUT / "wizard.svg"))
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
