"""Helpers the pilot tests share: wait for a condition, type and send a message."""

from qwen_tui.ui.widgets.prompt_input import PromptInput


async def until(pilot, condition, timeout: float = 30.0, what: str = "condition") -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def send(pilot, text: str) -> None:
    prompt = pilot.app.screen.query_one(PromptInput)
    prompt.focus()
    prompt.load_text(text)
    await pilot.press("enter")
