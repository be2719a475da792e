"""Qwen2 and Qwen3 tokenizers and chat templates without transformers: ``tokenizers`` and Jinja.

``ChatTokenizer.from_folder`` reads a model folder as transformers 4.37.2's ``AutoTokenizer``
does (``Qwen2TokenizerFast``, or ``PreTrainedTokenizerFast`` as the tiny test tokenizers name
themselves) and gives the same ids, text and prompts:

- ``tokenizer.json`` is the backend (its merges written as pairs by newer ``tokenizers`` are
  read as strings, ``merges.py``). transformers then adds tokens on top of it: those of
  ``tokenizer_config.json``'s ``added_tokens_decoder`` (or, in folders saved before it had one,
  ``added_tokens.json`` and ``tokenizer.json``'s own), and any special token (bos, eos, unk,
  pad ..., ``special_tokens_map.json`` too in those older folders) not yet among them. Re-adding
  a token replaces its flags (special, normalized, lstrip ...), so we add the same tokens in
  the same order and batches (``special_tokens.py``);
- ``decode`` runs transformers' ``clean_up_tokenization`` when ``clean_up_tokenization_spaces``
  is on (its default when the config does not say; the tiny tokenizers have it on, Qwen's off);
- the chat template is compiled as 4.37 compiles it (``ImmutableSandboxedEnvironment`` with
  ``trim_blocks`` and ``lstrip_blocks``, a ``raise_exception`` global; later versions'
  ``tojson``) and rendered with ``messages``, ``add_generation_prompt`` and the special
  tokens map, plus any variable the caller names (Qwen3's ``enable_thinking``, ``tools``),
  which 4.37's own ``apply_chat_template`` cannot pass to the template.

``files.reads_folder`` says whether a folder is one of these; any other (no ``tokenizer.json``,
a tokenizer class of its own) stays with transformers (``engine/models/__init__.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from . import special_tokens
from .files import CONFIG_FILE, TOKENIZER_FILE, TokenizerFileError, optional_json, tokenizer_class
from .merges import readable_text
from .special_tokens import SpecialTokens


def clean_up_tokenization(text: str) -> str:
    """transformers' ``PreTrainedTokenizerBase.clean_up_tokenization``, verbatim."""
    for before, after in CLEAN_UPS:
        text = text.replace(before, after)
    return text


CLEAN_UPS = (
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
    (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)  # fmt: skip


def compile_chat_template(source: str) -> Any:
    """A Jinja template compiled as transformers 4.37's ``_compile_jinja_template`` does, with
    the ``tojson`` filter of later transformers versions (llama.cpp's and vLLM's renderers
    write the same): ``json.dumps`` with keys in their order and text as it is. Jinja's own
    sorts the keys and escapes ``<``, ``>``, ``&`` and ``'`` for HTML, which no model was
    trained on; Qwen's templates write tools and call arguments with it."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    def tojson(
        value: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: tuple[str, str] | None = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            value,
            ensure_ascii=ensure_ascii,
            indent=indent,
            separators=separators,
            sort_keys=sort_keys,
        )

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.filters["tojson"] = tojson
    return env.from_string(source)


class ChatTokenizer:
    """The part of transformers' fast tokenizer that prompts, replies and evaluation use."""

    def __init__(
        self,
        backend: Tokenizer,
        special: SpecialTokens,
        chat_template: str | None = None,
        clean_up_tokenization_spaces: bool = True,
    ) -> None:
        self.backend = backend
        self.special = special
        self.chat_template = chat_template
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces

    @classmethod
    def from_folder(cls, folder: Path) -> ChatTokenizer:
        folder = Path(folder)
        kind = tokenizer_class(folder)
        if kind is None:
            raise TokenizerFileError(
                f"{folder.name} has no tokenizer class qwen-tui reads without transformers."
            )
        path = folder / TOKENIZER_FILE
        if not path.is_file():
            raise TokenizerFileError(f"{folder.name} has no {TOKENIZER_FILE}.")
        text = readable_text(path)  # merges as strings for tokenizers 0.15 (merges.py)
        try:
            backend = Tokenizer.from_str(text) if text else Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises plain Exception on a malformed file
            raise TokenizerFileError(f"{TOKENIZER_FILE} cannot be read ({exc}).") from None
        padding = backend.padding  # transformers may take the pad token from it
        # what transformers' encode() does: neither truncate nor pad
        backend.no_truncation()
        backend.no_padding()
        config = optional_json(folder / CONFIG_FILE)
        special, added = special_tokens.resolve(folder, config, kind, backend, padding)
        special_tokens.add_as_transformers(backend, added, special)
        template = config.get("chat_template")
        return cls(
            backend,
            special,
            chat_template=template if isinstance(template, str) else None,
            clean_up_tokenization_spaces=bool(config.get("clean_up_tokenization_spaces", True)),
        )

    # -- vocabulary ---------------------------------------------------------------------------
    @property
    def special_tokens_map(self) -> dict[str, str | list[str]]:
        """{"eos_token": "<|im_end|>", "additional_special_tokens": [...], ...}: the set ones."""
        return self.special.as_strings()

    @property
    def unk_token_id(self) -> int | None:
        unk = self.special.get("unk_token")
        return None if unk is None else self.backend.token_to_id(unk)

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> Any:
        """A token's id (the unknown token's id, or None, if it is not one); a list for a list."""
        if isinstance(tokens, str):
            return self._token_id(tokens)
        return [self._token_id(t) for t in tokens]

    def _token_id(self, token: str) -> int | None:
        index = self.backend.token_to_id(token)
        return self.unk_token_id if index is None else index

    def get_vocab(self) -> dict[str, int]:
        return self.backend.get_vocab(with_added_tokens=True)

    def __len__(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    # -- text <-> ids -------------------------------------------------------------------------
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(self.backend.encode(text, add_special_tokens=add_special_tokens).ids)

    def decode(
        self,
        ids: Sequence[int] | int,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str:
        ids = [ids] if isinstance(ids, int) else [int(i) for i in ids]
        text = self.backend.decode(ids, skip_special_tokens=skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    # -- chat ---------------------------------------------------------------------------------
    @cached_property
    def _template(self) -> Any:
        if not self.chat_template:
            raise TokenizerFileError(f"{CONFIG_FILE} has no chat template.")
        return compile_chat_template(self.chat_template)

    def apply_chat_template(
        self,
        messages: Sequence[Mapping[str, Any]],
        add_generation_prompt: bool = False,
        tokenize: bool = True,
        **variables: Any,
    ) -> Any:
        """The conversation as the chat template writes it (token ids, or the text with
        ``tokenize=False``). ``variables`` reach the template beside the special tokens map
        (``enable_thinking=False``), as later transformers versions pass them."""
        text = self._template.render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            **variables,
            **self.special_tokens_map,
        )
        return self.encode(text, add_special_tokens=False) if tokenize else text
