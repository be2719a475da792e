"""Arrays of named tables in config.toml (``[[remote]]``, ``[[mcp]]``): each table read on its
own by its kind's ``parse_entry``, a bad one left out with a warning naming it, and a second
table of one name left out too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar


class Named(Protocol):
    @property
    def name(self) -> str: ...


Entry = TypeVar("Entry", bound=Named)


def parse_named_tables(
    value: Any, kind: str, parse_entry: Callable[[Any], tuple[Entry, list[str]]]
) -> tuple[tuple[Entry, ...], list[str]]:
    """The usable entries of a parsed ``kind`` value and one warning per problem."""
    if isinstance(value, dict):
        value = [value]  # [kind] written for [[kind]]
    if not isinstance(value, list):
        return (), [f"{kind} must be [[{kind}]] tables; ignored."]
    entries: list[Entry] = []
    warnings: list[str] = []
    for index, table in enumerate(value, 1):
        name = table.get("name") if isinstance(table, dict) else None
        label = f"[[{kind}]] {name!r}" if isinstance(name, str) and name else f"[[{kind}]] #{index}"
        try:
            entry, notes = parse_entry(table)
        except ValueError as exc:
            warnings.append(f"{label}: {exc}; left out.")
            continue
        warnings += [f"{label}: {note}." for note in notes]
        if any(e.name == entry.name for e in entries):
            warnings.append(f"{label}: another [[{kind}]] has this name; left out.")
            continue
        entries.append(entry)
    return tuple(entries), warnings
