"""Load `qwen-tui serve` on loopback as a hostile client would, and report the server's memory.

Starts ``qwen-tui serve`` (on a model folder, or on the tiny random model built in a temporary
folder), then at once: IDLE sockets that connect and send nothing, and POSTS concurrent
requests of BODY bytes each (valid JSON, one user message filling the body; ``--shape
objects`` fills it with empty JSON objects instead, the costliest JSON to parse). It asks
``/health`` while they are open, and reports the statuses, whether /health answered, the
server's resident memory after loading and its peak during the load (VmHWM, reset once the
model is loaded: loading's own peak is reported apart).

    .venv/bin/python scripts/serve_load.py [--model-path DIR] [--posts 100] [--idle 1000]
        [--body 8000000] [--shape text|objects] [-- SERVE FLAGS...]

A benchmark, not a test: the numbers depend on the machine. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def tiny_model(root: Path) -> Path:
    from qwen_tui.store.quantize import quantize_folder
    from qwen_tui.testing.tiny import build_tiny_qwen2

    source = build_tiny_qwen2(root / "src")
    return quantize_folder(source, "tiny", "sym_int4", root=root / "store", measure=False).path


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid``, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return fields


def body_of(size: int, shape: str, model: str) -> bytes:
    named = json.dumps(model).encode()
    head = b'{"model": %s, "max_tokens": 1, "messages": [{"role": "user", "content": "' % named
    if shape == "text":
        tail = b'"}]}'
        return head + b"x" * (size - len(head) - len(tail)) + tail
    head = b'{"model": %s, "messages": [{"role": "user", "content": "hi"}], "junk": [' % named
    return head + b"{}," * ((size - len(head) - 4) // 3) + b"{}]}"


def post(host: str, port: int, body: bytes, statuses: collections.Counter) -> None:
    """One POST sent as a client would, 64 KiB at a time; its status, even when the server
    answers before the body is all sent."""
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection((host, port), timeout=600) as sock:
            try:
                sock.sendall(head)
                for at in range(0, len(body), 1 << 16):
                    sock.sendall(body[at : at + (1 << 16)])
            except OSError:
                pass  # the server has answered and closed: read what it said
            response = http.client.HTTPResponse(sock)
            response.begin()
            response.read()
            statuses[response.status] += 1
    except (OSError, http.client.HTTPException) as exc:
        statuses[type(exc).__name__] += 1


def health(host: str, port: int) -> int | str:
    try:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        connection.request("GET", "/health")
        return connection.getresponse().status
    except OSError as exc:
        return type(exc).__name__


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-path", type=Path)
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--body", type=int, default=8_000_000, help="bytes of each POST")
    parser.add_argument("--shape", choices=("text", "objects"), default="text")
    parser.add_argument("serve_flags", nargs="*", help="more flags for qwen-tui serve")
    args = parser.parse_args()

    temporary = Path(tempfile.mkdtemp(prefix="qwen-tui-load-"))
    model = args.model_path or tiny_model(temporary)
    env = {**os.environ, "QWEN_TUI_LOG_DIR": str(temporary / "log")}
    server = subprocess.Popen(
        [sys.executable, "-m", "qwen_tui", "serve", "--model-path", str(model), "--port", "0"]
        + args.serve_flags,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = server.stderr.readline()  # written once the port listens
        if " at http://" not in line:
            print(line + server.stderr.read(), file=sys.stderr)
            return 1
        host, port = line.split(" at http://", 1)[1].split("/v1")[0].rsplit(":", 1)
        loaded = memory(server.pid)
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # VmHWM from here on
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("GET", "/v1/models")
        served = json.loads(connection.getresponse().read())["data"][0]["id"]
        body = body_of(args.body, args.shape, served)

        idle = []
        for _ in range(args.idle):
            idle.append(socket.create_connection((host, int(port)), timeout=30))
        health_idle = health(host, int(port))
        statuses: collections.Counter = collections.Counter()
        posts = [
            threading.Thread(target=post, args=(host, int(port), body, statuses))
            for _ in range(args.posts)
        ]
        started = time.monotonic()
        for thread in posts:
            thread.start()
        health_busy = health(host, int(port))
        for thread in posts:
            thread.join()
        seconds = time.monotonic() - started
        still_open = sum(1 for s in idle if _open(s))
        for sock in idle:
            sock.close()
        print(
            json.dumps(
                {
                    "model": str(model),
                    "posts": args.posts,
                    "body_bytes": len(body),
                    "shape": args.shape,
                    "idle_sockets": args.idle,
                    "idle_still_open_after_posts": still_open,
                    "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
                    "posts_seconds": round(seconds, 2),
                    "health_with_idle_sockets": health_idle,
                    "health_during_posts": health_busy,
                    "health_after": health(host, int(port)),
                    "rss_after_load_mib": loaded["VmRSS"],
                    "peak_rss_loading_mib": loaded["VmHWM"],
                    "peak_rss_under_load_mib": memory(server.pid)["VmHWM"],
                },
                indent=2,
            )
        )
        return 0
    finally:
        server.terminate()
        server.wait(60)


def _open(sock: socket.socket) -> bool:
    """Whether the server still holds this connection open (nothing to read, no EOF)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
