"""`qwen-tui serve`'s errors: OpenAI's shape and status codes, the API key, request checking."""

from __future__ import annotations

import json

import openai
import pytest
from serving import KEY, serving, wait_until

from qwen_tui.serve.request import parse_chat_request


@pytest.fixture(scope="module")
def served(engine, tiny_quantized):
    with serving(engine, tiny_quantized.folder_name, ("tiny",), api_key=KEY) as s:
        yield s


AUTH = {"Authorization": f"Bearer {KEY}"}
JSON = {"Content-Type": "application/json"}


def post(served, body, **headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return served.error("POST", "/v1/chat/completions", raw, **{**AUTH, **JSON, **headers})


def hi(served, **fields):
    return {"model": served.model, "messages": [{"role": "user", "content": "hi"}], **fields}


def test_bad_json_is_a_400(served):
    status, error = post(served, b'{"model": "tiny", "messages": [')
    assert status == 400 and error["type"] == "invalid_request_error"
    assert "not valid JSON" in error["message"]
    status, error = post(served, [1, 2])
    assert status == 400 and "JSON object" in error["message"]


def test_an_unknown_model_is_a_404(served):
    with pytest.raises(openai.NotFoundError) as caught:
        served.client().chat.completions.create(
            model="qwen-72b", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert caught.value.code == "model_not_found" and served.model in caught.value.message
    status, _ = served.error("GET", "/v1/models/qwen-72b", **AUTH)
    assert status == 404


@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_too_long_for_the_window_is_a_400(served, stream):
    long = "The quick brown fox jumps over the lazy dog. " * 600  # far past 4096 tokens
    with pytest.raises(openai.BadRequestError) as caught:
        served.client().chat.completions.create(
            model=served.model,
            messages=[{"role": "user", "content": long}],
            max_tokens=4,
            stream=stream,
        )
    assert caught.value.code == "context_length_exceeded"
    assert "4096 tokens" in caught.value.message
    # max_tokens alone can ask for more than the window holds
    status, error = post(served, hi(served, max_tokens=4096))
    assert status == 400 and error["code"] == "context_length_exceeded"
    assert "max_tokens asks for 4096" in error["message"]
    # and the server goes on serving
    reply = served.client().chat.completions.create(**hi(served, max_tokens=2))
    assert reply.usage.completion_tokens == 2


def test_an_engine_failure_is_a_500_that_keeps_its_details_in_the_log(served, engine, monkeypatch):
    from qwen_tui import paths
    from qwen_tui.errors import EngineError

    secret = "/home/someone/secret/file.py"
    for failure in [
        RuntimeError(f"boom in {secret}"),
        EngineError(f"The kernel fell over in {secret}.", "Run qwen-tui doctor."),
    ]:

        def broken(*args, failure=failure, **kwargs):
            raise failure

        with monkeypatch.context() as patch:
            patch.setattr(engine, "chat", broken)
            with pytest.raises(openai.InternalServerError) as caught:
                served.client().chat.completions.create(**hi(served, max_tokens=2))
        assert caught.value.status_code == 500 and caught.value.type == "server_error"
        body = json.dumps(caught.value.body)
        assert "log has the details" in body
        assert "boom" not in body and "kernel" not in body and "/home" not in body
        assert str(paths.log_file()) not in body
    # the worker says a failure on its own thread, after the answer has gone out
    wait_until(lambda: any("The kernel fell over" in line for line in served.log))
    log = paths.log_file().read_text()
    assert f"RuntimeError: boom in {secret}" in log and "Traceback" in log
    assert "The kernel fell over" in log
    assert served.client().chat.completions.create(**hi(served, max_tokens=2)).choices


def test_the_worker_survives_a_log_that_raises(engine, tiny_quantized, monkeypatch):
    def closed_stderr(line):
        raise ValueError("I/O operation on closed file.")

    with serving(engine, tiny_quantized.folder_name, log=closed_stderr) as served:
        client = served.client(timeout=60)
        for _ in range(2):  # the first reply's log line raised on the worker
            assert client.chat.completions.create(**hi(served, max_tokens=2)).choices
        with monkeypatch.context() as patch:
            patch.setattr(engine, "chat", lambda *args, **kwargs: 1 / 0)
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(**hi(served, max_tokens=2))
        status, error = post(served, hi(served, max_tokens=4096))  # fails before the worker
        assert status == 400 and error["code"] == "context_length_exceeded"
        assert client.chat.completions.create(**hi(served, max_tokens=2)).choices


def test_a_bug_in_a_handler_is_a_500_without_its_text(served, monkeypatch):
    from qwen_tui import paths
    from qwen_tui.serve import app

    def broken(body):
        raise KeyError("/srv/qwen/handler.py")

    monkeypatch.setattr(app, "parse_chat_request", broken)
    status, error = post(served, hi(served))
    assert status == 500 and error["type"] == "server_error"
    assert "handler.py" not in json.dumps(error) and "KeyError" not in json.dumps(error)
    assert "KeyError: '/srv/qwen/handler.py'" in paths.log_file().read_text()


def test_the_api_key_is_required(served):
    with pytest.raises(openai.AuthenticationError) as caught:
        served.client(api_key="wrong").models.list()
    assert caught.value.code == "invalid_api_key"
    status, error = served.error("POST", "/v1/chat/completions", json.dumps(hi(served)).encode())
    assert status == 401 and "Authorization: Bearer" in error["message"]
    status, _ = served.error("GET", "/v1/models", Authorization=f"Basic {KEY}")
    assert status == 401
    assert served.raw("GET", "/health")[0] == 200  # health needs no key


@pytest.mark.parametrize(
    "fields, param, words",
    [
        ({"temperature": 5}, "temperature", "from 0 to 2"),
        ({"max_tokens": 0}, "max_tokens", "from 1 to"),
        ({"max_tokens": 2.5}, "max_tokens", "whole number"),
        ({"seed": "7"}, "seed", "whole number"),
        ({"n": 2}, "n", "one reply"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
        ({"stream": "yes"}, "stream", "true or false"),
        ({"messages": []}, "messages", "non-empty"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id", "name the"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role", "old API"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, None, "text"),
        ({"model": None}, "model", "GET /v1/models"),
        ({"response_format": {"type": "json_object"}}, "response_format", "not supported"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(served, fields, param, words):
    status, error = post(served, hi(served, **fields))
    assert status == 400, error
    assert words in error["message"]
    if param:
        assert error["param"] == param


BIG = "1" + "0" * 400
NUMBERS = ["temperature", "top_p", "top_k", "repetition_penalty", "max_tokens", "seed"]
NOT_NUMBERS = ["NaN", "Infinity", "-Infinity", BIG, "-" + BIG, BIG + ".5", "1e400", '"1"', "[1]"]
NOT_NUMBERS += ["true", "{}"]


@pytest.mark.parametrize(
    "field, value",
    [(f, v) for f in NUMBERS for v in NOT_NUMBERS]
    + [(f, "1e-40") for f in NUMBERS if f != "top_p"]
    + [("max_completion_tokens", v) for v in ("NaN", BIG, "1e-40", '"2"')],
)
def test_a_number_out_of_reason_is_a_400_naming_its_field(served, field, value):
    text = json.dumps(hi(served))[:-1] + f', "{field}": {value}}}'
    status, error = post(served, text.encode())
    assert status == 400 and error["param"] == field, error
    assert len(error["message"]) < 200  # the 400 digits are not echoed whole


def test_numbers_at_their_edges_are_taken(served):
    fields = {"temperature": 0.01, "top_p": 1e-40, "seed": 2**64 - 1, "max_tokens": 2}
    extra = {"repetition_penalty": 100, "top_k": 2**31 - 1}
    reply = served.client().chat.completions.create(**hi(served, **fields), extra_body=extra)
    assert reply.usage.completion_tokens == 2
    status, error = post(served, hi(served, temperature=0.001))
    assert status == 400 and "0 (greedy) or from 0.01" in error["message"]


@pytest.mark.parametrize(
    "raw, words",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"seed": ' + b"9" * 5000 + b"}", "not valid JSON"),  # past Python's 4300 digits
        (b'{"model": "\xff"}', "not valid JSON"),  # not UTF-8
    ],
)
def test_json_that_python_cannot_read_is_a_400(served, raw, words):
    status, error = post(served, raw)
    assert status == 400 and words in error["message"]


def test_lone_surrogates_are_refused_or_quoted_not_500(served):
    text = json.dumps(hi(served)).replace('"hi"', '"hi \\ud800"')
    status, error = post(served, text.encode())
    assert status == 400 and error["param"] == "messages[0].content"
    status, error = post(served, json.dumps(hi(served, model="\ud800")).encode())
    assert status == 404 and error["code"] == "model_not_found"


def test_too_many_messages_or_too_long_stop_strings_are_400(served):
    many = [{"role": "user", "content": "hi"}] * 2049
    status, error = post(served, hi(served, messages=many))
    assert status == 400 and error["param"] == "messages" and "2048" in error["message"]
    status, error = post(served, hi(served, stop=["x" * 257]))
    assert status == 400 and error["param"] == "stop" and "256" in error["message"]
    reply = served.client().chat.completions.create(**hi(served, max_tokens=2, stop=["x" * 256]))
    assert reply.usage.completion_tokens == 2


def test_unknown_fields_are_ignored(served):
    reply = served.client().chat.completions.create(
        **hi(served, max_tokens=2), extra_body={"frobnicate": True, "mirostat": 2}
    )
    assert reply.usage.completion_tokens == 2


def test_unknown_routes_and_methods_are_openai_errors(served):
    status, error = served.error("GET", "/v1/completions/nope", **AUTH)
    assert status == 404 and "/v1/chat/completions" in error["message"]
    status, error = served.error("GET", "/v1/chat/completions", **AUTH)
    assert status == 405 and "GET" in error["message"]


def test_assistant_messages_sent_back_with_their_thinking():
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "s"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nanswer"},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": "so", "reasoning_content": "thought"},
        ],
        "chat_template_kwargs": {"enable_thinking": False},
        "max_completion_tokens": 9,
        "max_tokens": 99,
        "top_k": -1,
    }
    request = parse_chat_request(body)
    user, first, last = request.messages[1], request.messages[2], request.messages[4]
    assert user.content == "ab"
    assert (first.content, first.reasoning) == ("answer", "hmm")
    assert (last.content, last.reasoning) == ("so", "thought")
    assert request.continue_reply  # a last assistant message is a reply to write on
    assert request.params.enable_thinking is False and request.params.max_new_tokens == 9
    assert request.params.top_k is None
