"""A chat's params and a reply's stats are checked value by value: on import (what is
wrong is left out and listed) and on every read (what an older version stored wrong never
reaches the code that formats or samples with it)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from qwen_tui.engine.types import FALLBACK_PARAMS, SEED_MAX, GenerationParams, ReplyStats
from qwen_tui.history import ConversationStore
from qwen_tui.history.checked import clean_params, clean_stats


@pytest.fixture
def store(tmp_path):
    s = ConversationStore(tmp_path / "history.db")
    yield s
    s.close()


def export_with(params=None, stats=None) -> dict:
    return {
        "format": "qwen-tui-conversation",
        "version": 1,
        "title": "t",
        "params": params,
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "stats": stats},
        ],
    }


GOOD_STATS = {**ReplyStats(3, 1, 2, 0.5, 9.5, 1.0, 0, 12, 2048, "length").to_dict()}
GOOD_STATS |= {"model": "tiny", "format": "sym_int4", "thinking_seconds": 1.5, "tokens": "x"}
GOOD_STATS |= {"params": {**FALLBACK_PARAMS.to_dict(), "top_k": -1}}  # a model's own: kept


def test_what_our_own_code_writes_passes_unchanged() -> None:
    params = GenerationParams(0.0, 1.0, 0, 0.5, 1, SEED_MAX, False).to_dict()
    assert clean_params(params) == (params, [])
    assert clean_stats(GOOD_STATS) == (GOOD_STATS, [])  # unknown keys are kept as they are


@pytest.mark.parametrize(
    "params, dropped",
    [
        ({"enable_thinking": "x"}, "enable_thinking must be true or false, not 'x'"),
        ({"enable_thinking": 1}, "enable_thinking must be true or false, not 1"),
        ({"temperature": "0.5"}, "temperature must be a number, not '0.5'"),
        ({"temperature": 5}, "temperature must be a number from 0 to 2, not 5"),
        ({"temperature": float("nan")}, "temperature must be a number, not nan"),
        ({"top_k": 2.5}, "top_k must be a whole number, not 2.5"),
        ({"max_new_tokens": True}, "max_new_tokens must be a whole number, not True"),
        ({"seed": -1}, f"seed must be a whole number from 0 to {SEED_MAX}, not -1"),
    ],
)
def test_an_import_leaves_out_each_wrong_param_and_says_so(store, params, dropped) -> None:
    imported = store.import_json(export_with({**params, "top_p": 0.5}))
    assert imported.dropped == [f"params: {dropped}; dropped."]
    assert store.get(imported.conversation.id).params == {"top_p": 0.5}


@pytest.mark.parametrize(
    "stats, dropped, kept",
    [
        ({"decode_tokens_per_s": "x"}, "decode_tokens_per_s must be a number of 0 or more", {}),
        ({"total_seconds": float("inf")}, "total_seconds must be a number of 0 or more", {}),
        ({"context_used": -1}, "context_used must be a whole number of 0 or more", {}),
        ({"finish_reason": "done"}, "finish_reason must be one of 'stop', 'length'", {}),
        ({"model": 3}, "model must be text", {}),
        ({"params": [1]}, "params must be an object", {}),
        ({"params": {"seed": "x"}}, "params: seed must be a whole number", {"params": {}}),
    ],
)
def test_an_import_leaves_out_each_wrong_stat_and_says_so(store, stats, dropped, kept) -> None:
    imported = store.import_json(export_with(stats={"generated_tokens": 2, **stats}))
    (note,) = imported.dropped
    assert note.startswith(f"message 2 stats: {dropped}") and note.endswith("; dropped.")
    assert store.messages(imported.conversation.id)[1].stats == {"generated_tokens": 2, **kept}


def test_a_right_export_imports_with_nothing_left_out(store) -> None:
    imported = store.import_json(export_with({"temperature": 0.3}, GOOD_STATS))
    assert imported.dropped == []
    assert store.messages(imported.conversation.id)[1].stats == GOOD_STATS


def test_wrong_values_an_older_version_stored_are_not_read(store, tmp_path) -> None:
    cid = store.create("old").id
    first = store.add_message(cid, "assistant", "a", stats={"generated_tokens": 2}).id
    second = store.add_message(cid, "assistant", "b").id
    db = sqlite3.connect(tmp_path / "history.db")
    with db:
        bad = json.dumps({"temperature": "hot", "enable_thinking": "x", "top_p": 0.5})
        db.execute("UPDATE conversations SET params = ? WHERE id = ?", (bad, cid))
        bad = json.dumps({"decode_tokens_per_s": "x", "generated_tokens": 2})
        db.execute("UPDATE messages SET stats = ? WHERE id = ?", (bad, first))
        db.execute("UPDATE messages SET stats = '[1, 2' WHERE id = ?", (second,))  # not JSON
    db.close()
    assert store.get(cid).params == {"top_p": 0.5}
    assert [m.stats for m in store.messages(cid)] == [{"generated_tokens": 2}, None]
