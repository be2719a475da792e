"""The CLI's commands. Each takes parsed arguments and returns an exit code."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

from . import config, paths
from .catalog import CATALOG, DEFAULT_LOW_BIT, GB, LOW_BIT_FORMATS, CatalogEntry
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


def ask(args: Namespace) -> int:
    from .ask_command import run_ask

    return run_ask(args, _settings)


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
