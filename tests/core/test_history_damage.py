"""A damaged page in the history: one clear sentence where it is read, the rest keeps
working, and `qwen-tui doctor --repair` saves everything that can still be read."""

import pytest

from qwen_tui import paths
from qwen_tui.cli import main
from qwen_tui.history import ConversationStore, HistoryError
from qwen_tui.history.db import HistoryDamaged
from qwen_tui.history.repair import check, repair

MARK = "ZQX"  # a text found nowhere else in the file


def damaged_history(path):
    """Two chats, the second one's messages long; then one of their pages overwritten."""
    store = ConversationStore(path)
    good = store.create("Fine chat").id
    store.add_message(good, "user", "hello there")
    store.add_message(good, "assistant", "general kenobi")
    bad = store.create("Doomed chat").id
    for i in range(12):
        store.add_message(bad, "user", f"{MARK}{i} " + "lorem ipsum " * 60)
    store.close()
    raw = path.read_bytes()
    at = raw.index(f"{MARK}6 ".encode())
    page = 4096
    start = at // page * page
    path.write_bytes(raw[:start] + bytes([0xA5]) * page + raw[start + page :])
    return good, bad


def test_a_damaged_page_is_one_sentence_and_spares_the_other_chats(tmp_path):
    path = tmp_path / "conversations.db"
    good, bad = damaged_history(path)
    assert check(path)  # integrity_check sees it
    store = ConversationStore(path)
    assert [m.content for m in store.messages(good)] == ["hello there", "general kenobi"]
    with pytest.raises(HistoryDamaged) as caught:
        store.messages(bad)
    assert str(path) in caught.value.message and "doctor --repair" in caught.value.hint
    try:  # a search works, or (where it reads the page) says the same sentence
        store.list(query="lorem")
    except HistoryError as exc:
        assert "doctor --repair" in exc.hint
    assert store.get(good).title == "Fine chat"


def test_repair_saves_what_can_be_read_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "conversations.db"
    good, bad = damaged_history(path)
    done = repair(path)
    assert done.kept.exists() and done.new == path
    assert check(path) == []
    store = ConversationStore(path)
    assert [c.title for c in store.list()] == ["Doomed chat", "Fine chat"]
    assert [m.content for m in store.messages(good)] == ["hello there", "general kenobi"]
    saved = store.messages(bad)
    assert 0 < len(saved) < 12 and done.lost >= 1  # the rows on the bad page are gone
    assert [c.title for c in store.list(query="kenobi")] == ["Fine chat"]  # search rebuilt
    assert check(done.kept)  # the damaged file is kept as it was


def test_doctor_reports_and_repairs_through_the_cli(isolated_dirs, capsys):
    damaged_history(paths.history_db())
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "history:" in out and "is damaged" in out and "doctor --repair" in out
    assert main(["doctor", "--repair"]) == 0
    out = capsys.readouterr().out
    assert "repaired:" in out and "damaged file is" in out
    assert main(["doctor"]) == 0


def test_doctor_checks_the_versions_the_patches_were_written_for(capsys, monkeypatch):
    from qwen_tui.engine.bigdl import patches

    assert main(["doctor"]) == 0
    assert "patches: 7 written for bigdl-llm 2.5.0b20240627, transformers 4.37.2" in (
        capsys.readouterr().out
    )
    found = dict(patches.WRITTEN_FOR, **{"bigdl-llm": "2.6.0"})
    monkeypatch.setattr(patches, "installed_versions", lambda: found)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "written for bigdl-llm 2.5.0b20240627, found 2.6.0" in out
    assert "pip install bigdl-llm==2.5.0b20240627 transformers==4.37.2" in out
