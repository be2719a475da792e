"""Render the README's screenshots (SVG) from the real app and a real model.

Every reply in them is written by the model, greedily (temperature 0), so a rerun on the
same model draws the same text; the history is made by asking it, in the app, first. The
model is a local one (quantize the real Qwen2.5-Coder-0.5B first: ``../shared/real-model/
fetch.sh``, then ``qwen-tui quantize FILE.gguf --name coder``); the config and the history
are temporary.

    .venv/bin/python scripts/screenshots.py [--model NAME] [OUT_DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

TMP = Path(tempfile.mkdtemp(prefix="qwen-tui-shots-"))
for name in ("CONFIG", "DATA", "LOG"):  # not CACHE: the models are the user's own
    os.environ[f"QWEN_TUI_{name}_DIR"] = str(TMP / name.lower())

from qwen_tui import config, paths  # noqa: E402
from qwen_tui.errors import QwenTuiError  # noqa: E402
from qwen_tui.history import ConversationStore  # noqa: E402
from qwen_tui.store import local  # noqa: E402
from qwen_tui.ui.app import QwenApp  # noqa: E402
from qwen_tui.ui.widgets.prompt_input import PromptInput  # noqa: E402

HISTORY = (
    "What is the capital of Australia? One sentence.",
    "用一句话介绍北京。",
    "Explain Python list comprehensions in two sentences, with a one-line example.",
)
STREAMED = "Write a Python function that counts the words in a file."


async def until(pilot, done, seconds: float = 300) -> None:
    for _ in range(int(seconds / 0.05)):
        await pilot.pause(0.05)
        if done():
            return
    raise TimeoutError("the app did not get there in time")


def idle(app) -> bool:
    return app.queue.current is None and not app.queue.pending and not app.queue.running


async def ask(app, pilot, text: str) -> None:
    await pilot.press("ctrl+n")
    prompt = app.screen.query_one(PromptInput)
    prompt.load_text(text)
    prompt.action_send()  # (pilot.press would wait for the whole reply)
    await pilot.pause(0.2)


async def main(model: local.LocalModel, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    settings = config.Settings(model=model.folder_name, temperature=0.0, max_new_tokens=512)
    app = QwenApp(
        settings=settings,
        store=ConversationStore(paths.history_db()),
        open_wizard=False,
        save_settings=lambda s: None,
    )
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.engine_state == "ready")
        for widget in app.query("Input, TextArea"):
            widget.cursor_blink = False
        for text in HISTORY:
            await ask(app, pilot, text)
            await until(pilot, lambda: idle(app))
        await ask(app, pilot, STREAMED)
        await until(pilot, lambda: len(app.queue.live.get(app.screen.conversation_id, "")) > 350)
        app.save_screenshot(str(out / "chat-streaming.svg"))
        await until(pilot, lambda: idle(app))
        await pilot.pause(0.3)
        await pilot.press("ctrl+f")
        for key in "python":
            await pilot.press(key)
        await pilot.pause(0.3)
        app.save_screenshot(str(out / "sidebar-search.svg"))
        await pilot.press("escape")
        await pilot.press("f1")
        await pilot.pause(0.3)
        app.save_screenshot(str(out / "help.svg"))
        await pilot.press("escape")
        await pilot.press("ctrl+s")
        await pilot.pause(0.5)
        app.save_screenshot(str(out / "settings.svg"))
        await pilot.press("escape")
        await pilot.pause(0.2)
        app.action_setup_model()
        await pilot.pause(0.8)
        app.save_screenshot(str(out / "wizard.svg"))
    print(f"screenshots of {model.folder_name} written to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Render the README's screenshots.")
    parser.add_argument(
        "out", nargs="?", type=Path, default=Path(__file__).parent.parent / "screenshots"
    )
    parser.add_argument("--model", help="a local model's name (default: the first one)")
    args = parser.parse_args()
    try:
        chosen = local.choose(args.model, None)
    except (QwenTuiError, OSError) as exc:
        sys.exit(f"screenshots.py: {exc} Quantize a real model first (see this file's docstring).")
    asyncio.run(main(chosen, args.out))
