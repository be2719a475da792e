"""RemoteEngine's failures, each one sentence and a next step, against the loopback fakes of
llama-server, ollama and vLLM (``tests/openai_fake.py``): refused, unknown host, 401, a model
not served, not an OpenAI API, an error or a drop mid-stream, a refused request, a server
that goes away."""

from __future__ import annotations

import pytest
from openai_fake import engine_for, free_port

from qwen_tui.engine.remote import RemoteEngine, RemoteError
from qwen_tui.engine.types import ChatMessage
from qwen_tui.remotes import RemoteEntry

ANSWER = "Hello! How can I help you today?"
HI = [ChatMessage("user", "hi")]


# -- failures: one sentence each ----------------------------------------------------------
def one_sentence(error: RemoteError) -> str:
    line = error.one_line()
    assert "\n" not in line and "Traceback" not in line
    return line


def test_a_refused_connection(fake_openai):
    engine = RemoteEngine(RemoteEntry("box", f"http://127.0.0.1:{free_port()}/v1", "m"))
    with pytest.raises(RemoteError) as caught:
        engine.load()
    line = one_sentence(caught.value)
    assert "refused the connection" in line and '[[remote]] "box"' in line


def test_an_unknown_host():
    engine = RemoteEngine(RemoteEntry("box", "http://no-such-host.invalid/v1", "m"))
    with pytest.raises(RemoteError) as caught:
        engine.load()
    assert "no-such-host.invalid" in one_sentence(caught.value)


def test_401_names_the_variable_that_holds_the_key(fake_openai, monkeypatch):
    fake = fake_openai("llama_server", key="right")
    monkeypatch.delenv("BOX_KEY", raising=False)
    cases = [
        ({}, "name that in api_key_env"),
        ({"api_key_env": "BOX_KEY"}, "Set the environment variable BOX_KEY"),
    ]
    for entry, hint in cases:
        with pytest.raises(RemoteError) as caught:
            engine_for(fake, **entry).load()
        line = one_sentence(caught.value)
        assert "HTTP 401: Invalid API Key" in line and hint in line
    monkeypatch.setenv("BOX_KEY", "wrong")
    with pytest.raises(RemoteError) as caught:
        engine_for(fake, api_key_env="BOX_KEY").load()
    assert "Check the key in the environment variable BOX_KEY" in one_sentence(caught.value)
    monkeypatch.setenv("BOX_KEY", "right")
    assert engine_for(fake, api_key_env="BOX_KEY").load().family == "llama.cpp"


def test_vllms_bare_unauthorized_answer(fake_openai):
    fake = fake_openai("vllm", key="right")
    with pytest.raises(RemoteError, match=r"refused the model list \(HTTP 401: Unauthorized\)"):
        engine_for(fake).load()


def test_a_model_the_server_does_not_serve_lists_those_it_does(fake_openai):
    fake = fake_openai("ollama")
    with pytest.raises(RemoteError) as caught:
        engine_for(fake, model="qwen3:14b").load()
    line = one_sentence(caught.value)
    assert "does not serve qwen3:14b (it serves: qwen3:8b, llama3.2:latest)" in line


def test_llama_server_with_one_model_answers_any_name(fake_openai):
    fake = fake_openai("llama_server")
    engine = engine_for(fake, model="whatever-i-call-it")
    engine.load()
    assert engine.chat(HI).text == ANSWER


def test_an_address_that_is_not_an_openai_api(fake_openai):
    fake = fake_openai("vllm")
    root = fake.base_url.removesuffix("/v1")
    with pytest.raises(RemoteError) as caught:
        RemoteEngine(RemoteEntry("box", root, "m")).load()
    assert f"Did you mean {root}/v1?" in one_sentence(caught.value)
    with pytest.raises(RemoteError) as caught:
        RemoteEngine(RemoteEntry("box", root + "/html", "m")).load()
    assert "not as an OpenAI-compatible server (its answer to /models is not JSON)" in (
        one_sentence(caught.value)
    )


@pytest.mark.parametrize(
    "flavor, said",
    [
        ("llama_server", "failed to decode the batch, n_batch = 512, ret = -3"),  # error: line
        ("vllm", "The decoder prompt (length 41000) is longer than"),  # data: {"error": ...}
    ],
)
def test_an_error_mid_stream_keeps_the_text_so_far(fake_openai, flavor, said):
    fake = fake_openai(flavor, script="error_mid_stream.sse")
    engine = engine_for(fake)
    engine.load()
    text: list[str] = []
    with pytest.raises(RemoteError) as caught:
        engine.chat(HI, on_text=text.append)
    assert "".join(text) == "Hello! How"
    line = one_sentence(caught.value)
    assert "stopped with an error mid-reply" in line and said in line


def test_a_connection_dropped_mid_reply(fake_openai):
    fake = fake_openai("ollama", cut_after=10)
    engine = engine_for(fake)
    engine.load()
    with pytest.raises(RemoteError, match="broke mid-reply"):
        engine.chat(HI)


def test_a_refused_chat_request(fake_openai):
    fake = fake_openai(
        "vllm",
        chat_status=400,
        chat_error={
            "error": {
                "message": "This model's maximum context length is 40960 tokens.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
        },
    )
    engine = engine_for(fake)
    engine.load()
    with pytest.raises(RemoteError) as caught:
        engine.chat(HI)
    line = one_sentence(caught.value)
    assert "maximum context length is 40960 tokens" in line and "Start a new chat" in line


def test_the_server_going_away_after_load(fake_openai):
    fake = fake_openai("vllm")
    engine = engine_for(fake)
    engine.load()
    fake.close()
    with pytest.raises(RemoteError) as caught:
        engine.chat(HI)
    assert "refused the connection" in one_sentence(caught.value)
