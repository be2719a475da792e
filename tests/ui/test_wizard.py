"""The setup wizard driven with the keyboard: hub pull, local folder, failure, cancel/resume."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App
from textual.widgets import Button, Input, OptionList, Select, Static

from qwen_tui import config
from qwen_tui.catalog import DEFAULT_LOW_BIT, find_entry, wizard_entries
from qwen_tui.store import resources
from qwen_tui.store.local import LocalModel
from qwen_tui.store.progress import human_bytes
from qwen_tui.ui.screens.wizard import WizardScreen
from qwen_tui.ui.widgets.model_choice import ModelChoice

REPO = "Qwen/Qwen2.5-0.5B-Instruct"
COMMIT = find_entry(REPO).revision  # pulls take the catalog's pinned commit
GB = 1024**3
# where REPO is in the wizard's list with the RAM `roomy` reports: presses of "down" from the top
DOWNS = ["down"] * [e.repo_id for e in wizard_entries(16 * GB, DEFAULT_LOW_BIT)].index(REPO)


class Host(App[None]):
    """Pushes the wizard and records what it dismisses with and the progress it reports."""

    def __init__(self, **kwargs) -> None:
        super().__init__()
        self.kwargs = kwargs
        self.results: list[LocalModel | None] = []
        self.progress = []
        self.shown: list[str] = []  # the wizard's progress line after each report

    def on_mount(self) -> None:
        self.push_screen(WizardScreen(**self.kwargs), self.results.append)

    def on_wizard_screen_progress_update(self, message: WizardScreen.ProgressUpdate) -> None:
        self.progress.append(message.progress)  # bubbled up after the screen drew it
        if isinstance(self.screen, WizardScreen):
            self.shown.append(str(self.screen.query_one("#info", Static).render()))


@pytest.fixture(autouse=True)
def roomy(monkeypatch):
    """Plenty of disk and RAM, whatever the test machine has (tests may lower either)."""
    monkeypatch.setattr(resources, "free_disk", lambda path: 100 * GB)
    monkeypatch.setattr(resources, "available_ram", lambda: 16 * GB)


def text_of(app: App, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.05)


async def finish(app: App, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def test_pull_from_the_hub_with_the_keyboard(hub_server, tiny_source, monkeypatch):
    hub_server.add_repo(REPO, tiny_source, commit=COMMIT)
    monkeypatch.setenv("HF_TOKEN", "hf_for_the_trusted_mirror")
    app = Host(endpoint=hub_server.endpoint, token_mirrors=(hub_server.endpoint,))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.focused.id == "models"
        await pilot.press(*DOWNS)
        assert app.screen.query_one(ModelChoice).selected_entry().repo_id == REPO
        await pilot.press("enter")
        await finish(app, pilot)
    (model,) = app.results
    assert isinstance(model, LocalModel)
    assert (model.manifest.source, model.manifest.commit) == (REPO, COMMIT)
    assert model.low_bit == DEFAULT_LOW_BIT
    downloads = [p for p in app.progress if p.stage == "download"]
    assert downloads and downloads[-1].done == downloads[-1].total > 0
    stages = [p.stage for p in app.progress]
    assert {"quantize", "verify"} <= set(stages)
    assert stages.index("download") < stages.index("quantize")
    total = downloads[-1].total
    assert any(
        f"/ {human_bytes(total)}" in line and "/s" in line and "ETA" in line for line in app.shown
    ), app.shown
    # the mirror was named as trusted: every request to it carried the token
    assert {auth for *_, auth in hub_server.authorization} == {"Bearer hf_for_the_trusted_mirror"}


async def test_the_app_gives_the_wizard_its_mirror_and_the_mirrors_trusted_with_the_token(
    make_app,
):
    mirror = "https://hf-mirror.example"
    app = make_app(config.Settings(hf_endpoint=mirror, hf_token_mirrors=(mirror,)))
    async with app.run_test(size=(110, 32)) as pilot:
        await pilot.press("f10")
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        assert (wizard.endpoint, wizard.token_mirrors) == (mirror, (mirror,))


async def test_local_folder_route(tiny_source):
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("shift+tab", "right")  # the route tabs: "Use a local folder"
        await pilot.pause()
        await pilot.press("tab")
        assert app.focused.id == "path"
        await pilot.press(*str(tiny_source))
        await pilot.press("tab", *"tiny")
        assert app.screen.query_one("#name", Input).value == "tiny"
        assert not app.screen.query_one("#start", Button).disabled
        await pilot.press("enter")
        await finish(app, pilot)
    (model,) = app.results
    assert isinstance(model, LocalModel)
    assert model.folder_name == f"tiny-{DEFAULT_LOW_BIT}"
    assert model.manifest.source == str(tiny_source.resolve())
    assert [p.stage for p in app.progress][-1] == "done"


async def test_unreachable_hub_shows_message_hint_and_retry():
    app = Host(endpoint="http://127.0.0.1:9")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await finish(app, pilot)
        screen = app.screen
        assert isinstance(screen, WizardScreen) and screen.step == "stopped"
        assert text_of(app, "#stopped-title") == "Setup failed"
        assert "Cannot reach the model hub at http://127.0.0.1:9" in text_of(app, "#message")
        assert "HF_ENDPOINT" in text_of(app, "#hint")
        again = screen.query_one("#again", Button)
        assert str(again.label) == "Retry" and app.focused is again
        assert "Traceback" not in app.export_screenshot()
        await pilot.press("enter")  # Retry fails the same way and stays on the screen
        await finish(app, pilot)
        assert screen.step == "stopped" and app.results == []
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]


async def test_cancel_then_resume(hub_server, tiny_source):
    hub_server.add_repo(REPO, tiny_source, commit=COMMIT)
    hub_server.throttle["model.safetensors"] = 200_000  # about 3 s for the weights
    app = Host(endpoint=hub_server.endpoint)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*DOWNS, "enter")
        await wait_for(pilot, lambda: hub_server.served("model.safetensors") > 0)
        await pilot.press("escape")
        assert str(app.screen.query_one("#cancel", Button).label) == "Cancelling…"
        await finish(app, pilot)
        assert app.screen.step == "stopped"
        assert text_of(app, "#stopped-title") == "Cancelled"
        assert "cancelled" in text_of(app, "#message").lower()
        assert app.results == []
        assert str(app.focused.label) == "Resume"
        del hub_server.throttle["model.safetensors"]
        await pilot.press("enter")
        await finish(app, pilot)
    (model,) = app.results
    assert isinstance(model, LocalModel) and model.manifest.source == REPO


async def test_too_little_disk_disables_start(monkeypatch):
    monkeypatch.setattr(resources, "free_disk", lambda path: 1000)
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        check = app.screen.query_one("#check", Static)
        assert check.has_class("bad")
        assert "1000 B free" in text_of(app, "#check")
        assert app.screen.query_one("#start", Button).disabled
        await pilot.press("enter")  # Enter on the list does not start either
        await pilot.pause()
        assert app.screen.step == "choose" and not app.workers
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]


async def test_the_wizard_preselects_the_default_format_as_the_app_does(make_app):
    """Opened on its own (the snapshot below) and by the app with default settings, the
    wizard offers the catalog's default format (it once offered sym_int4 on its own)."""
    host = Host()
    async with host.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert host.screen.query_one("#low-bit", Select).value == DEFAULT_LOW_BIT
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("f10")
        await pilot.pause()
        assert isinstance(app.screen, WizardScreen)
        assert app.screen.query_one("#low-bit", Select).value == DEFAULT_LOW_BIT


def test_choose_step_snapshot(snap_compare, monkeypatch):
    monkeypatch.setattr(resources, "free_disk", lambda path: 120 * GB)
    monkeypatch.setattr(resources, "available_ram", lambda: 16 * GB)

    async def settle(pilot) -> None:
        for widget in pilot.app.screen.query(Input):
            widget.cursor_blink = False
        await pilot.pause()

    assert snap_compare(Host(), terminal_size=(80, 24), run_before=settle)


def rows_of(app: App) -> list[str]:
    models = app.screen.query_one("#models", OptionList)
    return [str(models.get_option_at_index(i).prompt) for i in range(models.option_count)]


def needs(key: str) -> int:
    """RAM the wizard checks for a catalog model: to chat and to set it up (quantize)."""
    entry = find_entry(key)
    return max(entry.ram_to_chat(DEFAULT_LOW_BIT), entry.ram_to_quantize(DEFAULT_LOW_BIT))


async def test_the_largest_qwen35_the_ram_holds_is_offered_first():
    app = Host()  # 16 GB available
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        rows = rows_of(app)
        choice = app.screen.query_one(ModelChoice)
        assert rows[0].startswith("Qwen/Qwen3.5-9B ") and app.focused.id == "models"
        assert choice.selected_entry().key == "qwen3.5-9b"
        assert any(r.startswith("Qwen/Qwen-1_8B-Chat ") for r in rows)  # the original recipe
        assert not any("GGUF" in r for r in rows)  # GGUF files are pulled with --file
        assert "pinned c202236" in text_of(app, "#about")
        assert not app.screen.query_one("#start", Button).disabled  # it can be set up here


async def test_with_less_ram_a_smaller_qwen35_or_the_biggest_that_fits_is_first(monkeypatch):
    available = (needs("qwen3.5-2b") + needs("qwen3.5-4b")) // 2
    monkeypatch.setattr(resources, "available_ram", lambda: available)
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert rows_of(app)[0].startswith("Qwen/Qwen3.5-2B ")
        assert not app.screen.query_one("#start", Button).disabled
    below = needs("qwen3.5-0.8b") - 1  # no Qwen3.5 can be set up: the biggest model that can
    assert needs("qwen3-0.6b") <= below
    monkeypatch.setattr(resources, "available_ram", lambda: below)
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        rows = rows_of(app)
        assert rows[0].startswith("Qwen/Qwen3-0.6B ")
        assert sum(r.startswith("Qwen/Qwen3.5-9B ") for r in rows) == 1  # still listed
        assert not app.screen.query_one("#start", Button).disabled
