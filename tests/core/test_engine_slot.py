"""The engine slot: only the newest load's engine is installed, whatever order loads end in.
(The app's tests, ``tests/ui/test_model_race.py``, run the same with real engines.)"""

from __future__ import annotations

import threading

from qwen_tui.chat.engine_slot import EngineSlot
from qwen_tui.engine.types import GenerationParams, ModelInfo


class Recorded:
    """An engine stand-in that writes what happens to it into ``log``."""

    def __init__(self, name: str, log: list[str], gate: threading.Event | None = None) -> None:
        self.name, self.log, self.gate = name, log, gate
        self.info: ModelInfo | None = None

    def load(self) -> ModelInfo:
        if self.gate is not None:
            assert self.gate.wait(30)
        self.log.append(f"load {self.name}")
        self.info = ModelInfo(self.name, "sym_int4", "qwen2", "", 2048, GenerationParams())
        return self.info

    def unload(self) -> None:
        self.log.append(f"unload {self.name}")


def test_a_load_superseded_before_it_starts_makes_no_engine() -> None:
    slot: EngineSlot = EngineSlot()
    log: list[str] = []
    old, new = slot.request(), slot.request()
    assert slot.load(old, lambda: Recorded("a", log), exclusive=True) is None
    assert log == [] and slot.engine is None
    assert slot.load(new, lambda: Recorded("b", log), exclusive=True) is not None
    assert log == ["load b"] and slot.engine.name == "b"


def test_the_engine_in_use_is_unloaded_before_the_next_one_loads() -> None:
    slot: EngineSlot = EngineSlot()
    log: list[str] = []
    slot.load(slot.request(), lambda: Recorded("a", log), exclusive=True)
    slot.load(slot.request(), lambda: Recorded("b", log), exclusive=False)
    assert log == ["load a", "unload a", "load b"] and slot.engine.name == "b"


def test_an_older_load_that_ends_last_is_unloaded_not_installed() -> None:
    slot: EngineSlot = EngineSlot()
    log: list[str] = []
    gate = threading.Event()
    older = slot.request()
    results = []
    thread = threading.Thread(
        target=lambda: results.append(
            slot.load(older, lambda: Recorded("slow", log, gate), exclusive=False)
        )
    )
    thread.start()
    newer = slot.request()
    assert slot.load(newer, lambda: Recorded("fast", log), exclusive=False) is not None
    gate.set()
    thread.join()
    assert results == [None] and slot.engine.name == "fast"
    assert log == ["load fast", "load slow", "unload slow"]
    assert slot.is_newest(newer) and not slot.is_newest(older)
