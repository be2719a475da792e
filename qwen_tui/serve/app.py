"""The Starlette app: ``GET /health``, ``GET /v1/models``, ``POST /v1/chat/completions``.

Every error is JSON in OpenAI's shape, unknown routes and methods too, and a 500 says only
that the log has the details. Requests pass ``access.py``'s checks (Host, Origin) first. With
an API key, the ``/v1`` routes want ``Authorization: Bearer KEY``; ``/health`` never does.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..engine.types import Engine
from .access import Access, AccessGuard
from .body import BodyReader
from .chunks import DONE, Completion, call_deltas, sse
from .errors import ApiError, internal_error
from .jobs import Done, Failed, Job, Piece
from .limits import Limits
from .request import ChatRequest, check_model, parse_chat_request
from .scheduler import Scheduler


@dataclass(frozen=True)
class ServedModel:
    id: str  # the store's name, "coder-mixed_int5"
    aliases: tuple[str, ...] = ()  # other names a request may use ("coder")
    context_window: int = 0
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    def card(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": "qwen-tui",
            "max_model_len": self.context_window,  # vLLM's name for the context window
        }


def create_app(
    engine: Engine,
    model: ServedModel,
    *,
    api_key: str | None = None,
    log: Callable[[str], None] | None = None,
    limits: Limits | None = None,
    access: Access | None = None,
) -> Starlette:
    """The app for a loaded ``engine``; ``app.state.scheduler`` is its queue of replies,
    ``app.state.limits`` what uvicorn is told too."""
    limits = limits or Limits()
    scheduler = Scheduler(engine, log, limits)
    bodies = BodyReader(limits)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        worker = asyncio.create_task(scheduler.run())
        try:
            yield
        finally:
            scheduler.shutdown()
            worker.cancel()

    def authorize(request: Request) -> None:
        if not api_key:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), api_key.encode()
        ):
            raise ApiError(
                401,
                "Invalid or missing API key: send it as 'Authorization: Bearer KEY'.",
                code="invalid_api_key",
            )

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def models(request: Request) -> Response:
        authorize(request)
        return JSONResponse({"object": "list", "data": [model.card()]})

    async def one_model(request: Request) -> Response:
        authorize(request)
        wanted = request.path_params["model_id"]
        if wanted not in model.ids:
            raise ApiError(
                404, f"The model '{wanted}' does not exist here.", code="model_not_found"
            )
        return JSONResponse(model.card())

    async def chat(request: Request) -> Response:
        authorize(request)
        chat_request = parse_chat_request(await bodies.json(request))
        check_model(chat_request, model.ids)
        job = scheduler.submit(chat_request)
        watcher = asyncio.create_task(_watch_disconnect(request, job))
        streaming = False
        try:
            first = await job.next()  # Started, or why it cannot
            if isinstance(first, Failed):
                raise first.error
            completion = Completion(model.id)
            if chat_request.stream:
                streaming = True  # the stream's own finally lets go of the job from here on
                return StreamingResponse(
                    _stream(job, completion, chat_request, watcher),
                    media_type="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                )
            return JSONResponse(await _whole(job, completion))
        finally:
            if not streaming:
                watcher.cancel()
                job.leave()

    routes = [
        Route("/health", health),
        Route("/v1/models", models),
        Route("/v1/models/{model_id:path}", one_model),
        Route("/v1/chat/completions", chat, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(AccessGuard, access=access or Access()),
            Middleware(LastResort),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},  # type: ignore[dict-item]
    )
    app.state.scheduler = scheduler
    app.state.limits = limits
    app.state.bodies = bodies
    return app


class LastResort:
    """ASGI middleware: an exception no handler expected is logged with its traceback, and the
    client gets a 500 that says only that (no exception text, no path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if scope["type"] != "http":
                raise
            from ..log import log_error

            try:
                log_error(exc, f"qwen-tui serve: {scope['method']} {scope['path']}")
            except Exception:  # an unwritable log loses the traceback, not the answer
                pass
            if started:  # too late for a status: the client sees the connection close
                raise
            await internal_error().response()(scope, receive, send)


async def _watch_disconnect(request: Request, job: Job) -> None:
    """Drop the job when the client closes the connection."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            job.leave()
            return


async def _whole(job: Job, completion: Completion) -> dict[str, Any]:
    while True:
        event = await job.next()
        if isinstance(event, Done):
            return completion.whole(
                event.text, event.reasoning, event.finish_reason, event.stats, event.tool_calls
            )
        if isinstance(event, Failed):
            raise event.error


async def _stream(
    job: Job, completion: Completion, request: ChatRequest, watcher: asyncio.Task[None]
) -> AsyncIterator[str]:
    usage = request.include_usage
    over = False
    try:
        yield sse(completion.chunk({"role": "assistant", "content": ""}, include_usage=usage))
        while not over:
            event = await job.next()
            if isinstance(event, Piece):
                field = "reasoning_content" if event.reasoning else "content"
                yield sse(completion.chunk({field: event.text}, include_usage=usage))
            elif isinstance(event, Done):
                over = True
                for delta in call_deltas(event.tool_calls):
                    yield sse(completion.chunk(delta, include_usage=usage))
                yield sse(completion.chunk({}, event.finish_reason, usage, event.stats))
                if usage:
                    yield sse(completion.usage_chunk(event.stats))
                yield DONE
            elif isinstance(event, Failed):  # the status is sent: the error goes in the stream
                over = True
                yield sse(event.error.body())
    finally:
        watcher.cancel()
        job.leave()


async def _api_error(request: Request, exc: ApiError) -> Response:
    return exc.response()


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own errors (no such route, wrong method) in the same shape."""
    if exc.status_code == 404:
        message = (
            f"There is no {request.url.path} here; qwen-tui serve has /v1/chat/completions, "
            "/v1/models and /health."
        )
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail)
    error = ApiError(
        exc.status_code,
        message,
        code="not_found" if exc.status_code == 404 else None,
        headers=exc.headers,
    )
    return error.response()
