"""Render the README's thinking screenshot (SVG) from the real app and a real engine: the
scripted tiny Qwen3 of the tests (``qwen_tui.testing.tiny_qwen3``), quantized through the
store and run by our decoder. Two turns: the first reply's thought collapsed to its line, the
second's opened with f6.

    .venv/bin/python scripts/thinking_screenshot.py [OUT_DIR]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

OUT = Path(
    sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "screenshots"
)
TMP = Path(tempfile.mkdtemp(prefix="qwen-tui-thinking-shot-"))
for name in ("CONFIG", "DATA", "CACHE", "LOG"):
    os.environ[f"QWEN_TUI_{name}_DIR"] = str(TMP / name.lower())

from qwen_tui import config, paths  # noqa: E402
from qwen_tui.engine.bigdl.engine import BigdlEngine  # noqa: E402
from qwen_tui.history import ConversationStore  # noqa: E402
from qwen_tui.store.quantize import quantize_folder  # noqa: E402
from qwen_tui.testing.tiny_qwen3 import build_tiny_qwen3  # noqa: E402
from qwen_tui.ui.app import QwenApp  # noqa: E402
from qwen_tui.ui.widgets.prompt_input import PromptInput  # noqa: E402


async def until_idle(app, pilot) -> None:
    for _ in range(600):
        await pilot.pause(0.05)
        if app.queue.current is None and not app.queue.pending and not app.queue.running:
            return


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    source = build_tiny_qwen3(TMP / "src", scripted=True)
    model = quantize_folder(source, "qwen3-demo", "sym_int4", measure=False)
    store = ConversationStore(paths.history_db())
    settings = config.Settings(temperature=0.0, max_new_tokens=40, model=model.folder_name)
    app = QwenApp(
        settings=settings,
        store=store,
        engine_factory=lambda m, s: BigdlEngine(m.path, threads=1, kv_cache_mb=64),
        open_wizard=False,
        save_settings=lambda s: None,
    )
    async with app.run_test(size=(100, 24)) as pilot:
        for _ in range(400):
            await pilot.pause(0.05)
            if app.engine_state == "ready":
                break
        for text in ("What is 2+2?", "And 3+3? Show your reasoning."):
            prompt = app.screen.query_one(PromptInput)
            prompt.cursor_blink = False
            prompt.load_text(text)
            prompt.action_send()
            await until_idle(app, pilot)
        await pilot.press("f6")  # the newest thought opens
        await pilot.pause(0.3)
        app.save_screenshot(str(OUT / "thinking.svg"))
    print(f"screenshot written to {OUT / 'thinking.svg'}")


if __name__ == "__main__":
    asyncio.run(main())
