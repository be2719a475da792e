"""The CLI's commands. Each takes parsed arguments and returns an exit code."""

from __future__ import annotations

import json
import sys
import threading
from argparse import Namespace
from pathlib import Path

from . import config, interrupt, paths, remotes
from .ask_output import AskOutput
from .ask_tools import chosen_servers
from .catalog import CATALOG, DEFAULT_LOW_BIT, GB, LOW_BIT_FORMATS, CatalogEntry
from .chat import settings_params
from .errors import UsageError
from .manifest import describe_skipped
from .progress_line import ProgressLine
from .remotes import RemoteEntry
from .store import local
from .store.lowbit_import import saved_format
from .store.progress import human_bytes


def _settings() -> config.Settings:
    settings, warnings = config.load()
    for warning in warnings:
        print(f"qwen-tui: config: {warning}", file=sys.stderr)
    return settings


def tui(args: Namespace) -> int:
    from .ui.app import run_app

    return run_app()


def pull(args: Namespace) -> int:
    from .store.pull import pull as do_pull

    settings = _settings()
    model = do_pull(
        args.model,
        low_bit=args.low_bit or settings.low_bit,
        revision=args.revision,
        name=args.name,
        gguf_file=args.file,
        endpoint=settings.hf_endpoint,
        token_mirrors=settings.hf_token_mirrors,
        trust_remote_code=args.trust_remote_code,
        progress=ProgressLine(),
        notice=lambda text: print(f"qwen-tui: note: {text}", file=sys.stderr),
        keep_download=args.keep_download,
        force=args.force,
    )
    return _ready(model)


def _ready(model: local.LocalModel) -> int:
    from .eval.gate import describe

    quality = describe(model.manifest.quality)
    converted = (model.manifest.converted or {}).get("summary")
    skipped = describe_skipped(model.manifest.skipped)
    print(
        f"Ready: {model.folder_name} ({human_bytes(model.manifest.size)}) at {model.path}"
        + (f"; {quality}" if quality else "")
        + (f"; converted from bigdl-llm's save_low_bit: {converted}" if converted else "")
        + (f"; {skipped}" if skipped else "")
    )
    return 0


def quantize(args: Namespace) -> int:
    from .store.quantize import quantize_folder

    settings = _settings()
    model = quantize_folder(
        args.path,
        args.name,
        # a folder bigdl-llm's save_low_bit wrote keeps its own format unless one is asked for
        args.low_bit or saved_format(Path(args.path).expanduser()) or settings.low_bit,
        trust_remote_code=args.trust_remote_code,
        progress=ProgressLine(),
        force=args.force,
        measure=not args.no_quality,
    )
    return _ready(model)


def models(args: Namespace) -> int:
    found = local.list_local()
    if args.json:
        rows = [
            {
                "name": m.folder_name,
                "model": m.name,
                "low_bit": m.low_bit,
                "family": m.manifest.family,
                "source": m.manifest.source,
                "commit": m.manifest.commit,
                "size": m.manifest.size,
                "path": str(m.path),
                "recipe": m.manifest.recipe,
                "quality": m.manifest.quality,
                "skipped": m.manifest.skipped,
                "problems": m.problems(),
            }
            for m in found
        ]
        rows += [
            {"name": f.folder_name, "path": str(f.path), "size": f.size, "incomplete": True}
            for f in local.leftovers()
        ]
        catalog = [_catalog_json(e) for e in CATALOG]
        remote = [
            {**entry.to_table(), "key_set": entry.api_key() is not None}
            for entry in _settings().remote
        ]
        print(json.dumps({"local": rows, "remote": remote, "catalog": catalog}, indent=2))
        return 0
    print("Local models:")
    if not found:
        print("  (none yet: `qwen-tui pull` or `qwen-tui quantize PATH --name NAME`)")
    from .eval.gate import describe

    for m in found:
        problems = m.problems()
        quality = describe(m.manifest.quality)
        state = f"damaged: {problems[0]}" if problems else "ready"
        print(
            f"  {m.folder_name:<34} {m.manifest.family:<6} {human_bytes(m.manifest.size):>9}  "
            + state
            + (f"  {quality}" if quality and not problems else "")
        )
        if m.manifest.skipped:
            print(f"      {describe_skipped(m.manifest.skipped)}")
    for left in local.leftovers():
        print(
            f"  {left.folder_name:<34} {'?':<6} {human_bytes(left.size):>9}  incomplete (no "
            f"manifest): `qwen-tui rm {left.folder_name}` frees it"
        )
    if any(m.problems() for m in found):
        print("  (a damaged model: `qwen-tui rm NAME`, then pull or quantize it again)")
    _print_remote(_settings().remote)
    local_names = {m.name for m in found}
    print(f"\nCatalog (GB; stored as {DEFAULT_LOW_BIT} / sym_int4; RAM to chat / to quantize):")
    print(f"  {'model':<22}{'download':>9}{'stored':>14}{'RAM':>13}  licence")
    for e in CATALOG:
        stored = f"{e.stored_gb():.2f} / {e.stored_gb('sym_int4'):.2f}"
        ram = f"{e.ram_to_chat() / GB:.1f} / {e.ram_to_quantize_gb():.1f}"
        print(f"  {e.key:<22}{e.download_gb:>9.2f}{stored:>14}{ram:>13}  {e.licence_short}")
        print(f"      {e.good_for}")
        state = "local" if e.key in local_names else _download_state(e.repo_id)
        if state != "not downloaded":
            print(f"      {state}")
    print("  (`qwen-tui models --json` has each one's repo id and pinned commit)")
    return 0


def _print_remote(entries: tuple[RemoteEntry, ...]) -> None:
    """The [[remote]] entries of the config file, as written (no server is asked)."""
    if not entries:
        return
    print("\nRemote models ([[remote]] in config.toml; the server is asked when one is used):")
    for entry in entries:
        key = ""
        if entry.api_key_env:
            key = f"  key in ${entry.api_key_env}" + ("" if entry.api_key() else " (not set)")
        print(f"  {entry.name:<34} {entry.model} at {entry.base_url}{key}")


def _catalog_json(e: CatalogEntry) -> dict:
    return {
        "key": e.key,
        "repo_id": e.repo_id,
        "revision": e.revision,
        "gguf_file": e.gguf_file,
        "family": e.family,
        "licence": e.licence,
        "good_for": e.good_for,
        "params_b": e.params_b,
        "download_bytes": e.download_bytes,
        "download_measured": e.download_measured,
        "download_gb": e.download_gb,
        "stored_bytes": {f: e.stored_bytes(f) for f in LOW_BIT_FORMATS},
        "ram_to_chat_bytes": {f: e.ram_to_chat(f) for f in LOW_BIT_FORMATS},
        "ram_to_quantize_bytes": {f: e.ram_to_quantize(f) for f in LOW_BIT_FORMATS},
    }


def _download_state(repo_id: str) -> str:
    """'partly downloaded' when a pull was interrupted (the next pull resumes it)."""
    from . import paths

    folder = paths.downloads_dir() / repo_id.replace("/", "--")
    if folder.is_dir() and any(p.is_file() for p in folder.rglob("*")):
        return "partly downloaded (pull again to resume)"
    return "not downloaded"


def rm(args: Namespace) -> int:
    model = local.remove(args.name)
    print(f"Removed {model.folder_name}.")
    return 0


def doctor(args: Namespace) -> int:
    from . import instance
    from .doctor import run_checks
    from .history.repair import check, repair

    findings = run_checks(deep=args.deep)
    for finding in findings:
        print(finding.line())
    broken = [f for f in findings if not f.ok]
    if args.repair and check(paths.history_db()):
        if instance.holder() is not None:
            raise UsageError(
                "A qwen-tui window has the history open.", "Close it, then run the repair."
            )
        done = repair(paths.history_db())
        print(
            f"repaired: {done.conversations} chats and {done.messages} messages saved in "
            f"{done.new}; {done.lost} unreadable rows left out; the damaged file is {done.kept}"
        )
        broken = [f for f in broken if f.area != "history"]
    if broken:
        print(f"\n{len(broken)} problem(s) found.")
        return 1
    print("\nEverything checks out.")
    return 0


def verify(args: Namespace) -> int:
    from .manifest import verify as verify_folder

    model = local.resolve(args.name)
    manifest = verify_folder(model.path, deep=True)
    print(f"{model.folder_name}: {len(manifest.files)} files match their checksums.")
    return 0


def as_typed(text: str) -> str:
    """Bytes that were not UTF-8 (Python hands them over as lone surrogates, from argv or a
    pipe) as U+FFFD, the replacement character, which the tokenizer knows."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte made (text from elsewhere)
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


def ask(args: Namespace) -> int:
    from . import attachments
    from .engine.open import open_engine
    from .engine.types import ChatMessage, Engine, GenerationParams

    interrupt.check()  # a Ctrl+C an import swallowed

    settings = _settings()
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


def eval(args: Namespace) -> int:  # noqa: A001 - the command's name
    from .eval.command import run_eval

    return run_eval(args, _settings())


def mcp(args: Namespace) -> int:
    from .mcp.command import run_mcp

    return run_mcp(args, _settings())


def serve(args: Namespace) -> int:
    from .serve.command import run_serve

    return run_serve(args, _settings())


def bench(args: Namespace) -> int:
    from .bench.command import run_bench

    return run_bench(args, _settings())
