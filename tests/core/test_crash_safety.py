"""A reply streaming in a process that is killed (SIGKILL, no chance to clean up) is found
again with the real save interval: marked stopped, its saved text a prefix of what was
streamed, and nothing lost but what came in the last SAVE_EVERY seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import qwen_tui
from qwen_tui import paths
from qwen_tui.history import ConversationStore

CHILD = Path(__file__).parents[1] / "crash_child.py"
SAVE_EVERY = 0.5  # what README promises ("saved while it streams, every half second")


def test_a_killed_process_loses_at_most_the_save_interval(installed_model):
    env = {**os.environ, "PYTHONPATH": str(Path(qwen_tui.__file__).parents[1])}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(installed_model)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    pieces: list[tuple[float, str]] = []
    try:
        cid = json.loads(child.stdout.readline())["conversation"]
        for line in child.stdout:
            event = json.loads(line)
            assert "done" not in event, "the reply ended before it could be killed"
            pieces.append((event["t"], event["piece"]))
            if pieces[-1][0] - pieces[0][0] > 4 * SAVE_EVERY:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    streamed = "".join(p for _, p in pieces)
    store = ConversationStore(paths.history_db())  # opening it marks what streamed stopped
    try:
        reply = store.messages(cid)[-1]
    finally:
        store.close()
    assert reply.role == "assistant" and reply.state == "stopped"
    assert streamed.startswith(reply.content)
    # piece i was added before piece i + 1 was announced, and the service saves when an add
    # comes SAVE_EVERY after its last save: every piece whose successor was announced
    # SAVE_EVERY before the second-to-last announcement (surely added) is on disk
    last_added = pieces[-2][0]
    must_have = "".join(
        p
        for (_, p), (t, _) in zip(pieces, pieces[1:], strict=False)
        if t <= last_added - SAVE_EVERY
    )
    assert must_have and reply.content.startswith(must_have), (len(reply.content), len(must_have))
