"""Qwen2 and Qwen3 tokenizers and chat templates without transformers (``chat.py``)."""

from .chat import ChatTokenizer, clean_up_tokenization, compile_chat_template
from .files import TokenizerFileError, reads_folder

__all__ = [
    "ChatTokenizer",
    "TokenizerFileError",
    "clean_up_tokenization",
    "compile_chat_template",
    "reads_folder",
]
