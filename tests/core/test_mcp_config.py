"""[[mcp]] tables in config.toml (the fields of the common mcpServers JSON): read with one
sentence per bad entry naming its table, saved keeping the file's comments; tool_steps; an
mcpServers JSON file turned into entries."""

from __future__ import annotations

import json

import pytest

from qwen_tui import config
from qwen_tui.mcp.entries import McpEntry, expand, from_json

GOOD = """\
tool_steps = 3

[[mcp]]
name = "files"   # my notes
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/notes"]
env = { LOG_LEVEL = "warn" }

[[mcp]]
name = "search"
url = "http://localhost:8931/mcp"
headers = { Authorization = "Bearer ${SEARCH_TOKEN}" }
enabled = false
timeout = 120
"""

BAD = """\
[[mcp]]
name = "both"
command = "x"
url = "http://a/mcp"

[[mcp]]
name = "neither"

[[mcp]]
name = "has space"
command = "x"

[[mcp]]
name = "args-text"
command = "x"
args = "-y pkg"

[[mcp]]
name = "bad-url"
url = "localhost:8931"

[[mcp]]
name = "sse"
type = "sse"
url = "http://a/sse"

[[mcp]]
name = "noted"
command = "x"
headers = { A = "b" }
colour = "blue"

[[mcp]]
name = "files"
command = "y"

[[mcp]]
command = "z"
enabled = "yes"
"""

FILES = McpEntry(
    "files",
    command="npx",
    args=("-y", "@modelcontextprotocol/server-filesystem", "/home/me/notes"),
    env={"LOG_LEVEL": "warn"},
)
SEARCH = McpEntry(
    "search",
    url="http://localhost:8931/mcp",
    headers={"Authorization": "Bearer ${SEARCH_TOKEN}"},
    enabled=False,
    timeout=120.0,
)


def write(text: str):
    path = config.paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_good_entries_are_read():
    write(GOOD)
    settings, warnings = config.load()
    assert warnings == []
    assert settings.mcp == (FILES, SEARCH)
    assert settings.tool_steps == 3
    assert config.Settings().tool_steps == 8
    assert FILES.call_timeout == 60 and SEARCH.call_timeout == 120
    assert FILES.where() == "npx -y @modelcontextprotocol/server-filesystem /home/me/notes"


def test_each_bad_entry_is_one_sentence_naming_its_table_and_the_rest_still_loads():
    write(GOOD + "\n" + BAD)
    settings, warnings = config.load()
    assert [e.name for e in settings.mcp] == ["files", "search", "noted"]
    assert warnings == [
        "[[mcp]] 'both': give either command (a program to start) or url, not both; left out.",
        "[[mcp]] 'neither': it needs a command to start or the url of a running server; left out.",
        "[[mcp]] 'has space': it needs a name of up to 32 letters, digits, _ or - (it "
        "prefixes the tools' names); left out.",
        '[[mcp]] \'args-text\': args must be a list of text values, like ["-y", "package"]; '
        "left out.",
        "[[mcp]] 'bad-url': url must be an http(s) URL like http://localhost:8931/mcp, not "
        "'localhost:8931'; left out.",
        "[[mcp]] 'sse': the old SSE transport is not supported; give its streamable HTTP url; "
        "left out.",
        "[[mcp]] 'noted': unknown key 'colour' ignored.",
        "[[mcp]] 'noted': headers are for a url; ignored.",
        "[[mcp]] 'files': another [[mcp]] has this name; left out.",
        "[[mcp]] #11: it needs a name of up to 32 letters, digits, _ or - (it prefixes the "
        "tools' names); left out.",
    ]


def test_tool_steps_out_of_range_is_a_warning_and_the_default():
    settings, warnings = config.from_mapping({"tool_steps": 0})
    assert settings.tool_steps == 8
    assert warnings == [
        "tool_steps must be a whole number from 1 to 100, not 0. Using the default."
    ]
    assert config.updated(settings, tool_steps="12").tool_steps == 12
    with pytest.raises(ValueError, match="tool_steps must be"):
        config.updated(settings, tool_steps=1.5)


def test_saving_keeps_comments_and_the_tables_it_could_not_read():
    path = write(GOOD + "\n" + BAD)
    settings, _ = config.load()
    notes = McpEntry("notes", command="uvx", args=("mcp-notes",))
    config.save(config.updated(settings, mcp=(*settings.mcp, notes)))
    text = path.read_text(encoding="utf-8")
    assert text.startswith(GOOD)  # the tables that did not change stay as written
    assert 'name = "both"' in text and 'colour = "blue"' in text  # left for the user
    assert text.rstrip().endswith('[[mcp]]\nname = "notes"\ncommand = "uvx"\nargs = ["mcp-notes"]')
    again, _ = config.load()
    assert again.mcp == (FILES, SEARCH, config.mcp_entries.find(settings.mcp, "noted"), notes)

    switched = McpEntry(**{**SEARCH.__dict__, "enabled": True})
    config.save(config.updated(again, mcp=(FILES, switched)))
    text = path.read_text(encoding="utf-8")
    assert "# my notes" in text and 'name = "notes"' not in text
    assert (
        '[[mcp]]\nname = "search"\nurl = "http://localhost:8931/mcp"\n'
        'headers = {Authorization = "Bearer ${SEARCH_TOKEN}"}\ntimeout = 120\n'
    ) in text  # rewritten in its place: enabled = false is gone
    assert config.load()[0].mcp == (FILES, switched)
    config.save(config.updated(config.load()[0], mcp=()))
    text = path.read_text(encoding="utf-8")
    assert "# my notes" not in text and 'name = "search"' not in text
    assert 'name = "both"' in text  # what could not be read stays for the user to fix


def test_a_new_file_gets_mcp_tables():
    config.save(config.Settings(mcp=(FILES, SEARCH), tool_steps=4))
    assert config.load() == (config.Settings(mcp=(FILES, SEARCH), tool_steps=4), [])


def test_environment_variables_are_filled_in_when_used(monkeypatch):
    monkeypatch.setenv("SEARCH_TOKEN", "t0k")
    assert expand("Bearer ${SEARCH_TOKEN}") == "Bearer t0k"
    assert expand("$HOME stays") == "$HOME stays"
    monkeypatch.delenv("SEARCH_TOKEN")
    with pytest.raises(ValueError, match="the environment variable SEARCH_TOKEN is not set"):
        expand("Bearer ${SEARCH_TOKEN}")


def test_an_mcp_servers_json_file_becomes_entries():
    claude = json.loads(
        """{"mcpServers": {
            "filesystem": {"command": "npx",
                           "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
            "My Search": {"url": "http://localhost:8931/mcp", "headers": {"X-Key": "k"}},
            "off": {"command": "uvx", "args": ["x"], "disabled": true},
            "typed": {"type": "http", "url": "http://h/mcp"},
            "old": {"type": "sse", "url": "http://h/sse"},
            "broken": {"args": []}
        }}"""
    )
    entries, warnings = from_json(claude)
    assert entries == [
        McpEntry(
            "filesystem",
            command="npx",
            args=("-y", "@modelcontextprotocol/server-filesystem", "/tmp"),
        ),
        McpEntry("My-Search", url="http://localhost:8931/mcp", headers={"X-Key": "k"}),
        McpEntry("off", command="uvx", args=("x",), enabled=False),
        McpEntry("typed", url="http://h/mcp"),
    ]
    assert warnings == [
        "'My Search': named 'My-Search' here.",
        "'old': the old SSE transport is not supported; give its streamable HTTP url; left out.",
        "'broken': it needs a command to start or the url of a running server; left out.",
    ]
    assert from_json({"servers": {"a": {"command": "b"}}})[0] == [McpEntry("a", command="b")]
    assert from_json([1, 2]) == ([], ['the file has no "mcpServers" object of servers.'])
