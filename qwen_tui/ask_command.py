"""`qwen-tui ask`: one question (with files, and tools of MCP servers), the reply streamed
to stdout, the thinking to stderr (``ask_output``); ``--json`` prints one object at the end."""

from __future__ import annotations

import json
import sys
import threading
from argparse import Namespace
from collections.abc import Callable

from . import config, interrupt, remotes
from .ask_output import AskOutput
from .ask_tools import chosen_servers
from .chat import settings_params
from .errors import UsageError
from .store import local


def as_typed(text: str) -> str:
    """Bytes that were not UTF-8 (Python hands them over as lone surrogates, from argv or a
    pipe) as U+FFFD, the replacement character, which the tokenizer knows."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte made (text from elsewhere)
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


def run_ask(args: Namespace, load_settings: Callable[[], config.Settings]) -> int:
    """`qwen-tui ask`: the exit code. ``load_settings`` reads the config (saying what in it
    is wrong), once a Ctrl+C during the imports has been seen to."""
    from . import attachments
    from .engine.open import open_engine
    from .engine.types import ChatMessage, Engine, GenerationParams

    interrupt.check()  # a Ctrl+C an import swallowed

    settings = load_settings()
    if args.prompt == "-":  # bytes, whatever the locale says: not UTF-8 becomes U+FFFD
        prompt = sys.stdin.buffer.read().decode("utf-8", "replace")
    else:
        prompt = as_typed(args.prompt)
    files = tuple(attachments.read_attachment(path) for path in args.files)  # before a load
    if not prompt.strip() and not files:
        raise UsageError("The prompt is empty.", "Pass some text, or - to read standard input.")
    if args.yes and not args.tools:
        raise UsageError("--yes allows tool calls, and only goes with --tools.", "Add --tools.")
    tool_servers = chosen_servers(settings, args.tools) if args.tools else []
    try:
        params = GenerationParams(
            temperature=config.check_value("temperature", args.temperature),
            top_p=config.check_value("top_p", args.top_p),
            top_k=config.check_value("top_k", args.top_k),
            repetition_penalty=config.check_value("repetition_penalty", args.repetition_penalty),
            max_new_tokens=config.check_value("max_new_tokens", args.max_new_tokens),
            seed=args.seed,
            enable_thinking=args.enable_thinking,
        ).over(settings_params(settings))
        threads = config.check_value("threads", args.threads) or settings.threads
    except ValueError as exc:
        raise UsageError(str(exc), "Run `qwen-tui ask --help`.") from None
    remote = None if args.model_path else remotes.find(settings.remote, args.model or None)
    if remote is None and not args.model and not args.model_path:
        remote = remotes.find(settings.remote, settings.model)
    engine: Engine
    if remote is not None:  # a [[remote]] entry: the server writes the reply
        from .engine.remote import RemoteEngine

        engine, name = RemoteEngine(remote), remote.name
    else:
        if args.model_path:
            model = local.open_folder(args.model_path)
        else:
            model = local.choose(args.model, settings.model, settings.low_bit)
        engine = open_engine(model.path, threads=threads, kv_cache_mb=0)
        name = model.folder_name
    interrupt.check()
    info = engine.load()
    if info.note:  # the folder was converted once, now
        print(f"qwen-tui: note: {info.note}", file=sys.stderr)
    interrupt.check()
    if remote is None and args.enable_thinking is not None and info.thinking != "switch":
        flag = "--think" if args.enable_thinking else "--no-think"
        how = "always thinks" if info.thinking == "always" else "does not think"
        print(f"qwen-tui: {name} {how}; {flag} changes nothing.", file=sys.stderr)
    system = as_typed(args.system) if args.system is not None else settings.system_prompt
    question = ChatMessage("user", prompt, attachments=files)
    messages = ([ChatMessage("system", system)] if system else []) + [question]
    counted = attachments.count(engine, files)
    listed = [{"name": c.attachment.name, "tokens": c.tokens} for c in counted]  # for --json
    if not args.json:  # what each file costs, before the reply (--json lists them)
        for c in counted:
            print(f"qwen-tui: {c.attachment.name}: {c.tokens:,} tokens", file=sys.stderr)
    attachments.check_fits(engine, system, question, params.max_new_tokens)

    cancel = threading.Event()
    # From here on Ctrl+C stops the reply (within one token) instead of killing us.
    interrupt.route_to(cancel)
    shown = AskOutput(sys.stdout, sys.stderr, cancel, show_thinking=not args.hide_thinking)
    if tool_servers:
        from .ask_tools import ask_with_tools

        return ask_with_tools(
            args, settings, tool_servers, engine, messages, params, name, cancel, shown, listed
        )
    reply = engine.chat(
        messages,
        params,
        cancel=cancel,
        on_text=None if args.json else shown.answer,
        on_reasoning=None if args.json else shown.thought,
    )
    shown.end_thinking()
    if args.json:
        payload: dict = {"model": name, "reply": reply.text}
        if not args.hide_thinking:
            payload["reasoning"] = reply.reasoning
        payload["attachments"] = listed
        payload["stats"] = reply.stats.to_dict()
        print(json.dumps(payload, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
    if reply.stopped:
        print("qwen-tui: stopped; the partial reply is above.", file=sys.stderr)
        return 130
    return 0
