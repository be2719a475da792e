"""A Qwen3.5 in the real app: the scripted tiny one (it thinks, then answers), quantized from
its Hugging Face folder and from the GGUF llama.cpp's converter made of it, on our own engine.
Its chat template opens the <think> block itself unless thinking is switched off; the thought
is shown collapsed above the answer; regenerate goes back to the snapshot of the recurrent
state taken before the prompt's last token and gives the same greedy reply; /no_think gives the
answer alone, from the snapshot at the new turn's start."""

from __future__ import annotations

import pytest
from conftest import wait_idle, wait_ready
from pilot import send
from qwen35_thinker import ANSWER, SOURCES, THINKING, install, quantized
from textual.widgets import Static

from qwen_tui.engine import kernels
from qwen_tui.engine.native.hybrid import HybridModel
from qwen_tui.ui.widgets.chat_view import AssistantMessage
from qwen_tui.ui.widgets.thought import Thought

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)
SIZE = (80, 24)


def head(thought: Thought) -> str:
    return str(thought.query_one("#head", Static).content)


def status(app) -> str:
    return str(app.screen.status.render())


@pytest.mark.parametrize("source", SOURCES)
async def test_it_thinks_answers_regenerates_from_its_snapshot_and_switches_thinking_off(
    make_app, tmp_path_factory, source
):
    install(quantized(tmp_path_factory, source))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        engine = app.engine
        assert engine.info.family == "qwen35" and isinstance(engine.model, HybridModel)
        assert engine.info.thinking == "switch" and "thinking on" in status(app)
        await send(pilot, "What is 2+2?")
        await wait_idle(app, pilot)
        cid = app.screen.conversation_id
        view = app.screen.chat_view
        [thought] = view.query(Thought)
        [answer] = view.query(AssistantMessage)
        assert thought.text == THINKING and not thought.expanded and thought.region.height == 1
        assert head(thought).startswith("▸ Thought for ") and head(thought).endswith(THINKING)
        assert answer.source == ANSWER
        _, first = app.store.messages(cid)
        assert (first.reasoning, first.content) == (THINKING, ANSWER)
        assert first.stats["finish_reason"] == "stop" and first.stats["reused_tokens"] == 0

        await pilot.press("ctrl+r")  # regenerate
        await wait_idle(app, pilot)
        user, again = app.store.messages(cid)
        assert again.id != first.id and (again.reasoning, again.content) == (THINKING, ANSWER)
        assert again.token_ids == first.token_ids  # the first was computed from nothing kept
        # the recurrent state cannot be cut back: the snapshot before the prompt's last token
        assert again.stats["reused_tokens"] == again.stats["prompt_tokens"] - 1 > 0
        [thought] = view.query(Thought)
        assert thought.text == THINKING and not thought.expanded

        await send(pilot, "/no_think")
        assert "thinking off" in status(app)
        await send(pilot, "And 3+3?")
        await wait_idle(app, pilot)
        last = app.store.messages(cid)[-1]
        assert (last.reasoning, last.content) == ("", ANSWER)
        assert last.stats["finish_reason"] == "stop"
        assert 0 < last.stats["reused_tokens"] < last.stats["prompt_tokens"]
        assert len(view.query(Thought)) == 1 and len(view.query(AssistantMessage)) == 2
