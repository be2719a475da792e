"""`bench --busy`: the same prompts again with a CPU hog beside them (one process spinning on
one core, as a compile or a second program would), and what decode keeps of its quiet speed.

Users run on shared boxes and small VMs, where the speed they see is the busy one. The hog is
a child Python spinning in a loop, started after the quiet runs and killed before the report,
whatever happens; its CPU time is reported, so a hog the machine never ran shows.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SPIN = "while True: pass"


@contextmanager
def cpu_hog() -> Iterator[Callable[[], float]]:
    """A process spinning on one core while inside; yields a function giving its CPU seconds."""
    import psutil

    hog = subprocess.Popen([sys.executable, "-c", SPIN], stdin=subprocess.DEVNULL,
                           start_new_session=True)  # fmt: skip
    process = psutil.Process(hog.pid)
    seen = [0.0]

    def cpu_s() -> float:
        try:
            times = process.cpu_times()
            seen[0] = times.user + times.system
        except psutil.Error:
            pass
        return seen[0]

    try:
        time.sleep(0.2)  # running before the first measurement
        yield cpu_s
    finally:
        cpu_s()
        hog.kill()
        hog.wait()


def measure_busy(quiet: list[dict], again: Callable[[], list[dict]], choice: Callable[[], dict]
                 ) -> dict:  # fmt: skip
    """``again()`` (the quiet prompts' measurement) run beside a hog; per prompt, the share of
    its quiet decode and first-token speed it kept."""
    with cpu_hog() as hog_cpu:
        started = time.perf_counter()
        rows = again()
        wall = time.perf_counter() - started
        hog_s = hog_cpu()
    for busy, calm in zip(rows, quiet, strict=True):
        busy["decode_kept"] = round(busy["decode_tok_s"] / calm["decode_tok_s"], 3)
        busy["first_token_kept"] = round(calm["first_token_s"] / busy["first_token_s"], 3)
    return {"prompts": rows, "hog_cpu_s": round(hog_s, 2), "wall_s": round(wall, 2),
            "threads": choice()}  # fmt: skip


def busy_lines(busy: dict) -> list[str]:
    if not busy:
        return []
    lines = [
        "",
        f"with a CPU hog on one core (it ran {busy['hog_cpu_s']} s of {busy['wall_s']} s); "
        f"decode threads {threads_text(busy['threads'])}",
        "prompt tokens  first token  decode tok/s  kept of quiet decode",
    ]
    lines += [
        f"{p['prompt_tokens']:>13}  {p['first_token_s']:>9.2f} s  {p['decode_tok_s']:>12.1f}"
        f"  {p['decode_kept']:>20.0%}"
        for p in busy["prompts"]
    ]
    return lines


def threads_text(choice: dict) -> str:
    if not choice:
        return "fixed"
    return (f"{choice['threads']} of {choice['most']} at the end "
            f"({choice['switches']} switches)")  # fmt: skip
