"""Every torch call of every engine runs on one thread (one OpenMP pool)."""

import threading
import weakref

import pytest

from qwen_tui.engine.runtime.torch_thread import TorchThread
from qwen_tui.engine.types import ChatMessage, GenerationParams


def test_calls_from_any_thread_run_on_one_thread():
    runner = TorchThread()
    names = [runner.run(lambda: threading.current_thread().name)]
    worker = threading.Thread(target=lambda: names.append(runner.run(threading.get_ident)))
    worker.start()
    worker.join()
    assert names[0] == "torch" and names[0] != threading.current_thread().name
    assert names[1] == runner.run(threading.get_ident)


def test_errors_reach_the_caller_and_nested_calls_run_inline():
    runner = TorchThread()
    with pytest.raises(ZeroDivisionError):
        runner.run(lambda: 1 / 0)
    assert runner.run(lambda: runner.run(lambda: 42)) == 42  # no deadlock


def test_the_thread_keeps_nothing_of_a_call_once_it_is_done():
    """An unloaded engine's last call (its ``_unload``) must not keep the engine alive."""

    class Engine:
        def unload(self) -> None:
            pass

    runner = TorchThread()
    engine = Engine()
    collected = threading.Event()
    weakref.finalize(engine, collected.set)
    runner.run(engine.unload)
    del engine
    assert collected.wait(10), "the torch thread still holds the engine"


def test_engine_loads_and_replies_on_the_torch_thread(engine):
    seen = set()
    params = GenerationParams(temperature=0, max_new_tokens=4)
    results = []

    def reply():
        results.append(
            engine.chat(
                [ChatMessage("user", "Hi")],
                params,
                on_text=lambda _: seen.add(threading.current_thread().name),
            )
        )

    worker = threading.Thread(target=reply)  # as the app's reply worker does
    worker.start()
    worker.join()
    assert results and seen == {"torch"}
