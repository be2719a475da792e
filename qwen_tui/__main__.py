"""``python -m qwen_tui`` and the ``qwen-tui`` command.

Ctrl+C while the command's modules are still being imported (a second or more on a busy
machine) is the same clean stop as later: one line and exit status 130, no traceback."""

import sys


def run() -> int:
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("qwen-tui: interrupted.\n")
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
