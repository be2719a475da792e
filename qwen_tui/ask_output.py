"""What `qwen-tui ask` writes as a reply streams: the answer to stdout, the thinking to
stderr (dim on a terminal unless NO_COLOR is set, plain otherwise), so `ask … | head` and
scripts get only the answer and a reader sees the thought first.

A reader that closes stdout early (`| head -1`) stops the reply: ``cancel`` is set and the
BrokenPipeError goes on up (``cli.main`` ends quietly with 141). Stderr that cannot be
written (closed) only stops the thinking from being shown.
"""

from __future__ import annotations

import os
import threading
from typing import TextIO

DIM, RESET = "\x1b[2m", "\x1b[0m"


class AskOutput:
    def __init__(
        self, out: TextIO, err: TextIO, cancel: threading.Event, show_thinking: bool = True
    ) -> None:
        self.out, self.err, self.cancel = out, err, cancel
        self.show_thinking = show_thinking
        self.terminal = _is_terminal(err)
        self.dim = self.terminal and not os.environ.get("NO_COLOR")
        self.thinking = False  # a thought is being written on stderr
        self.err_broken = False

    def answer(self, piece: str) -> None:
        self.end_thinking()
        try:
            self.out.write(piece)
            self.out.flush()
        except BrokenPipeError:  # `ask ... | head -1`: stop generating, nobody reads on
            self.cancel.set()
            raise

    def thought(self, piece: str) -> None:
        if not self.show_thinking or self.err_broken:
            return
        self._err(piece if self.thinking or not self.dim else DIM + piece)
        self.thinking = True

    def end_thinking(self) -> None:
        """The thought is over (the answer begins, or the reply ended): close its line, and
        on a terminal leave a blank line before the answer."""
        if not self.thinking:
            return
        self.thinking = False
        self._err((RESET if self.dim else "") + ("\n\n" if self.terminal else "\n"))

    def _err(self, text: str) -> None:
        try:
            self.err.write(text)
            self.err.flush()
        except (OSError, ValueError):  # stderr closed: the answer still goes on
            self.err_broken = True


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False
