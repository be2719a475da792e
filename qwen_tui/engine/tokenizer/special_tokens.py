"""The special tokens of a folder, and the added tokens transformers puts over ``tokenizer.json``.

This follows transformers 4.37.2 step by step, since each step can change what the tokenizer
does (which text stays whole, what ``skip_special_tokens`` drops, what the template sees):

1. ``PreTrainedTokenizerBase._from_pretrained``: the special tokens (bos, eos, unk, sep, pad,
   cls, mask, additional) come from ``tokenizer_config.json``. The added tokens are its
   ``added_tokens_decoder``; a config without one (saved before transformers 4.34, or written
   by the GGUF import) gets them from ``added_tokens.json`` and ``tokenizer.json``, and its
   special tokens from ``special_tokens_map.json`` as well. A special token spelled like an
   added token becomes that added token (with its flags).
2. ``Qwen2TokenizerFast.__init__``: unk, eos and pad default to ``<|endoftext|>``; a special
   token given as text becomes an ``AddedToken(special=True, normalized=False)``.
   ``PreTrainedTokenizerFast`` has no defaults, but takes the pad token of ``tokenizer.json``'s
   padding where no file names one.
3. ``PreTrainedTokenizerFast.__init__``: every added token is added again (4.37 tests
   ``token not in self.added_tokens_decoder``, a dict keyed by id, which never holds a token),
   then each special token not yet there, in batches of equal specialness. Adding a token
   that is there with other flags replaces its flags.

The ``tokenizers`` library does the adding itself, so its rules (what counts as the same
token) are the ones transformers met.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from tokenizers import AddedToken, Tokenizer

from .files import CONFIG_FILE, GENERIC, QWEN2, TokenizerFileError, optional_json

ATTRIBUTES = (
    "bos_token", "eos_token", "unk_token", "sep_token",
    "pad_token", "cls_token", "mask_token", "additional_special_tokens",
)  # fmt: skip
ADDITIONAL = "additional_special_tokens"
Token: TypeAlias = AddedToken | str


def qwen2_default(text: str) -> AddedToken:
    """A special token as ``Qwen2TokenizerFast.__init__`` makes one from text."""
    return AddedToken(text, lstrip=False, rstrip=False, special=True, normalized=False)


QWEN2_DEFAULTS = {"unk_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
QWEN2_DEFAULTS["pad_token"] = "<|endoftext|>"


@dataclass(frozen=True)
class SpecialTokens:
    """The special tokens set on the tokenizer: {attribute: token, or a list for additional}."""

    values: dict[str, Any]

    def get(self, attribute: str) -> str | None:
        value = self.values.get(attribute)
        return None if value is None else str(value)

    def as_strings(self) -> dict[str, str | list[str]]:
        """transformers' ``special_tokens_map``: the attributes set, as text."""
        out: dict[str, str | list[str]] = {}
        for attribute in ATTRIBUTES:
            value = self.values.get(attribute)
            if value is None:
                continue
            text: str | list[str] = (
                [str(t) for t in value] if attribute == ADDITIONAL else str(value)
            )
            if text:
                out[attribute] = text
        return out

    def extended(self) -> list[Token]:
        """transformers' ``all_special_tokens_extended``: each token once, by its text."""
        tokens: list[Token] = []
        seen: set[str] = set()
        for attribute in ATTRIBUTES:
            value = self.values.get(attribute)
            if not value:  # an AddedToken is always true, as in transformers
                continue
            for token in value if isinstance(value, (list, tuple)) else [value]:
                if str(token) not in seen:
                    seen.add(str(token))
                    tokens.append(token)
        return tokens


def _token(value: Any, where: str) -> Any:
    """A config value as transformers takes it: text, an AddedToken from its dict, a list."""
    if value is None or isinstance(value, (str, AddedToken)):
        return value
    if isinstance(value, list):
        return [_token(v, where) for v in value]
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        fields = {k: v for k, v in value.items() if k != "__type"}
        try:
            return AddedToken(**fields)
        except TypeError:
            pass
    raise TokenizerFileError(f"{where} holds a special token that is not a token: {value!r}.")


def resolve(
    folder: Path,
    config: dict[str, Any],
    kind: str,
    backend: Tokenizer,
    padding: dict[str, Any] | None = None,
) -> tuple[SpecialTokens, list[AddedToken]]:
    """(the special tokens, the added tokens transformers adds, in id order): steps 1 and 2.
    ``padding`` is tokenizer.json's, whose pad token stands where no file names one."""
    init = {k: _token(config[k], CONFIG_FILE) for k in ATTRIBUTES if k in config}
    added: dict[int, AddedToken] = {}
    if "added_tokens_decoder" in config:
        decoder = config["added_tokens_decoder"]
        if not isinstance(decoder, dict):
            raise TokenizerFileError(f"{CONFIG_FILE}'s added_tokens_decoder is not an object.")
        for index, entry in decoder.items():
            token = _token(entry, f"{CONFIG_FILE}'s added_tokens_decoder")
            if not isinstance(token, AddedToken) or not str(index).isdigit():
                raise TokenizerFileError(f"{CONFIG_FILE}'s added token {index} is not a token.")
            added[int(index)] = token
    else:
        _read_special_tokens_map(folder, init)
        _read_added_tokens_file(folder, init, added)
        added.update(backend.get_added_tokens_decoder())  # tokenizer.json's added_tokens
    by_text = {str(t): t for t in added.values()}
    for key in ATTRIBUTES:
        if key != ADDITIONAL and by_text and init.get(key) is not None:
            init[key] = by_text.get(str(init[key]), init[key])
    if kind == GENERIC and "pad_token" not in init and padding:
        init["pad_token"] = padding["pad_token"]  # PreTrainedTokenizerFast.__init__
    if kind == QWEN2:
        for key, default in QWEN2_DEFAULTS.items():
            value = init.get(key, default)
            init[key] = qwen2_default(value) if isinstance(value, str) else value
    values = {k: v for k, v in init.items() if v is not None}
    return SpecialTokens(values), [added[i] for i in sorted(added)]


def _read_special_tokens_map(folder: Path, init: dict[str, Any]) -> None:
    name = "special_tokens_map.json"
    for key, value in optional_json(folder / name).items():
        if key not in ATTRIBUTES:
            continue  # transformers keeps them as init arguments, which nothing here reads
        if isinstance(value, dict):
            value = _token({**value, "special": True}, name)
        elif key == ADDITIONAL and isinstance(value, list):
            merged = list(init.pop(ADDITIONAL, None) or [])
            for entry in value:
                token = (
                    _token({**entry, "special": True}, name) if isinstance(entry, dict) else entry
                )
                if token not in merged:
                    merged.append(token)
            value = merged
        init[key] = _token(value, name)


def _read_added_tokens_file(folder: Path, init: dict[str, Any], added: dict[int, Any]) -> None:
    specials: list[str] = []
    for key in ATTRIBUTES:
        value = init.get(key)
        if value is not None:
            specials += [str(t) for t in value] if key == ADDITIONAL else [str(value)]
    for text, index in optional_json(folder / "added_tokens.json").items():
        if not isinstance(index, int):
            raise TokenizerFileError(f"added_tokens.json gives {text!r} no id.")
        special = text in specials
        added[index] = AddedToken(
            text, rstrip=False, lstrip=False, normalized=not special, special=special
        )


def add_as_transformers(
    backend: Tokenizer, added: list[AddedToken], special: SpecialTokens
) -> None:
    """Step 3: add the tokens to ``backend`` as ``PreTrainedTokenizerFast.__init__`` does."""
    to_add: list[Token] = list(added)
    # the backend's added tokens, by id, then the ones about to be added
    known = [t.content for _, t in sorted(backend.get_added_tokens_decoder().items())]
    known += [str(t) for t in to_add]
    # membership as in transformers: an AddedToken is never equal to text
    to_add += [t for t in special.extended() if t not in known and t not in to_add]
    specials = [str(t) for t in special.extended()]
    batch: list[Token] = []
    batch_special: bool | None = None
    for token in to_add:
        is_special = str(token) in specials
        if isinstance(token, AddedToken):
            is_special = token.special or is_special
        if batch_special is not None and batch_special != is_special:
            _add(backend, batch, batch_special)
            batch = []
        batch.append(token)
        batch_special = is_special
    if batch:
        _add(backend, batch, bool(batch_special))


def _add(backend: Tokenizer, tokens: list[Token], special: bool) -> None:
    if special:
        backend.add_special_tokens(tokens)
    else:
        backend.add_tokens(tokens)
