"""F4 to model A, then F4 to model B while A is still loading: B wins whatever order the
loads end in; A is never installed, it is unloaded and nothing keeps it (or its weights)
alive. The same for two servers, a slow one picked first and a fast one second."""

from __future__ import annotations

import gc
import json
import shutil
import threading
import weakref

from pilot import until
from test_actions import SIZE, chat, notifications
from textual.widgets import OptionList

from qwen_tui import config, paths
from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.remote import RemoteEngine
from qwen_tui.manifest import MANIFEST
from qwen_tui.remotes import RemoteEntry
from qwen_tui.ui.screens.dialogs import PickScreen


class GatedEngine(BigdlEngine):
    """The real engine; its load waits for ``gate`` (a slow disk), and it notes its unload
    and how many models were in memory at once (``most``)."""

    lock = threading.Lock()
    loaded = most = 0

    def __init__(self, path, gate: threading.Event | None) -> None:
        super().__init__(path, threads=1, kv_cache_mb=64)
        self.gate = gate
        self.unloaded = False
        self.weights: weakref.ref | None = None

    def load(self):
        if self.gate is not None:
            assert self.gate.wait(60), "the test never opened the gate"
        info = super().load()
        self.weights = weakref.ref(self._lm)
        with GatedEngine.lock:
            GatedEngine.loaded += 1
            GatedEngine.most = max(GatedEngine.most, GatedEngine.loaded)
        return info

    def unload(self) -> None:
        with GatedEngine.lock:
            GatedEngine.loaded -= not self.unloaded and self.info is not None
        self.unloaded = True
        super().unload()


class NotedRemote(RemoteEngine):
    def __init__(self, entry: RemoteEntry) -> None:
        super().__init__(entry, read_timeout=30)
        self.unloaded = False

    def unload(self) -> None:
        self.unloaded = True
        super().unload()


def second_model(installed_model) -> str:
    """A copy of the installed tiny model under another name; its folder name."""
    second = paths.models_dir() / "tiny2-sym_int4"
    shutil.copytree(installed_model, second)
    manifest = json.loads((second / MANIFEST).read_text(encoding="utf-8"))
    manifest["name"] = "tiny2"
    (second / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return second.name


async def pick(pilot, choice: str) -> None:
    """F4 and Enter on ``choice`` (with the keyboard)."""
    await pilot.press("f4")
    picker = pilot.app.screen
    assert isinstance(picker, PickScreen)
    options = picker.query_one(OptionList)
    ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
    steps = ids.index(choice) - (options.highlighted or 0)
    await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps), "enter")
    await pilot.pause()


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def test_the_model_picked_last_wins_and_the_first_is_freed(make_app, installed_model):
    first, second = installed_model.name, second_model(installed_model)
    gate = threading.Event()
    made: dict[str, GatedEngine] = {}
    GatedEngine.loaded = GatedEngine.most = 0

    def factory(model, settings) -> GatedEngine:
        made[model.folder_name] = GatedEngine(
            model.path, gate if model.folder_name == first else None
        )
        return made[model.folder_name]

    app = make_app(config.Settings(model=first, temperature=0.0), engine_factory=factory)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: first in made, what="the first load to start")
        assert app.engine_state == "loading"
        await pick(pilot, second)
        gate.set()  # the first model's disk catches up now
        await settle(app, pilot)
        assert app.engine_state == "ready" and app.engine is made[second]
        assert app.engine.info.name == "tiny2"
        assert "tiny2 · sym_int4" in str(chat(app).status.render())
        assert not [n for n in notifications(app) if n.severity == "error"]
        loser = made.pop(first)
        assert loser.unloaded and loser.info is None  # unloaded at once, never installed
        engine_ref, weights_ref = weakref.ref(loser), loser.weights
        del loser
        gc.collect()
        assert weights_ref is not None and weights_ref() is None  # its weights are freed
        assert engine_ref() is None  # and nothing holds the engine
        assert not made[second].unloaded
        assert GatedEngine.most == 1  # the second loaded after the first was unloaded


async def test_a_fast_server_picked_after_a_slow_one_wins(make_app, fake_openai):
    gate = threading.Event()
    slow = fake_openai("vllm", gate=gate)
    fast = fake_openai("llama_server")
    entries = (
        RemoteEntry("slow", slow.base_url, "Qwen/Qwen3-8B"),
        RemoteEntry("fast", fast.base_url, "qwen3-8b"),
    )
    made: dict[str, NotedRemote] = {}

    def factory(entry, settings) -> NotedRemote:
        made[entry.name] = NotedRemote(entry)
        return made[entry.name]

    app = make_app(config.Settings(model="slow", remote=entries), remote_factory=factory)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "slow" in made, what="the slow server to be asked")
        await pick(pilot, "remote:fast")
        await until(pilot, lambda: app.engine_state == "ready", what="the fast server")
        assert app.engine is made["fast"]
        gate.set()  # the slow server answers now, after the fast one
        await settle(app, pilot)
        assert app.engine is made["fast"] and app.engine_state == "ready"
        assert "fast · remote" in str(chat(app).status.render())
        assert made["slow"].unloaded and not made["fast"].unloaded
        assert not [n for n in notifications(app) if n.severity == "error"]
