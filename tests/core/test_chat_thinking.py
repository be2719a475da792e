"""A chat's thinking switch and Qwen3's soft switches, without a model."""

from __future__ import annotations

import pytest

from qwen_tui import chat, config, paths
from qwen_tui.chat.thinking import describe, soft_switch, switch_only
from qwen_tui.history import ConversationStore


@pytest.mark.parametrize(
    ("text", "alone", "within"),
    [
        ("/think", True, True),
        ("  /no_think \n", False, False),
        ("How many r's in strawberries? /no_think", None, False),
        ("/no_think Explain it.\nActually /think about it", None, True),
        ("/thinking is not a switch, nor is a/think or /think?", None, None),
        ("path/to/think", None, None),
        ("", None, None),
    ],
)
def test_switches_are_words_of_their_own(text, alone, within) -> None:
    assert switch_only(text) is alone
    assert soft_switch(text) is within


def test_the_status_word() -> None:
    assert describe("switch", None) == describe("switch", True) == "thinking on"
    assert describe("switch", False) == "thinking off"
    assert describe("always", False) == "thinks always"
    assert describe("none", True) == ""


@pytest.fixture
def service():
    store = ConversationStore(paths.history_db())
    yield chat.ChatService(store, lambda: config.Settings(temperature=0.0))
    store.close()


def test_the_chat_switch_is_kept_with_its_parameters(service) -> None:
    store = service.store
    cid = store.create(params={"temperature": 0.3}).id
    assert service.params(cid).enable_thinking is None
    service.set_thinking(cid, False)
    assert store.get(cid).params == {"temperature": 0.3, "enable_thinking": False}
    service.set_thinking(cid, None)  # back to the model's default
    assert store.get(cid).params == {"temperature": 0.3}


def test_a_soft_switch_in_the_newest_message_decides_that_reply(service) -> None:
    store = service.store
    cid = store.create().id
    service.set_thinking(cid, False)
    store.add_message(cid, "user", "Why is the sky blue? /think")
    assert service.reply_params(cid).enable_thinking is True  # for this reply only
    assert service.params(cid).enable_thinking is False  # the chat's switch is as it was
    store.add_message(cid, "assistant", "Rayleigh scattering.")
    store.add_message(cid, "user", "And sunsets?")
    assert service.reply_params(cid).enable_thinking is False
    service.set_thinking(cid, None)
    store.add_message(cid, "user", "Quick: 2+2? /no_think")
    assert service.reply_params(cid).enable_thinking is False
    # the message goes to the model as typed: the model reads the switch itself too
    assert service.prompt_messages(cid)[-1].content == "Quick: 2+2? /no_think"
