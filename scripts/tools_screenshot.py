"""Render the README's tool-call screenshot (SVG) from the real app, a real model and a real
MCP server: the model's call being asked about before it runs.

The model is a local one (quantize the real Qwen2.5-Coder-0.5B first, as for
``scripts/screenshots.py``); it writes the call itself, greedily. The MCP server is this
file run with ``serve`` (one tool, ``weather``, written with the official SDK); the config and
the history are temporary.

    .venv/bin/python scripts/tools_screenshot.py [--model NAME] [OUT_DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

QUESTION = "What's the weather in Paris right now?"


def serve() -> None:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("weather")

    @server.tool()
    def weather(city: str) -> str:
        """The weather in a city right now."""
        return f"{city}: sunny, 21 °C, light wind from the west."

    server.run()


async def until(pilot, done, seconds: float = 300) -> None:
    for _ in range(int(seconds / 0.05)):
        await pilot.pause(0.05)
        if done():
            return
    raise TimeoutError("the app did not get there in time")


async def main(model_name: str, out: Path) -> None:
    from qwen_tui import config, paths
    from qwen_tui.history import ConversationStore
    from qwen_tui.mcp.entries import McpEntry
    from qwen_tui.ui.app import QwenApp
    from qwen_tui.ui.screens.tool_approval import ToolApprovalScreen
    from qwen_tui.ui.widgets.prompt_input import PromptInput

    out.mkdir(parents=True, exist_ok=True)
    server = McpEntry("weather", command=sys.executable, args=(str(Path(__file__)), "serve"))
    settings = config.Settings(model=model_name, temperature=0.0, max_new_tokens=256, mcp=(server,))
    store = ConversationStore(paths.history_db())
    store.create(params={"tools": ["weather"]})  # the chat the app opens, its tools on
    app = QwenApp(settings=settings, store=store, open_wizard=False, save_settings=lambda s: None)

    def idle() -> bool:
        queue = app.queue
        return queue.current is None and not queue.pending and not queue.running

    async with app.run_test(size=(100, 32)) as pilot:
        await until(
            pilot, lambda: app.engine_state == "ready" and app.chat.status.tools.endswith(" tok")
        )
        for widget in app.query("Input, TextArea"):
            widget.cursor_blink = False
        await pilot.press("ctrl+b")  # the sidebar hidden: the status bar shows the tools' tokens
        prompt = app.screen.query_one(PromptInput)
        prompt.load_text(QUESTION)
        prompt.action_send()
        await until(pilot, lambda: isinstance(app.screen, ToolApprovalScreen))
        await pilot.pause(0.3)
        app.save_screenshot(str(out / "tool-approval.svg"))
        await pilot.press("escape")  # refuse and stop: the shot is the question
        await until(pilot, idle)
    print(f"the tool screenshot of {model_name} is written to {out}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve()
        sys.exit(0)
    parser = argparse.ArgumentParser(description="Render the README's tool-call screenshot.")
    parser.add_argument(
        "out", nargs="?", type=Path, default=Path(__file__).parent.parent / "screenshots"
    )
    parser.add_argument("--model", help="a local model's name (default: the first one)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qwen-tui-tools-shot-"))
    for name in ("CONFIG", "DATA", "LOG"):  # not CACHE: the models are the user's own
        os.environ[f"QWEN_TUI_{name}_DIR"] = str(tmp / name.lower())
    from qwen_tui.errors import QwenTuiError
    from qwen_tui.store import local

    try:
        chosen = local.choose(args.model, None)
    except (QwenTuiError, OSError) as exc:
        sys.exit(f"tools_screenshot.py: {exc} Quantize a real model first (see its docstring).")
    asyncio.run(main(chosen.folder_name, args.out))
