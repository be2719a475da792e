"""What the app's tool tests share: the real app on the tiny Qwen3 scripted to call
``tests__add`` (tests/tool_caller.py), run by our decoder, with the real MCP server of the
tests (tests/mcp_server.py) as its [[mcp]] server "tests"."""

from __future__ import annotations

import shutil

import tool_caller
from mcp_server import stdio_entry
from pilot import until
from textual.widgets import Static

from qwen_tui import config, paths
from qwen_tui.history import ConversationStore
from qwen_tui.ui.screens.tool_approval import ToolApprovalScreen
from qwen_tui.ui.widgets.tool_call import ToolCallView, ToolResultView

SIZE = (100, 36)
CALL = {"a": 2, "b": 3}  # what the scripted model asks tests__add


def install(tmp_path_factory) -> None:
    model = tool_caller.quantized(tmp_path_factory)
    target = paths.models_dir() / model.folder_name
    if not target.exists():
        shutil.copytree(model.path, target)


def tool_settings(entry=None, steps: int = 1) -> config.Settings:
    return config.Settings(
        temperature=0.0,
        max_new_tokens=48,
        repetition_penalty=1.0,
        mcp=(entry or stdio_entry("tests"),),
        tool_steps=steps,
    )


def chat_with_tools(servers=("tests",)) -> tuple[ConversationStore, int]:
    """A history holding one chat with those servers on (and thinking off: the scripted model
    calls its tool when it does not think); the app opens it first."""
    store = ConversationStore(paths.history_db())
    params = {"enable_thinking": False, "tools": list(servers)}
    return store, store.create(params=params).id


async def asked(pilot) -> ToolApprovalScreen:
    """Until the app asks about a call; the question."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, ToolApprovalScreen), 60, "the question")
    await pilot.pause()
    return app.screen


def shown_text(widget) -> str:
    """What a widget shows, as text (rendered, not the string it was given)."""
    return str(widget.render())


def call_views(app) -> list[ToolCallView]:
    return list(app.chat.chat_view.query(ToolCallView))


def head(result: ToolResultView) -> str:
    return shown_text(result.query_one("#head", Static))


def body(result: ToolResultView) -> str:
    return shown_text(result.query_one("#body", Static))


def roles(store: ConversationStore, cid: int) -> list[str]:
    return [m.role for m in store.messages(cid)]
