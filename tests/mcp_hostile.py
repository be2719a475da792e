"""An MCP server that gets its results wrong, on stdio, written by hand (the SDK would not
let a server send these): it starts and lists its tools (one named with characters a
function name may not hold, described with a terminal escape), then answers every call with
``content`` that is not a list of blocks. The client must say so in a sentence and keep the
server."""

from __future__ import annotations

import json
import sys


def answer(message: dict) -> dict | None:
    method, ident = message.get("method"), message.get("id")
    if ident is None:
        return None  # a notification
    if method == "initialize":
        result = {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "hostile", "version": "1"},
        }
    elif method == "tools/list":
        schema = {"type": "object", "properties": {}}
        result = {
            "tools": [
                {"name": "garbled", "description": "x", "inputSchema": schema},
                {"name": "odd name/é", "description": "\x1b[2Jclears", "inputSchema": schema},
            ]
        }
    elif method == "tools/call":
        result = {"content": "not a list of blocks", "isError": "maybe"}
    else:
        error = {"code": -32601, "message": f"no method {method}"}
        return {"jsonrpc": "2.0", "id": ident, "error": error}
    return {"jsonrpc": "2.0", "id": ident, "result": result}


for line in sys.stdin:
    reply = answer(json.loads(line))
    if reply is not None:
        print(json.dumps(reply), flush=True)
