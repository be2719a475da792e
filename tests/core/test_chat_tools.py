"""A chat's tools without the UI (qwen_tui/chat/chat_tools.py): the servers a chat stores in
its params, read defensively; the shared client started only for the usable servers asked
for, and stoppable while it starts; a chat's calls limited to its own servers' tools."""

from __future__ import annotations

import threading

from mcp_server import stdio_entry

from qwen_tui import paths
from qwen_tui.chat.chat_tools import ChatTools, chosen_servers, set_chosen_servers
from qwen_tui.history import ConversationStore
from qwen_tui.mcp.entries import McpEntry


def test_a_chats_servers_are_read_from_its_params_whatever_an_import_put_there():
    assert chosen_servers({}) == ()
    assert chosen_servers({"tools": "files"}) == ()
    assert chosen_servers({"tools": ["files", 3, "", "files", None, "web"]}) == ("files", "web")


def test_switching_servers_keeps_the_chats_other_params():
    store = ConversationStore(paths.history_db())
    cid = store.create(params={"temperature": 0.2, "enable_thinking": False}).id
    set_chosen_servers(store, cid, ["web", "files", "web"])
    assert store.get(cid).params == {
        "temperature": 0.2,
        "enable_thinking": False,
        "tools": ["web", "files"],
    }
    set_chosen_servers(store, cid, [])
    assert store.get(cid).params == {"temperature": 0.2, "enable_thinking": False}


def test_only_usable_servers_start_and_a_chat_calls_only_its_own():
    made: list[list[str]] = []
    entries = [stdio_entry("mine"), stdio_entry("other"), McpEntry("off", "x", enabled=False)]

    def make(given):
        from qwen_tui.mcp.client import McpClient

        made.append([e.name for e in given])
        return McpClient(given)

    tools = ChatTools(entries, make)
    assert tools.status("mine") is None and made == []  # nothing is made before it is needed
    assert tools.usable(["off", "gone", "mine"]) == ["mine"]
    statuses = tools.start(["mine", "other", "off"])
    assert [(s.name, s.state) for s in statuses] == [("mine", "ready"), ("other", "ready")]
    runner = tools.runner(["mine"])
    assert runner.origin("other__add") is None
    refused = runner.call("other__add", {"a": 1, "b": 2})
    assert not refused.ok and refused.text == "There is no tool called other__add."
    assert runner.call("mine__add", {"a": 1, "b": 2}).text == "3"
    assert {s.name for s in tools.specs(["mine"])} == {s.name for s in statuses[0].tools}
    tools.close()
    assert made == [["mine", "other", "off"]]  # one client for every chat
    assert tools.status("mine") is None


def test_a_stop_ends_the_wait_for_servers_that_are_still_starting():
    from qwen_tui.mcp.client import McpClient

    never = McpEntry("slow", command="sleep", args=("600",))  # never answers initialize
    tools = ChatTools([never], lambda given: McpClient(given, start_timeout=3))
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    try:
        assert tools.start(["slow"], cancel) is None
    finally:
        tools.close()
