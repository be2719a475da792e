"""OpenAI-compatible backends: a model on a server (vLLM, llama-server, ollama, ...) behind
the same Engine protocol as the local one. The entries come from ``[[remote]]`` tables of
config.toml (``qwen_tui.remotes``)."""

from .engine import RemoteEngine, estimate_tokens
from .errors import RemoteError
from .server import ServerInfo, client, probe

__all__ = ["RemoteEngine", "RemoteError", "ServerInfo", "client", "estimate_tokens", "probe"]
