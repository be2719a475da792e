"""Nothing a client sends can exhaust `qwen-tui serve`: the body's size and time, the bodies read
at once, the queue, the connections and how long a request's headers may take."""

from __future__ import annotations

import json
import threading

import openai
import pytest
from serving import HeldEngine, closed_by_server, response_on, serving, wait_until

from qwen_tui.serve.limits import Limits, parse_size

HEAD = (
    "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    "Content-Type: application/json\r\n{length}\r\n"
)


def head(length: int | None = None) -> bytes:
    framing = (
        f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    )
    return HEAD.format(length=framing).encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.fixture(scope="module")
def small(engine, tiny_quantized):
    """A server that takes bodies of 4 KiB at most, two at a time, each within 1 s."""
    limits = Limits(max_body=4096, bodies_at_once=2, small_body=1000, body_seconds=1)
    with serving(engine, tiny_quantized.folder_name, limits=limits) as s:
        yield s


def test_a_content_length_over_the_limit_is_413_before_any_of_it_is_sent(small):
    with small.connect(head(100 << 20)) as sock:  # 100 MiB announced, not a byte sent
        status, headers, body = response_on(sock)
        assert status == 413 and headers["connection"] == "close"
        error = json.loads(body)["error"]
        assert error["code"] == "request_too_large" and "--max-body" in error["message"]
        assert closed_by_server(sock)


def test_a_chunked_body_is_413_when_it_passes_the_limit(small):
    with small.connect(head()) as sock:
        sock.sendall(chunk(b" " * 3000) + chunk(b" " * 1500))  # 4500 bytes, no end in sight
        status, _, body = response_on(sock)
        assert status == 413 and json.loads(body)["error"]["code"] == "request_too_large"
    assert small.server.config.app.state.bodies.budget.held == 0


def test_a_body_within_the_limit_is_read_whole_in_chunks(small):
    body = json.dumps(
        {
            "model": small.model,
            "messages": [{"role": "user", "content": "x" * 3000}],
            "max_tokens": 1,
        }
    ).encode()
    with small.connect(head()) as sock:
        sock.sendall(chunk(body[:1000]) + chunk(body[1000:]) + b"0\r\n\r\n")
        status, _, answer = response_on(sock)
    assert status == 200 and json.loads(answer)["usage"]["completion_tokens"] == 1


def test_the_bodies_read_at_once_hold_at_most_their_budget(small):
    """8192 bytes in all, each body's first 1000 aside."""
    budget = small.server.config.app.state.bodies.budget
    slow = [small.connect(head()) for _ in range(2)]
    try:
        for sock in slow:
            sock.sendall(chunk(b" " * 4000))  # chunked: 3000 bytes each count as they come
        wait_until(lambda: budget.held == 6000)
        with small.connect(head(4000)) as third:  # reserved before it is read: no room
            status, headers, body = response_on(third)
        assert status == 503 and int(headers["retry-after"]) > 0
        assert "too many large requests" in json.loads(body)["error"]["message"]
        with small.connect(head(900) + b"[" * 900) as small_one:  # never turned away
            assert response_on(small_one)[0] == 400
    finally:
        for sock in slow:
            sock.close()
    wait_until(lambda: budget.held == 0)


def test_a_body_that_does_not_arrive_in_time_is_408(small):
    with small.connect(head(100) + b'{"model": ') as sock:  # and no more
        status, headers, body = response_on(sock)
        assert status == 408 and headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "request_timeout"


def test_a_full_queue_is_429_with_retry_after(engine, tiny_quantized):
    held = HeldEngine(engine)
    with serving(held, tiny_quantized.folder_name, limits=Limits(max_queue=1)) as served:
        try:
            client = served.client()
            hi = [{"role": "user", "content": "hi"}]
            running = client.chat.completions.create(
                model=served.model, messages=hi, max_tokens=3000, stream=True
            )
            next(iter(running))  # it is being written: the queue is empty
            waited: list = []
            waiting = threading.Thread(
                target=lambda: waited.append(
                    client.chat.completions.create(model=served.model, messages=hi, max_tokens=2)
                )
            )
            waiting.start()
            wait_until(lambda: served.scheduler.waiting == 1)
            body = json.dumps({"model": served.model, "messages": hi}).encode()
            status, headers, text = served.request(
                "POST", "/v1/chat/completions", body, {"Content-Type": "application/json"}
            )
            assert status == 429 and int(headers["Retry-After"]) > 0
            assert json.loads(text)["error"]["code"] == "queue_full"
        finally:
            held.release.set()
        running.close()  # the waiting one runs, and has its reply
        waiting.join(60)
        assert waited[0].usage.completion_tokens == 2


def test_a_client_that_leaves_the_queue_frees_its_place(engine, tiny_quantized):
    held = HeldEngine(engine)
    with serving(held, tiny_quantized.folder_name, limits=Limits(max_queue=1)) as served:
        try:
            hi = [{"role": "user", "content": "hi"}]
            running = served.client().chat.completions.create(
                model=served.model, messages=hi, max_tokens=3000, stream=True
            )
            next(iter(running))
            with pytest.raises(openai.APITimeoutError):
                served.client(timeout=0.5).chat.completions.create(
                    model=served.model, messages=hi, max_tokens=2
                )
            wait_until(lambda: served.scheduler.waiting == 0)
            assert served.scheduler.finished[-1].why == "client"
            assert not any(f.stats.generated_tokens for f in served.scheduler.finished)  # yet
            running.close()
        finally:
            held.release.set()


def test_headers_that_do_not_come_close_the_connection(engine, tiny_quantized):
    limits = Limits(head_seconds=0.2)
    with serving(engine, tiny_quantized.folder_name, limits=limits) as served:
        with served.connect() as silent, served.connect(b"GET /health HTTP/1.1\r\nHo") as slow:
            assert closed_by_server(silent) and closed_by_server(slow)
        # a request that came whole is answered, then the connection waits for the next
        with served.connect(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") as sock:
            assert response_on(sock)[0] == 200


def test_past_the_connection_limit_the_longest_idle_one_is_closed(engine, tiny_quantized):
    limits = Limits(max_connections=3, head_seconds=600)
    with serving(engine, tiny_quantized.folder_name, limits=limits) as served:
        idle = [served.connect() for _ in range(3)]
        wait_until(lambda: len(served.server.server_state.connections) == 3)
        assert served.raw("GET", "/health")[0] == 200  # it took the place of the oldest
        assert closed_by_server(idle[0])
        for sock in idle:
            sock.close()


def test_past_the_connection_limit_with_every_one_busy_the_new_one_is_closed(
    engine, tiny_quantized
):
    limits = Limits(max_connections=2, head_seconds=600, body_seconds=600)
    with serving(engine, tiny_quantized.folder_name, limits=limits) as served:
        busy = [served.connect(head(100)) for _ in range(2)]  # their bodies are awaited
        wait_until(lambda: len(served.server.server_state.tasks) == 2)
        with served.connect() as extra:
            assert closed_by_server(extra)
        busy[0].sendall(b"{" + b" " * 99)
        assert response_on(busy[0])[0] == 400  # the busy ones were left alone
        for sock in busy:
            sock.close()


@pytest.mark.parametrize(
    "text, size", [("8M", 8 << 20), ("512k", 512 << 10), ("1GiB", 1 << 30), ("1000", 1000)]
)
def test_sizes(text, size):
    assert parse_size(text) == size


def test_a_size_that_is_not_one():
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_a_body_dripped_after_the_answer_does_not_keep_the_connection(engine, tiny_quantized):
    """/health answers without reading a body; the body's bytes, a few at a time, would
    otherwise cancel the keep-alive timer for ever and hold one of the connections."""
    import threading

    limits = Limits(keep_alive_seconds=0.3, head_seconds=600)
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"
    with serving(engine, tiny_quantized.folder_name, limits=limits) as served:
        with served.connect(request) as sock:
            sock.settimeout(10)
            assert response_on(sock)[0] == 200
            done = threading.Event()

            def drip() -> None:
                while not done.wait(0.05):
                    try:
                        sock.sendall(b"x")
                    except OSError:
                        return

            dripping = threading.Thread(target=drip)
            dripping.start()
            try:
                assert closed_by_server(sock)
            finally:
                done.set()
                dripping.join()
