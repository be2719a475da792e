"""MCP servers: their tools offered to a chat's model, through the official ``mcp`` SDK.

- ``entries``: the ``[[mcp]]`` tables of config.toml (and ``mcpServers`` JSON files).
- ``client.McpClient``: the synchronous API the CLI and the app's workers use::

      with McpClient(settings.mcp) as servers:
          for status in servers.start():           # every enabled server; waits for each
              print(status.line())                 # "files (ready, 14 tools)", or why not
          tools = servers.tool_specs(["files"])    # ToolSpecs: engine.chat(..., tools=tools)
          result = servers.call("files__read_text_file", {"path": "notes.md"}, cancel=event)
          result.text, result.ok                   # ok=False: one sentence, never a traceback

  ``origin(name)`` says which server and tool a name stands for (for an approval prompt).
  ``start([name])`` starts a failed or stopped server again; ``close()`` stops them all.
- ``connection``: one server held open on the client's event-loop thread.
- ``command``: ``qwen-tui mcp list`` and ``mcp import``.

The loop that lets a model call tools until it answers is ``qwen_tui.chat.tool_loop``; it
takes the client as its ``ToolRunner``. Importing this package does not import the SDK.
"""
