"""The MCP client against real servers written with the official SDK (tests/mcp_server.py),
on stdio and on streamable HTTP: tools listed as namespaced ToolSpecs, calls and their text,
and every way a server can let us down (not starting, an error, no answer, dying mid-call)
as one sentence while the other servers go on. No server process outlives the client."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from mcp_server import descendants, free_port, http_server, stdio_entry

from qwen_tui.mcp.client import McpClient
from qwen_tui.mcp.entries import McpEntry

HOSTILE = Path(__file__).parents[1] / "mcp_hostile.py"


@pytest.fixture(scope="module")
def http_url():
    with http_server() as (url, _child):
        yield url


def test_stdio_and_http_servers_list_their_tools_under_their_own_names(http_url):
    with McpClient([stdio_entry("local"), McpEntry("remote", url=http_url)]) as client:
        statuses = client.start()
        assert [(s.name, s.state, s.detail) for s in statuses] == [
            ("local", "ready", ""),
            ("remote", "ready", ""),
        ]
        names = [spec.name for spec in client.tool_specs()]
        assert "local__add" in names and "remote__add" in names  # the same tool, apart
        add = next(s for s in client.tool_specs(["remote"]) if s.name == "remote__add")
        assert add.description == "Add two whole numbers."
        assert add.parameters["properties"].keys() == {"a", "b"}
        assert {s.name.split("__")[0] for s in client.tool_specs(["local"])} == {"local"}
        origin = client.origin("remote__add")
        assert (origin.server, origin.tool) == ("remote", "add")

        assert client.call("local__add", {"a": 2, "b": 40}).text == "42"
        http = client.call("remote__weather", {"city": "Paris"})
        assert http.ok and http.text == "Sunny, 21 °C in Paris."


def test_a_tool_error_is_its_message_and_the_server_goes_on():
    with McpClient([stdio_entry()]) as client:
        client.start()
        result = client.call("tests__refuse", {"reason": "the disk is full"})
        assert not result.ok  # isError, and the server's own text
        assert result.text == "Error executing tool refuse: the disk is full"
        assert client.call("tests__add", {"a": 1, "b": 1}).text == "2"
        unknown = client.call("tests__nothing", {})
        assert not unknown.ok and unknown.text == "There is no tool called tests__nothing."


def test_a_server_that_answers_wrongly_is_a_sentence_and_stays():
    hostile = McpEntry("odd", command=sys.executable, args=(str(HOSTILE),))
    with McpClient([hostile]) as client:
        [status] = client.start()
        assert [t.name for t in status.tools] == ["odd__garbled", "odd__odd_name__"]
        assert client.origin("odd__odd_name__").tool == "odd name/é"
        result = client.call("odd__garbled", {})
        assert not result.ok
        assert result.text == "odd's garbled answered in a shape MCP does not allow."
        assert client.status("odd").state == "ready"


def test_a_long_result_is_cut_saying_so():
    with McpClient([stdio_entry()], result_limit=100) as client:
        client.start()
        result = client.call("tests__long_text", {"characters": 250})
        assert result.ok
        assert result.text == "x" * 100 + "\n[... 150 more characters left out]"


def test_servers_that_cannot_start_are_one_sentence_each_and_the_rest_work(tmp_path):
    port = free_port()  # nothing listens there
    entries = [
        McpEntry("missing", command="no-such-mcp-server-here"),
        McpEntry("exits", command=sys.executable, args=("-c", _EXITS)),
        McpEntry("nobody", url=f"http://127.0.0.1:{port}/mcp"),
        McpEntry("unset", command=sys.executable, env={"KEY": "${QWEN_TUI_TEST_UNSET}"}),
        stdio_entry("good"),
    ]
    with McpClient(entries) as client:
        statuses = {s.name: s for s in client.start()}
        assert {n: s.state for n, s in statuses.items()} == {
            "missing": "failed",
            "exits": "failed",
            "nobody": "failed",
            "unset": "failed",
            "good": "ready",
        }
        assert statuses["missing"].detail == (
            "there is no program 'no-such-mcp-server-here' (is it installed and on PATH?)"
        )
        assert statuses["exits"].detail == (
            "it exited before it answered (its last words: no config file, giving up)"
        )
        assert statuses["nobody"].detail == f"nothing answers at http://127.0.0.1:{port}/mcp"
        assert statuses["unset"].detail == (
            "the environment variable QWEN_TUI_TEST_UNSET is not set"
        )
        assert statuses["missing"].line() == (
            "missing (failed: there is no program 'no-such-mcp-server-here' "
            "(is it installed and on PATH?))"
        )
        assert all(s.name.startswith("good__") for s in client.tool_specs())
        assert client.call("good__add", {"a": 3, "b": 4}).text == "7"


_EXITS = "import sys; print('no config file, giving up', file=sys.stderr); sys.exit(3)"


def test_a_server_that_never_answers_times_out_at_start_and_is_killed(tmp_path):
    before = descendants()
    pid_file = tmp_path / "pid"
    silent = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
    entry = McpEntry("silent", command=sys.executable, args=("-c", silent, str(pid_file)))
    with McpClient([entry, stdio_entry()], start_timeout=3) as client:
        statuses = {s.name: s for s in client.start()}
        assert statuses["silent"].state == "failed"
        assert statuses["silent"].detail == "it did not answer within 3 s"
        assert statuses["tests"].state == "ready"
        assert not _alive(int(pid_file.read_text()))
    assert descendants() == before


def test_a_call_that_does_not_answer_times_out_and_the_server_stays_usable(http_url):
    entries = [stdio_entry(timeout=1), McpEntry("remote", url=http_url, timeout=1)]
    with McpClient(entries) as client:
        client.start()
        for name in ("tests", "remote"):
            result = client.call(f"{name}__wait_forever", {})
            assert not result.ok
            assert result.text == f"{name}'s wait_forever did not answer within 1 s."
            assert client.call(f"{name}__add", {"a": 1, "b": 2}).text == "3"


def test_cancel_ends_a_call_and_the_server_stays_usable():
    with McpClient([stdio_entry()]) as client:
        client.start()
        cancel = threading.Event()
        timer = threading.Timer(0.2, cancel.set)
        timer.start()
        result = client.call("tests__wait_forever", {}, cancel=cancel)
        assert not result.ok and result.text == "Stopped while wait_forever ran."
        assert client.call("tests__add", {"a": 1, "b": 2}).text == "3"
        assert (
            client.call("tests__add", {"a": 1, "b": 2}, cancel=cancel).text == "Not run: stopped."
        )


def test_a_server_that_dies_mid_call_is_one_sentence_and_can_be_started_again():
    with http_server() as (own_url, child):
        entries = [stdio_entry("local"), McpEntry("remote", url=own_url), stdio_entry("other")]
        with McpClient(entries) as client:
            client.start()
            died = client.call("local__crash", {})
            assert not died.ok
            assert died.text == (
                "The MCP server local is not running: it stopped during a call "
                "(its last words: crashing on purpose)."
            )
            assert client.status("local").state == "failed"
            assert client.tool_specs(["local"]) == []  # its tools are no longer offered
            again = client.call("local__add", {"a": 1, "b": 2})
            assert not again.ok and again.text.startswith("The MCP server local is not running")

            remote = client.call("remote__crash", {})
            assert not remote.ok and remote.text.startswith("The MCP server remote is not running")
            assert child.wait(timeout=30) == 7
            assert client.call("other__add", {"a": 1, "b": 2}).text == "3"

            [restarted] = client.start(["local"])
            assert restarted.state == "ready"
            assert client.call("local__add", {"a": 2, "b": 2}).text == "4"


def test_close_leaves_no_server_process_behind():
    before = descendants()
    client = McpClient([stdio_entry("one"), stdio_entry("two")])
    client.start()
    pids = [int(client.call(f"{n}__pid", {}).text) for n in ("one", "two")]
    assert all(_alive(pid) for pid in pids)
    client.close()
    assert not any(_alive(pid) for pid in pids)
    assert descendants() == before
    client.close()  # twice is fine


def test_a_program_that_forgets_close_leaves_no_server_behind():
    """Even a server that outlives its stdin (it would be orphaned when we exit) is stopped."""
    import subprocess

    script = (
        "import sys\n"
        f"sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r})\n"
        "from mcp_server import stdio_entry, HERE\n"
        "from qwen_tui.mcp.client import McpClient\n"
        "client = McpClient([stdio_entry(args=(str(HERE), 'stubborn'))])\n"
        "client.start()\n"
        "print(client.call('tests__pid', {}).text, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.strip())
    try:
        assert not _alive(pid)
    finally:
        if _alive(pid):
            os.kill(pid, 9)


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie, dead but not yet reaped by its parent, does not)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
