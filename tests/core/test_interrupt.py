"""Ctrl+C in the command line: remembered even where a library swallows it, and the modules
the CLI and the app import at start leave torch for later (an interrupt inside torch's import
aborted the process, exit -6)."""

import os
import signal
import subprocess
import sys
import threading

import pytest

from qwen_tui import interrupt


def test_a_swallowed_ctrl_c_is_still_seen_and_stops_the_reply_to_come():
    previous = interrupt.install()
    try:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # Python delivers it at the next bytecode boundary
                pass
        except KeyboardInterrupt:  # as a bare ``except:`` in a library would
            pass
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
        cancel = threading.Event()
        interrupt.route_to(cancel)
        assert cancel.is_set()  # the reply that starts now stops at once
        os.kill(os.getpid(), signal.SIGINT)  # routed: no KeyboardInterrupt any more
    finally:
        interrupt.restore(previous)
    assert signal.getsignal(signal.SIGINT) is previous
    interrupt.install()  # a new command starts with nothing remembered
    try:
        interrupt.check()
    finally:
        interrupt.restore(previous)


def test_the_start_of_the_cli_and_the_app_does_not_import_torch():
    code = (
        "import sys, qwen_tui.cli, qwen_tui.commands, qwen_tui.engine.bigdl.engine, "
        "qwen_tui.engine.runtime.memory, qwen_tui.ui.app; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
