"""How many threads decode a token (engine/runtime/thread_choice.py): the count that decodes
fastest now, found by timing; and what makes switching safe (every count gives the same
logits) and real (the decoder runs the count it picked)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qwen_tui.engine.runtime import thread_choice
from qwen_tui.engine.runtime.thread_choice import ThreadChoice, candidates


def run(choice: ThreadChoice, tokens: int, seconds) -> list[int]:  # type: ignore[no-untyped-def]
    """Decode ``tokens`` tokens, a token with n threads taking ``seconds(n, i)``."""
    used = []
    for i in range(tokens):
        n = choice.pick()
        used.append(n)
        choice.record(n, seconds(n, i))
    return used


def test_the_counts_tried(monkeypatch):
    assert candidates(2) == [2, 1] and candidates(4) == [4, 3, 1] and candidates(1) == [1]
    monkeypatch.setenv("QWEN_TUI_THREAD_CHOICE", "off")
    assert candidates(4) == [4]
    used = run(ThreadChoice(4), 300, lambda n, i: 1.0 if n == 1 else 9.0)
    assert set(used) == {4}  # off: never another count, however much faster


def test_a_quiet_machine_keeps_every_thread_and_tries_one_ever_less_often():
    quiet = {2: 0.010, 1: 0.016}  # one thread 60 % slower
    used = run(ThreadChoice(2), 3000, lambda n, i: quiet[n])
    assert used[: thread_choice.FIRST] == [2] * thread_choice.FIRST
    ones = [i for i, n in enumerate(used) if n == 1]
    assert len(ones) / len(used) < 0.02  # under 2 % of tokens on the slower count
    starts = [i for i in ones if i - 1 not in ones]  # the trials' first tokens
    gaps = np.diff(starts)
    assert list(gaps[:3]) == sorted(gaps[:3]) and gaps[0] < gaps[2]  # ever rarer...
    assert max(gaps) <= thread_choice.LONGEST + thread_choice.TRIAL + 1  # ...up to a bound
    assert used[-1] == 2


def test_a_busy_machine_moves_to_the_faster_count_within_a_few_tokens():
    busy = {2: 0.040, 1: 0.013}  # a hog on one core: two threads wait on each other
    choice = ThreadChoice(2)
    used = run(choice, 200, lambda n, i: busy[n])
    first_one = used.index(1)
    assert first_one <= thread_choice.FIRST + thread_choice.TRIAL
    assert set(used[first_one:]) == {1} or used[-50:].count(1) >= 45
    assert choice.current == 1 and choice.switches == 1


def test_a_count_that_takes_a_second_a_token_is_tried_once_and_then_seldom():
    """Another session's hog under autogroup scheduling: two threads take ~1 s a token against
    12.5 ms on one. A trial ends on its first such token, and later trials cost at most
    about COST of the time spent decoding."""
    slow = {2: 1.0, 1: 0.0125}
    choice = ThreadChoice(2)
    window = thread_choice.WINDOW
    choice.current, choice.recent = 1, thread_choice.deque([0.0125] * window, maxlen=window)
    choice.waits = {2: 0, 1: 0}  # a trial of two threads is due
    used = run(choice, 20000, lambda n, i: slow[n])
    assert used[:2] == [2, 1]  # one token of the trial, then back

    on_two = used.count(2)
    total = sum(slow[n] for n in used)
    assert (
        2 <= on_two and on_two * 1.0 <= 1.5 * thread_choice.COST * total + 1.0
    )  # ~2 %, and tried again

    jolted = ThreadChoice(2)  # the same hog starting while two threads decode
    used = run(jolted, 100, lambda n, i: slow[n] if i >= 50 else {2: 0.008, 1: 0.0125}[n])
    assert used[51:55] == [1] * 4 and jolted.current == 1  # one token 100x slower is enough


def test_a_hog_that_starts_mid_reply_is_noticed_and_its_end_too():
    def times(n, i):  # quiet, then a hog from token 600 to 1400, then quiet again
        hog = 600 <= i < 1400
        return {2: 0.040, 1: 0.013}[n] if hog else {2: 0.010, 1: 0.016}[n]

    choice = ThreadChoice(2)
    used = run(choice, 2000, times)
    assert used[590] == 2
    # four times slower: the pace of the last tokens says so once most of them are, the
    # fifth (a trial), and one thread takes over
    assert used[600:605] == [2] * 5
    assert used[605 : 605 + thread_choice.TRIAL] == [1] * thread_choice.TRIAL
    assert used[605:700].count(1) >= 88  # a trial of two threads now and then
    back = next(i for i in range(1400, 2000) if used[i] == 2 and used[i + 10] == 2)
    assert back - 1400 <= thread_choice.LONGEST + 2 * thread_choice.TRIAL
    assert used[-1] == 2 and choice.switches == 2


def test_the_apps_own_redraws_do_not_move_decode_to_one_thread():
    """The app's UI thread redraws a streaming reply about once a second, sharing a core with
    one of two decoding threads for two or three tokens; one thread, alone on the other core,
    is faster only for as long. Two threads stay, as they decode faster the rest of the time.
    (Judged on the last four tokens, a third of a reply ran on one thread, 25 % slower.)"""

    def times(n, i):
        burst = i % 80 in (40, 41, 42)  # a redraw: 3 tokens of two threads 2-4x slower
        return {2: (0.024, 0.018, 0.040)[i % 80 - 40] if burst else 0.0105, 1: 0.013}[n]

    choice = ThreadChoice(2)
    used = run(choice, 2000, times)
    assert used.count(1) / len(used) < 0.02 and choice.switches == 0


def test_every_thread_count_gives_the_same_logits(engine, monkeypatch):
    """Why switching is safe: each output is computed whole by one thread, so 1, 2 or 3
    threads give the same bits for a prompt and for each decoded token."""
    from qwen_tui.engine.native.model import NativeModel

    monkeypatch.setenv("QWEN_TUI_THREAD_CHOICE", "off")  # the count under test, throughout

    def logits(threads: int) -> np.ndarray:
        model = NativeModel(engine.model_dir, threads)
        assert model.choice.counts == [threads]
        cache = model.new_cache()
        rows = [model.logits(model.hidden(list(range(40, 90)), cache))]
        rows += [model.logits(model.hidden([token], cache)) for token in (7, 300, 21)]
        return np.concatenate(rows)

    one = logits(1)
    assert np.array_equal(one, logits(2)) and np.array_equal(one, logits(3))


def test_the_decoder_runs_the_count_picked_and_times_each_token(engine, monkeypatch):
    from qwen_tui.engine.types import ChatMessage, GenerationParams

    model = engine.model
    seen, recorded = [], []
    decode = model.decoder.decode

    def spy(h, past, positions, tables, states, last_only, scratch, threads):  # type: ignore[no-untyped-def]
        seen.append((len(positions), threads))
        return decode(h, past, positions, tables, states, last_only, scratch, threads)

    picks = iter([1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3])
    monkeypatch.setattr(model.decoder, "decode", spy)
    monkeypatch.setattr(model.choice, "pick", lambda: next(picks))
    monkeypatch.setattr(model.choice, "record", lambda n, s: recorded.append((n, s)))
    params = GenerationParams(temperature=0, max_new_tokens=6, repetition_penalty=1.0)
    engine.chat([ChatMessage("user", "hello")], params, ignore_stop=True)
    tokens = [threads for rows, threads in seen if rows == 1]
    assert seen[0][0] > 1 and seen[0][1] == model.threads  # the prompt: every thread
    assert tokens == [1, 3, 1, 3, 1][: len(tokens)] and len(tokens) == 5
    assert [n for n, _ in recorded] == tokens and all(s > 0 for _, s in recorded)
    seen.clear()
    monkeypatch.setattr(model.choice, "current", 1)  # decode found one thread faster
    engine.chat([ChatMessage("user", "hello again")], params, ignore_stop=True)
    assert seen[0][0] > 1 and seen[0][1] == 1  # so the prompt runs on one too


def test_bench_busy_measures_again_beside_a_hog_and_says_what_was_kept(installed_model, capsys):
    from qwen_tui.cli import main

    argv = ["bench", "--prompt-tokens", "16", "--new-tokens", "8", "--turns", "0", "--no-ui",
            "--busy", "--json"]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    busy = data["busy"]
    assert [p["prompt_tokens"] for p in busy["prompts"]] == [
        p["prompt_tokens"] for p in data["prompts"]
    ]
    assert busy["hog_cpu_s"] > 0.1  # the hog really ran beside the measurement
    for calm, hogged in zip(data["prompts"], busy["prompts"], strict=True):
        kept = hogged["decode_tok_s"] / calm["decode_tok_s"]
        assert hogged["decode_kept"] == pytest.approx(kept, abs=1e-3)
    assert data["threads_chosen"]["counts"][0] == data["threads"]
    assert main(argv[:-1]) == 0  # the table says it too
    assert "with a CPU hog on one core" in capsys.readouterr().out
