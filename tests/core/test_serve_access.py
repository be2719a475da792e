"""A web page cannot use `qwen-tui serve`: JSON bodies only, the Host must name the server, and
an Origin must be allowed (then CORS). The server runs without a key, as on 127.0.0.1 by
default, the case these checks are for."""

from __future__ import annotations

import json
import time

import pytest
from serving import KEY, serving

from qwen_tui.serve.access import access_for

PAGE = "http://localhost:3000"  # a web UI the user allowed


@pytest.fixture(scope="module")
def served(engine, tiny_quantized):
    access = access_for("127.0.0.1", ["my.box"], [PAGE + "/"])
    with serving(engine, tiny_quantized.folder_name, ("tiny",), access=access) as s:
        yield s


def chat_body(served, **fields):
    messages = [{"role": "user", "content": "hi"}]
    return json.dumps({"model": served.model, "messages": messages, "max_tokens": 2, **fields})


def replies(served):
    """How many requests have reached the scheduler so far, once the last one's log line is
    written (it may follow the reply the client already read: the previous test's, say)."""
    counts = (len(served.scheduler.finished), len(served.log))
    for _ in range(100):
        time.sleep(0.02)
        now = (len(served.scheduler.finished), len(served.log))
        if now == counts and now[1] >= now[0]:
            break
        counts = now
    return counts


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", None],
)
def test_a_post_that_is_not_json_is_415_and_the_model_never_runs(served, content_type):
    before = replies(served)
    headers = {"Content-Type": content_type} if content_type else {}
    status, error = served.error(
        "POST", "/v1/chat/completions", chat_body(served).encode(), **headers
    )
    assert status == 415 and error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert replies(served) == before


def test_json_with_a_charset_is_json(served):
    headers = {"Content-Type": "Application/JSON; charset=UTF-8"}
    status, text = served.raw("POST", "/v1/chat/completions", chat_body(served).encode(), headers)
    assert status == 200 and json.loads(text)["usage"]["completion_tokens"] == 2


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8080", "localhost.evil.example", "127.0.0.1.nip.io", ""]
)
def test_a_request_sent_to_another_name_is_403(served, host):
    """What DNS rebinding looks like: a page's own name, resolved to 127.0.0.1."""
    before = replies(served)
    for method, path, body in [
        ("POST", "/v1/chat/completions", chat_body(served).encode()),
        ("GET", "/v1/models", None),
        ("GET", "/health", None),
    ]:
        headers = {"Host": host, "Content-Type": "application/json"}
        status, error = served.error(method, path, body, **headers)
        assert status == 403 and error["code"] == "host_not_allowed", (method, path)
        assert "--allowed-host" in error["message"]
    assert replies(served) == before


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}", "[::1]",
             "my.box:{port}", "web.localhost:{port}", "192.168.1.20:{port}"],
)  # fmt: skip
def test_this_servers_names_and_any_address_are_answered(served, host):
    port = served.url.rsplit(":", 1)[1]
    status, text = served.raw("GET", "/v1/models", headers={"Host": host.format(port=port)})
    assert status == 200 and json.loads(text)["data"][0]["id"] == served.model


def test_a_page_of_an_origin_not_allowed_is_403(served):
    before = replies(served)
    for origin in [
        "http://evil.example",
        "http://localhost:3001",
        "https://localhost:3000",
        "null",
    ]:
        headers = {"Origin": origin, "Content-Type": "application/json"}
        status, error = served.error(
            "POST", "/v1/chat/completions", chat_body(served).encode(), **headers
        )
        assert status == 403 and error["code"] == "origin_not_allowed", origin
        assert "--cors-origin" in error["message"]
        status, _ = served.error("GET", "/v1/models", Origin=origin)
        assert status == 403
        preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
        status, headers, _ = served.request("OPTIONS", "/v1/chat/completions", headers=preflight)
        assert status == 403 and "access-control-allow-origin" not in headers
    assert replies(served) == before


def test_an_allowed_origin_gets_cors_headers_and_its_preflight_answered(served):
    preflight = {
        "Origin": PAGE,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
    }
    status, headers, _ = served.request("OPTIONS", "/v1/chat/completions", headers=preflight)
    assert status == 204
    assert headers["access-control-allow-origin"] == PAGE
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == preflight["Access-Control-Request-Headers"]
    assert "Origin" in headers["vary"] and int(headers["access-control-max-age"]) > 0

    page = {"Origin": PAGE, "Content-Type": "application/json"}
    status, headers, text = served.request(
        "POST", "/v1/chat/completions", chat_body(served).encode(), page
    )
    assert status == 200 and json.loads(text)["choices"]
    assert headers["access-control-allow-origin"] == PAGE and "Origin" in headers["vary"]
    status, headers, text = served.request(
        "POST", "/v1/chat/completions", chat_body(served, stream=True).encode(), page
    )
    assert status == 200 and text.endswith("data: [DONE]\n\n")
    assert headers["access-control-allow-origin"] == PAGE
    status, headers, _ = served.request("POST", "/v1/chat/completions", b"{", page)
    assert status == 400 and headers["access-control-allow-origin"] == PAGE  # errors too


def test_any_origin_with_a_key(engine, tiny_quantized):
    access = access_for("127.0.0.1", [], ["*"])
    with serving(engine, tiny_quantized.folder_name, api_key=KEY, access=access) as served:
        headers = {"Origin": "https://chat.example", "Authorization": f"Bearer {KEY}"}
        status, answer, _ = served.request("GET", "/v1/models", headers=headers)
        assert status == 200 and answer["access-control-allow-origin"] == "*"
        status, _ = served.error("GET", "/v1/models", Origin="https://chat.example")
        assert status == 401  # the key still counts


@pytest.mark.parametrize(
    "given, origin",
    [
        ("http://LocalHost:3000/", "http://localhost:3000"),
        ("https://chat.example:443", "https://chat.example"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("chrome-extension://abcdef", "chrome-extension://abcdef"),
    ],
)
def test_origins_are_written_as_browsers_send_them(given, origin):
    assert access_for("127.0.0.1", [], [given]).origins == {origin}


@pytest.mark.parametrize("given", ["null", "localhost:3000", "http://a.example/path", "http://"])
def test_what_is_not_an_origin_is_refused(given):
    with pytest.raises(ValueError, match="scheme://host"):
        access_for("127.0.0.1", [], [given])
