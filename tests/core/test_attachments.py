"""Files sent with a message: reading one (each refusal one sentence and a next step), the
fenced block every engine writes it into (local prompt and remote request alike), its token
count, the window check, ``/file`` lines, and the chat service handing files to the engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from openai_fake import engine_for

from qwen_tui import attachments, chat, config, paths
from qwen_tui.attachments import AttachmentError, check_fits, count, read_attachment
from qwen_tui.engine.attachments import fence_for, model_text, with_attachments
from qwen_tui.engine.generate.prompt import PromptBuilder, fit
from qwen_tui.engine.types import Attachment, ChatMessage, ToolCall
from qwen_tui.errors import EngineError
from qwen_tui.history import ConversationStore

TRICKY = "Run:\n```sh\nrm -rf /\n```\nthen ````` five.\n"  # fences of 3 and 5 backticks


def one_sentence(error: Exception) -> str:
    text = str(error)
    assert text.endswith(".") and "\n" not in text
    assert getattr(error, "hint", "").endswith((".", "`")), error
    return text


# -- reading ------------------------------------------------------------------------------
def test_a_text_file_is_read_under_the_name_it_was_given(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notes.md").write_bytes(b"\xef\xbb\xbf# Title\n\xe4\xbd\xa0\xe5\xa5\xbd\n")
    assert read_attachment("notes.md") == Attachment("notes.md", "# Title\n你好\n")  # no BOM
    monkeypatch.setenv("HOME", str(tmp_path))
    assert read_attachment("~/notes.md").name == "~/notes.md"
    odd = os.fsdecode(b"caf\xe9.txt")  # a name that is not UTF-8, as argv hands it over
    Path(odd).write_text("x")
    assert read_attachment(odd) == Attachment("caf\ufffd.txt", "x")  # storable, sendable


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"PK\x03\x04\x00\x00zip", "is not text: it holds NUL bytes (a binary file)"),
        (b"caf\xe9 au lait", "is not UTF-8 text (byte 0xe9 at offset 3)"),
        ("hi".encode("utf-16"), "is UTF-16 text, not UTF-8"),
    ],
)
def test_a_file_that_is_not_text_is_refused_saying_why(tmp_path, content, said) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(content)
    with pytest.raises(AttachmentError) as error:
        read_attachment(str(path))
    assert one_sentence(error.value) == f"{path} {said}."


def test_missing_folder_and_special_files_are_refused(tmp_path) -> None:
    with pytest.raises(AttachmentError, match="^There is no file .*nope.txt.$") as error:
        read_attachment(str(tmp_path / "nope.txt"))
    assert os.getcwd() in error.value.hint
    with pytest.raises(AttachmentError, match="is a folder.$") as error:
        read_attachment(str(tmp_path))
    one_sentence(error.value)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    with pytest.raises(AttachmentError, match="is not a regular file.$"):
        read_attachment(str(fifo))


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path, monkeypatch) -> None:
    big = tmp_path / "big.log"
    with big.open("wb") as f:
        f.truncate(attachments.MAX_BYTES + 1)  # sparse: its size without its bytes
    opened = []
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self))
    with pytest.raises(
        AttachmentError, match=r"is 1\.0 MB; an attachment may be at most 1 MB"
    ) as e:
        read_attachment(str(big))
    assert opened == [] and "head -c" in e.value.hint
    one_sentence(e.value)
    monkeypatch.undo()
    (tmp_path / "ok.txt").write_text("x" * attachments.MAX_BYTES)
    assert len(read_attachment(str(tmp_path / "ok.txt")).text) == attachments.MAX_BYTES


def test_a_file_that_cannot_be_read_says_so(tmp_path, monkeypatch) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    secret.chmod(0)
    if os.geteuid() == 0:  # root reads any file: the refusal open() gives anyone else

        def refused(self, *args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(Path, "open", refused)
    with pytest.raises(AttachmentError, match=r"^Cannot read .*secret.txt \(Permission denied\)"):
        read_attachment(str(secret))


def test_file_lines_open_the_message() -> None:
    split = attachments.split_file_lines
    assert split("/file a.txt\n/file 'my notes.md'\nSummarise both.") == (
        ["a.txt", "my notes.md"],
        "Summarise both.",
    )
    assert split("/file a.txt") == (["a.txt"], "")
    assert split("Look:\n/file a.txt") == ([], "Look:\n/file a.txt")  # only leading lines
    assert split("/files are here") == ([], "/files are here")


# -- what the model sees ---------------------------------------------------------------------
def test_a_file_goes_after_the_text_fenced_longer_than_any_run_in_it() -> None:
    message = ChatMessage("user", "Check this.", attachments=(Attachment("run.md", TRICKY),))
    text = model_text(message)
    assert text == f"Check this.\n\n`run.md`:\n``````\n{TRICKY[:-1]}\n``````"
    # the fence opens and closes the block, and appears nowhere inside it
    assert text.count("``````") == 2 and fence_for(TRICKY) == "`" * 6
    assert fence_for("plain") == "```"
    only_files = ChatMessage("user", "", attachments=(Attachment("a", "x"), Attachment("b", "y")))
    assert model_text(only_files) == "`a`:\n```\nx\n```\n\n`b`:\n```\ny\n```"
    plain = [ChatMessage("user", "hi")]
    assert with_attachments(plain) is plain


def test_the_local_prompt_holds_the_block_after_the_users_text(tokenizer) -> None:
    builder = PromptBuilder(tokenizer)
    attached = ChatMessage("user", "Check this.", attachments=(Attachment("run.md", TRICKY),))
    expanded = ChatMessage("user", model_text(attached))
    assert builder.encode([attached]) == builder.encode([expanded])
    assert f"<|im_start|>user\nCheck this.\n\n`run.md`:\n``````\n{TRICKY[:-1]}" in (
        builder.decode(builder.encode([attached]))
    )


def test_a_message_whose_files_do_not_fit_is_refused_naming_them(tokenizer) -> None:
    builder = PromptBuilder(tokenizer)
    big = ChatMessage("user", "Read.", attachments=(Attachment("big.txt", "word " * 400),))
    with pytest.raises(EngineError, match="^The message and its files are too long") as error:
        fit(builder, [big], budget=100)
    assert error.value.hint.startswith("Remove a file or attach part of it")
    with pytest.raises(EngineError, match="^The message is too long"):
        fit(builder, [ChatMessage("user", "word " * 400)], budget=100)


def test_a_remote_model_is_sent_the_same_text(fake_openai) -> None:
    fake = fake_openai("llama_server")
    engine = engine_for(fake)
    engine.load()
    attached = ChatMessage("user", "Check this.", attachments=(Attachment("run.md", TRICKY),))
    engine.chat([attached])
    [sent] = fake.requests[-1]["messages"]
    assert sent == {"role": "user", "content": model_text(attached)}
    assert engine.count_tokens([attached]) == engine.count_tokens(
        [ChatMessage("user", sent["content"])]
    )


# -- counting and the window --------------------------------------------------------------
def test_each_file_is_counted_and_a_message_too_big_for_the_window_refused(engine) -> None:
    small, large = Attachment("a.txt", "one two three\n"), Attachment("b.txt", "word " * 3000)
    counted = count(engine, (small, large))
    alone = engine.count_tokens([ChatMessage("user", "", attachments=(small,))])
    assert counted[0].tokens == alone - engine.count_tokens([ChatMessage("user", "")]) > 0
    assert counted[1].tokens > 2000  # ~a token a word
    message = ChatMessage("user", "Compare.", attachments=(small,))
    assert check_fits(engine, "Be brief.", message, 100) == engine.count_tokens(
        [ChatMessage("system", "Be brief."), message]
    )
    window = engine.info.context_window
    too_big = ChatMessage("user", "Compare.", attachments=(small, large))
    needed = engine.count_tokens([too_big])
    if needed + 100 <= window:
        pytest.skip(f"the tiny model's window ({window}) holds the large file")
    with pytest.raises(AttachmentError) as error:
        check_fits(engine, None, too_big, 100)
    text = one_sentence(error.value)
    assert (
        f"take {needed:,} tokens (a.txt {counted[0].tokens:,}, b.txt {counted[1].tokens:,})" in text
    )
    assert f"{window - 100:,}" in text and error.value.hint.startswith("Remove a file")


# -- the chat service ---------------------------------------------------------------------
def test_the_service_stores_files_and_hands_them_and_tool_use_to_the_engine() -> None:
    store = ConversationStore(paths.history_db())
    service = chat.ChatService(store, lambda: config.Settings())
    cid = store.create().id
    notes = Attachment("notes.md", "# Notes")
    service.add_user_message(cid, "", (notes,))  # files alone are a message
    call = ToolCall("call_1", "lookup", "{}")
    store.add_message(cid, "assistant", "", tool_calls=(call,))  # a call with no text
    store.add_message(cid, "tool", "found", tool_call_id="call_1", tool_name="lookup")
    assert service.prompt_messages(cid) == [
        ChatMessage("user", "", attachments=(notes,)),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "found", tool_call_id="call_1", name="lookup"),
    ]
    with pytest.raises(EngineError, match="The message is empty"):
        service.add_user_message(cid, "  ")
    assert service.take_last_user_message(cid).attachments == (notes,)
    store.close()
