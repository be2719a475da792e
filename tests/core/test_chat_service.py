"""What send, regenerate and edit do to a conversation, with the real tiny engine."""

import pytest

from qwen_tui import chat, config, paths
from qwen_tui.engine.types import ChatMessage
from qwen_tui.history import ConversationStore


@pytest.fixture
def service():
    store = ConversationStore(paths.history_db())
    settings = config.Settings(temperature=0.0, max_new_tokens=12, repetition_penalty=1.0)
    yield chat.ChatService(store, lambda: settings)
    store.close()


def test_prompt_uses_the_chat_system_prompt_and_skips_failed_replies(service):
    """No system prompt set anywhere: none is sent, so the model's template adds its own."""
    store = service.store
    cid = store.create().id
    store.add_message(cid, "user", "hi")
    store.add_message(cid, "assistant", "partial", state="stopped")
    store.add_message(cid, "user", "again")
    store.add_message(cid, "assistant", "boom", state="error")
    store.add_message(cid, "user", "third")
    assert service.prompt_messages(cid) == [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "partial"),
        ChatMessage("user", "again"),
        ChatMessage("user", "third"),
    ]
    store.set_system_prompt(cid, "Be terse.")
    store.set_params(cid, {"temperature": 0.2})
    assert service.prompt_messages(cid)[0] == ChatMessage("system", "Be terse.")
    assert service.params(cid).temperature == 0.2 and service.params(cid).max_new_tokens == 12


def test_reply_is_saved_while_it_streams(service, engine, monkeypatch):
    monkeypatch.setattr(chat.service, "SAVE_EVERY", 0.0)
    cid = service.store.create().id
    service.add_user_message(cid, "Hello")
    seen = []

    def on_text(piece):
        saved = service.store.messages(cid)[-1]
        seen.append((saved.state, saved.content))

    outcome = service.generate(cid, engine, on_text=on_text)
    assert all(state == "streaming" for state, _ in seen)
    lengths = [len(content) for _, content in seen]
    assert lengths == sorted(lengths) and lengths[-1] > 0  # the text on disk grows
    final = service.store.messages(cid)[-1]
    assert final.state == "complete" and final.content == outcome.reply.text
    assert final.stats["generated_tokens"] == 12
    # which model wrote it, in which format, with which parameters (the model's defaults
    # where the chat and the settings set none)
    assert final.stats["model"] == engine.info.name == "tiny"
    assert final.stats["format"] == engine.info.low_bit
    assert final.stats["params"] == service.params(cid).over(engine.info.defaults).to_dict()
    assert final.stats["params"]["max_new_tokens"] == 12


def test_the_next_turn_feeds_the_reply_back_as_generated(service, engine):
    """The reply's tokens are saved with it and fed back: the kept cache covers the whole
    reply (random weights rarely generate what the tokenizer makes of the text), and without
    the cache the same reply comes."""
    cid = service.store.create().id
    service.add_user_message(cid, "Hello")
    first = service.generate(cid, engine).reply
    saved = service.store.messages(cid)[-1]
    assert saved.token_ids == first.token_ids and len(first.token_ids) == 12
    service.add_user_message(cid, "More")
    assert service.prompt_messages(cid)[-2].token_ids == first.token_ids
    second = service.generate(cid, engine).reply
    # all but the reply's last token, sampled when max_new_tokens ran out and never fed
    assert second.stats.reused_tokens == first.stats.prompt_tokens + 11
    engine.forget(chat.cache_key(cid))
    service.rewind_for_regenerate(cid)
    again = service.generate(cid, engine).reply
    assert again.stats.reused_tokens == 0 and again.text == second.text


def test_regenerate_and_edit_rewind_the_history(service):
    store = service.store
    cid = store.create().id
    store.add_message(cid, "user", "one")
    store.add_message(cid, "assistant", "reply one")
    store.add_message(cid, "user", "two")
    store.add_message(cid, "assistant", "reply two")
    assert service.rewind_for_regenerate(cid)
    assert [m.content for m in store.messages(cid)] == ["one", "reply one", "two"]
    assert service.take_last_user_message(cid).content == "two"
    assert [m.content for m in store.messages(cid)] == ["one", "reply one"]
    empty = store.create().id
    assert not service.rewind_for_regenerate(empty)
    assert service.take_last_user_message(empty) is None


def test_code_blocks_are_extracted():
    text = "See:\n```python\nprint(1)\n```\nand\n~~~\nls -l\n~~~\n"
    assert chat.code_blocks(text) == ["print(1)", "ls -l"]
