"""Settings: a frozen dataclass read from config.toml and saved atomically.

A broken or partly wrong config file never stops the app: what cannot be
used is reported as a warning and replaced by the default.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from . import paths, remotes
from .catalog import DEFAULT_LOW_BIT, LOW_BIT_FORMATS
from .mcp import entries as mcp_entries
from .mcp.entries import McpEntry
from .remotes import RemoteEntry


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # local model folder name or [[remote]] name; None = the first
    low_bit: str = DEFAULT_LOW_BIT
    temperature: float | None = None  # None = the model's generation_config default
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_new_tokens: int | None = None
    system_prompt: str = ""  # "" = the model's own default (its chat template's)
    threads: int | None = None
    theme: str = "textual-dark"
    hf_endpoint: str | None = None
    hf_token_mirrors: tuple[str, ...] = ()  # mirrors HF_TOKEN may go to (the hub always may)
    kv_cache_mb: int = 768
    keys: dict[str, str] = field(default_factory=dict)  # binding id -> key(s)
    remote: tuple[RemoteEntry, ...] = ()  # [[remote]] tables: OpenAI-compatible servers
    mcp: tuple[McpEntry, ...] = ()  # [[mcp]] tables: MCP servers whose tools a chat may call
    tool_steps: int = 8  # tool-calling rounds a reply may take before the model must answer


# name -> (type, check, sentence describing the valid range)
_RULES: dict[str, tuple[type, Any, str]] = {
    "temperature": (float, lambda v: 0 <= v <= 2, "a number from 0 to 2"),
    "top_p": (float, lambda v: 0 < v <= 1, "a number above 0 and at most 1"),
    "top_k": (int, lambda v: 0 <= v <= 1000, "a whole number from 0 to 1000"),
    "repetition_penalty": (float, lambda v: 0.5 <= v <= 2, "a number from 0.5 to 2"),
    "max_new_tokens": (int, lambda v: 1 <= v <= 32768, "a whole number from 1 to 32768"),
    "threads": (int, lambda v: 1 <= v <= 256, "a whole number from 1 to 256"),
    "kv_cache_mb": (int, lambda v: 0 <= v <= 65536, "a whole number of MB from 0 to 65536"),
    "tool_steps": (int, lambda v: 1 <= v <= 100, "a whole number from 1 to 100"),
    "low_bit": (str, lambda v: v in LOW_BIT_FORMATS, "one of " + ", ".join(LOW_BIT_FORMATS)),
    "model": (str, lambda v: bool(v.strip()), "a model name"),
    "system_prompt": (str, lambda v: True, "text"),
    "theme": (str, lambda v: bool(v.strip()), "a theme name"),
    "hf_endpoint": (str, lambda v: v.startswith(("http://", "https://")), "an http(s) URL"),
}


def check_value(name: str, value: Any) -> Any:
    """Return ``value`` converted for ``name``, or raise ValueError with one sentence."""
    kind, ok, sentence = _RULES[name]
    if value is None or value == "":
        if name == "system_prompt":
            return ""
        if name in ("low_bit", "theme", "kv_cache_mb", "tool_steps"):
            raise ValueError(f"{name} must be {sentence}.")
        return None
    try:
        if kind is int and (isinstance(value, bool) or float(value) != int(float(value))):
            raise ValueError
        converted = kind(value) if kind is not int else int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be {sentence}, not {value!r}.") from None
    if not ok(converted):
        raise ValueError(f"{name} must be {sentence}, not {value!r}.")
    return converted


def check_mirrors(value: Any) -> tuple[str, ...]:
    """``hf_token_mirrors``: a list of http(s) URLs, or raise ValueError with one sentence."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(
            f"hf_token_mirrors must be a list of http(s) URLs, like "
            f'["https://hf-mirror.example"], not {value!r}.'
        )
    for url in value:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"hf_token_mirrors must list http(s) URLs, not {url!r}.")
    return tuple(url.strip().rstrip("/") for url in value)


def from_mapping(data: dict[str, Any]) -> tuple[Settings, list[str]]:
    """Settings from a parsed TOML table, plus a warning per value that was ignored."""
    warnings: list[str] = []
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)}
    for name, value in data.items():
        if name not in known:
            warnings.append(f"Unknown setting '{name}' ignored.")
        elif name == "keys":
            if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
                values["keys"] = {str(k): v for k, v in value.items()}
            else:
                warnings.append("[keys] must map binding ids to key names; ignored.")
        elif name == "remote":
            values["remote"], problems = remotes.parse_remotes(value)
            warnings += problems
        elif name == "mcp":
            values["mcp"], problems = mcp_entries.parse_servers(value)
            warnings += problems
        elif name == "hf_token_mirrors":
            try:
                values[name] = check_mirrors(value)
            except ValueError as exc:
                warnings.append(f"{exc} No mirror gets the token.")
        else:
            try:
                values[name] = check_value(name, value)
            except ValueError as exc:
                warnings.append(f"{exc} Using the default.")
    return Settings(**values), warnings


def load(path: Path | None = None) -> tuple[Settings, list[str]]:
    path = path or paths.config_file()
    try:
        text = path.read_text(encoding="utf-8")
        paths.tighten(path)  # an older version's file may be readable by all
    except FileNotFoundError:
        return Settings(), []
    except OSError as exc:
        return Settings(), [f"Could not read {path} ({exc.strerror}); using defaults."]
    except UnicodeDecodeError as exc:
        return Settings(), [
            f"{path} is not UTF-8 text (byte {exc.start}); using defaults until it is fixed."
        ]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Settings(), [f"{path} is not valid TOML ({exc}); using defaults until it is fixed."]
    return from_mapping(data)


def to_mapping(settings: Settings) -> dict[str, Any]:
    data = {k: v for k, v in asdict(settings).items() if v is not None}
    if not data.get("keys"):
        data.pop("keys", None)
    data["hf_token_mirrors"] = list(settings.hf_token_mirrors)
    if not data["hf_token_mirrors"]:
        del data["hf_token_mirrors"]
    for name, entries in (("remote", settings.remote), ("mcp", settings.mcp)):
        data[name] = [entry.to_table() for entry in entries]
        if not data[name]:
            del data[name]
    return data


def _edited(document: Any, settings: Settings) -> Any:
    """The user's own file with only the values that differ changed: comments, key order,
    unknown keys and the rest of the [keys] table stay as they were."""
    import tomlkit

    current, _ = from_mapping(document.unwrap())
    wanted = to_mapping(settings)
    defaults = to_mapping(Settings())
    for f in fields(Settings):
        name = f.name
        if getattr(current, name) == getattr(settings, name):
            continue
        if name == "keys":
            table = document.get("keys")
            if table is None or not hasattr(table, "items"):
                table = tomlkit.table()
                document["keys"] = table
            for key in [k for k in table if k not in settings.keys]:
                del table[key]
            for key, value in settings.keys.items():
                if table.get(key) != value:
                    table[key] = value
            if not settings.keys:
                del document["keys"]
        elif name == "remote":
            remotes.edit_document(document, settings.remote)
        elif name == "mcp":
            mcp_entries.edit_document(document, settings.mcp)
        elif name not in wanted or (name not in document and wanted[name] == defaults.get(name)):
            if name in document:
                del document[name]  # back to "unset": the default applies
        else:
            document[name] = wanted[name]
    return document


def save(settings: Settings, path: Path | None = None) -> None:
    """Write atomically (a crash leaves the old file or the new one, never half), changing
    only what differs in the user's file. A file that cannot be read as TOML is kept beside
    the new one as config.toml.broken-<time>, not overwritten."""
    import tomlkit

    path = path or paths.config_file()
    paths.private_dir(path.parent)
    text = None
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = None
    if old is not None:
        try:
            text = tomlkit.dumps(_edited(tomlkit.parse(old.decode("utf-8")), settings))
        except (UnicodeDecodeError, tomlkit.exceptions.TOMLKitError, ValueError):
            keep = path.with_name(f"{path.name}.broken-{int(time.time())}")
            paths.write_private(keep, old)
    if text is None:
        text = tomli_w.dumps(to_mapping(settings))
    # mkstemp's file is the user's alone (0600), and os.replace keeps that
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def updated(settings: Settings, **changes: Any) -> Settings:
    """A copy with validated changes (raises ValueError with one sentence)."""
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("keys", "remote", "mcp"):
            checked[name] = value
        elif name == "hf_token_mirrors":
            checked[name] = check_mirrors(value)
        else:
            checked[name] = check_value(name, value)
    return replace(settings, **checked)
