"""The reference filesystem server from npm (@modelcontextprotocol/server-filesystem, started
through npx as people configure it) behind our client and the tool loop. Skipped, with the
reason, where npx is missing or cannot fetch the package."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from mcp_server import descendants
from scripted_engine import ScriptedEngine, answer, calling

from qwen_tui.chat.tool_loop import run_tool_loop
from qwen_tui.chat.tools import Approval
from qwen_tui.engine.types import ChatMessage
from qwen_tui.mcp.client import McpClient
from qwen_tui.mcp.entries import McpEntry

PACKAGE = "@modelcontextprotocol/server-filesystem"


@pytest.fixture(scope="module")
def npx() -> str:
    found = shutil.which("npx")
    if found is None:
        pytest.skip("npx is not installed (Node.js), so the reference server cannot run")
    try:  # fetched once into npm's cache; later runs need no network
        fetched = subprocess.run(
            [found, "-y", f"--package={PACKAGE}", "-c", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npx could not fetch {PACKAGE} within 5 minutes")
    if fetched.returncode != 0:
        why = (fetched.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"npx could not fetch {PACKAGE} (no network to the npm registry?): {why}")
    return found


def test_the_reference_filesystem_server_reads_within_its_folder_only(npx, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.md").write_text("- water the plants\n", encoding="utf-8")
    before = descendants()
    entry = McpEntry("files", command=npx, args=("-y", PACKAGE, str(folder)))
    with McpClient([entry]) as client:
        [status] = client.start()
        assert status.state == "ready", status.detail
        names = {spec.name for spec in status.tools}
        assert {"files__read_text_file", "files__list_directory"} <= names
        listing = client.call("files__list_directory", {"path": str(folder)})
        assert listing.ok and "todo.md" in listing.text
        outside = client.call("files__read_text_file", {"path": "/etc/hostname"})
        assert not outside.ok and "denied" in outside.text.lower()

        path = str(folder / "todo.md")
        engine = ScriptedEngine(
            calling(("files__read_text_file", f'{{"path": "{path}"}}')), answer("Water them.")
        )
        outcome = run_tool_loop(
            engine,
            [ChatMessage("user", "What is on my list?")],
            client.tool_specs(),
            client,
            lambda call, origin: Approval.ONCE,
        )
        assert outcome.ended == "answered"
        assert outcome.messages[1] == ChatMessage(
            "tool", "- water the plants\n", tool_call_id="call_0", name="files__read_text_file"
        )
    assert descendants() == before  # npx and the node process under it are gone
