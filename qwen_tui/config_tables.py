"""Arrays of named tables in config.toml (``[[remote]]``, ``[[mcp]]``): each table read on its
own by its kind's ``parse_entry``, a bad one left out with a warning naming it, and a second
table of one name left out too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def edit_named_tables(
    document: Any,
    kind: str,
    entries: Sequence[Entry],
    parse_entry: Callable[[Any], tuple[Entry, list[str]]],
    update: Callable[[Any, Entry, Entry], None],
) -> None:
    """Make the ``[[kind]]`` tables of a tomlkit document say ``entries``: a kept entry's table
    is passed to ``update(table, as_written, entry)``, removed ones are deleted, new ones
    appended (filled by ``update`` from an empty table); a table that cannot be read, or a
    second table of one name (left out when read), stays as the user wrote it."""
    import tomlkit

    current = document.get(kind)
    if not isinstance(current, list):  # absent, or not an array of tables: ours replaces it
        current = None
    wanted = {e.name: e for e in entries}
    if current is not None:
        seen: set[str] = set()
        gone: list[int] = []
        for index, table in enumerate(current):
            try:
                written = parse_entry(table.unwrap())[0]
            except (ValueError, AttributeError):
                continue  # unreadable: not ours to touch
            if written.name in seen:
                continue  # a second table of a name was left out when read: the same here
            seen.add(written.name)
            entry = wanted.pop(written.name, None)
            if entry is None:
                gone.append(index)
            else:
                update(table, written, entry)
        for index in reversed(gone):
            del current[index]
    new = [e for e in entries if e.name in wanted]
    if current is None:
        if not new:
            document.pop(kind, None)
            return
        current = tomlkit.aot()
        document[kind] = current
    for entry in new:
        table = tomlkit.table()
        table.trivia.indent = "\n"  # a blank line before its [[kind]]
        update(table, entry, entry)
        current.append(table)
    if not len(current):
        del document[kind]
