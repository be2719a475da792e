"""``qwen-tui serve``: load the model, then serve the OpenAI chat API until Ctrl+C."""

from __future__ import annotations

import os
import signal
import sys
from argparse import Namespace

from .. import config
from ..errors import UsageError
from ..store import local
from . import API_KEY_ENV
from .access import Access, access_for
from .limits import Limits, parse_size


def run_serve(args: Namespace, settings: config.Settings) -> int:
    from ..engine.open import open_engine
    from .app import ServedModel, create_app
    from .server import ServeServer, bind, is_loopback, url_of

    key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if not is_loopback(args.host) and not key:
        raise UsageError(
            f"Serving on {args.host} lets other machines use the model, so it needs an API key.",
            f"Pass --api-key KEY (or set {API_KEY_ENV}), or leave --host at 127.0.0.1.",
        )
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535, not {args.port}.", "Pick another.")
    access, limits = _access(args, key), _limits(args)
    try:
        threads = config.check_value("threads", args.threads) or settings.threads
    except ValueError as exc:
        raise UsageError(str(exc), "Run `qwen-tui serve --help`.") from None
    sock = bind(args.host, args.port)  # before loading: a busy port says so at once
    try:
        if args.model_path:
            model = local.open_folder(args.model_path)
        else:
            model = local.choose(args.model, settings.model, settings.low_bit)
        engine = open_engine(model.path, threads=threads, kv_cache_mb=settings.kv_cache_mb)
        info = engine.load()
        if info.note:  # the folder was converted once, now
            _say(info.note)
        served = ServedModel(model.folder_name, (model.name,), info.context_window)
        app = create_app(engine, served, api_key=key, log=_say, limits=limits, access=access)
        ready = (
            f"serving {served.id} ({info.family}, {info.low_bit}; engine {engine.engine_note}) "
            f"at {url_of(sock)}/v1" + (", API key required" if key else "") + "; Ctrl+C stops."
        )
        server = ServeServer(app, on_ready=lambda: _say(ready))  # once the port listens
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn raises the signal again once it has stopped
            if not server.should_exit:
                raise
        finally:
            signal.signal(signal.SIGTERM, previous)
            engine.unload()
    finally:
        sock.close()
    _say("stopped.")
    return 0


def _access(args: Namespace, key: str | None) -> Access:
    try:
        access = access_for(args.host, args.allowed_host, args.cors_origin)
    except ValueError as exc:
        raise UsageError(str(exc), "Run `qwen-tui serve --help`.") from None
    if access.wildcard and not key:
        raise UsageError(
            "'*' lets any web page (or any name) reach the model, so it needs an API key.",
            f"Pass --api-key KEY (or set {API_KEY_ENV}), or name the hosts and origins.",
        )
    return access


def _limits(args: Namespace) -> Limits:
    try:
        max_body = parse_size(args.max_body)
    except ValueError as exc:
        raise UsageError(f"--max-body: {exc}", "For example --max-body 8M.") from None
    for flag, value in [
        ("--max-body", max_body),
        ("--max-queue", args.max_queue),
        ("--max-connections", args.max_connections),
    ]:
        if value < 1:
            raise UsageError(f"{flag} must be at least 1, not {value}.", "Pick a larger one.")
    return Limits(max_body=max_body, max_queue=args.max_queue, max_connections=args.max_connections)


def _say(line: str) -> None:
    print(f"qwen-tui: {line}", file=sys.stderr, flush=True)
