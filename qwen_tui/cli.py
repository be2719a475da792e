"""Command-line entry point: parse arguments and hand over to a command.

Every failure is one line on stderr and a non-zero exit code; no traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .catalog import DEFAULT_MODEL, LOW_BIT_FORMATS
from .errors import QwenTuiError
from .serve import API_KEY_ENV, DEFAULT_PORT
from .serve.limits import Limits


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"qwen-tui: {message}. Run `{self.prog} --help` for usage.\n")


def build_parser() -> Parser:
    parser = Parser(prog="qwen-tui", description="Chat with int4 Qwen models on the CPU.")
    parser.add_argument("--version", action="version", version=f"qwen-tui {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    sub.add_parser("tui", help="open the chat app (the default)")

    pull = sub.add_parser("pull", help="download a model and quantize it")
    pull.add_argument("model", nargs="?", default=DEFAULT_MODEL.key, help="catalog key or repo id")
    pull.add_argument("--low-bit", choices=LOW_BIT_FORMATS)
    pull.add_argument("--revision", help="branch, tag or commit (default: the catalog's)")
    pull.add_argument("--name", help="local name (default: the catalog key)")
    pull.add_argument("--file", metavar="NAME.gguf", help="the file to pull from a GGUF repo")
    pull.add_argument("--keep-download", action="store_true", help="keep the downloaded files")
    pull.add_argument("--trust-remote-code", action="store_true")
    pull.add_argument("--force", action="store_true", help="replace a model of the same name")

    quant = sub.add_parser("quantize", help="quantize a local Hugging Face folder or GGUF file")
    quant.add_argument("path", help="a Hugging Face model folder, or a .gguf file")
    quant.add_argument("--name", required=True)
    quant.add_argument("--low-bit", choices=LOW_BIT_FORMATS)
    quant.add_argument("--trust-remote-code", action="store_true")
    quant.add_argument("--force", action="store_true", help="replace a model of the same name")
    quant.add_argument(
        "--no-quality", action="store_true", help="skip measuring perplexity against the source"
    )

    ev = sub.add_parser("eval", help="perplexity, and KL divergence against a reference")
    ev.add_argument("model", nargs="?", help="local model (default: the configured one)")
    ev.add_argument("--model-path")
    ev.add_argument("--text", action="append", metavar="FILE", help="a text (repeatable)")
    ev.add_argument("--tokens", type=int, default=512, help="tokens of each text (default 512)")
    ev.add_argument("--reference", metavar="FLOAT_DIR|FILE.gguf", help="the float model")
    ev.add_argument("--no-decode", action="store_true", help="the prompt path only")
    ev.add_argument("--threads", type=int)
    ev.add_argument("--json", action="store_true")

    models = sub.add_parser("models", help="list local, remote and catalog models")
    models.add_argument("--json", action="store_true")

    rm = sub.add_parser("rm", help="delete a local model")
    rm.add_argument("name")

    doc = sub.add_parser("doctor", help="check config, history, models and kernels")
    doc.add_argument("--deep", action="store_true", help="hash every model file (slow)")
    doc.add_argument(
        "--repair", action="store_true", help="save what can be read of a damaged history"
    )

    verify = sub.add_parser("verify", help="check a local model's files against its checksums")
    verify.add_argument("name")

    ask = sub.add_parser("ask", help="ask one question, stream the reply to stdout")
    ask.add_argument("prompt", help="the question; - reads standard input")
    ask.add_argument(
        "-f",
        "--file",
        action="append",
        default=[],
        dest="files",
        metavar="FILE",
        help="send a text file with the question, fenced under its name (repeatable)",
    )
    where = ask.add_mutually_exclusive_group()
    where.add_argument("--model", help="a local model or a [[remote]] entry's name")
    where.add_argument("--model-path")
    ask.add_argument("--system")
    ask.add_argument("--max-new-tokens", type=int)
    ask.add_argument("--temperature", type=float)
    ask.add_argument("--top-p", type=float)
    ask.add_argument("--top-k", type=int)
    ask.add_argument("--repetition-penalty", type=float)
    ask.add_argument("--seed", type=int)
    ask.add_argument("--threads", type=int)
    ask.add_argument(
        "--json", action="store_true", help="print one JSON object at the end (reply, reasoning)"
    )
    ask.add_argument(
        "--hide-thinking",
        action="store_true",
        help="print no thinking (the model still thinks: --no-think stops that)",
    )
    think = ask.add_mutually_exclusive_group()
    think.add_argument(
        "--think",
        dest="enable_thinking",
        action="store_const",
        const=True,
        help="think first (a model with Qwen3's switch; the default is the model's)",
    )
    think.add_argument(
        "--no-think",
        dest="enable_thinking",
        action="store_const",
        const=False,
        help="answer without thinking",
    )

    ask.add_argument(
        "--tools",
        metavar="SERVER[,SERVER]",
        help="let the model call these MCP servers' tools ([[mcp]] in config.toml); "
        "each call is asked about on the terminal",
    )
    ask.add_argument("--yes", action="store_true", help="with --tools: run every call unasked")

    mcp = sub.add_parser("mcp", help="MCP servers: list them and their tools, import a JSON file")
    mcp_sub = mcp.add_subparsers(dest="mcp_command", parser_class=Parser)
    mcp_list = mcp_sub.add_parser("list", help="start the [[mcp]] servers, show their tools")
    mcp_list.add_argument("names", nargs="*", metavar="NAME", help="only these (default: all)")
    mcp_list.add_argument("--json", action="store_true")
    mcp_import = mcp_sub.add_parser(
        "import", help="add the servers of an mcpServers JSON file (Claude Desktop's) to config"
    )
    mcp_import.add_argument("file")
    mcp.set_defaults(names=[], json=False)

    serve = sub.add_parser("serve", help="serve the OpenAI chat API (for editors and scripts)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--model")
    where.add_argument("--model-path")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1: this machine only")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    serve.add_argument(
        "--api-key", help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV})"
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests sent to this name (addresses and localhost always are); "
        "'*': any (needs a key)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let web pages at scheme://host[:port] use the server; '*': any (needs a key)",
    )
    serve.add_argument(
        "--max-body", default="8M", metavar="SIZE", help="largest request body (default 8M)"
    )
    serve.add_argument(
        "--max-queue",
        type=int,
        default=Limits.max_queue,
        metavar="N",
        help=f"requests that may wait for the model; more get 429 (default {Limits.max_queue})",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=Limits.max_connections,
        metavar="N",
        help=f"open connections (default {Limits.max_connections})",
    )
    serve.add_argument("--threads", type=int)

    bench = sub.add_parser("bench", help="measure load time, prompt and decode speed")
    where = bench.add_mutually_exclusive_group()
    where.add_argument("--model")
    where.add_argument("--model-path")
    where.add_argument("--synthetic", metavar="NAME", help="random weights, real dimensions")
    bench.add_argument("--prompt-tokens", default="32,512,1024")
    bench.add_argument("--new-tokens", type=int, default=64)
    bench.add_argument("--turns", type=int, default=10)
    bench.add_argument(
        "--repeat", type=int, default=3, help="runs of each prompt length (the median is shown)"
    )
    bench.add_argument("--threads", type=int)
    bench.add_argument("--no-ui", action="store_true", help="skip the UI event-loop lag test")
    bench.add_argument(
        "--busy", action="store_true", help="measure the prompts again beside a CPU hog"
    )
    bench.add_argument("--json", action="store_true")
    return parser


PIPE_CLOSED = 141  # what a shell reports for a program stopped by SIGPIPE (`ls | head`)


def main(argv: list[str] | None = None) -> int:
    from . import interrupt

    previous = interrupt.install()
    try:
        return _run(argv)
    finally:
        interrupt.restore(previous)


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "tui"
    try:
        from . import commands

        return int(getattr(commands, command.replace("-", "_"))(args) or 0)
    except QwenTuiError as exc:
        print(f"qwen-tui: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\nqwen-tui: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `qwen-tui models | head -1`: the reader has all it wanted
        _silence_stdout()
        return PIPE_CLOSED
    except Exception as exc:  # a bug of ours: one sentence here, the traceback in the log
        from .log import log_error

        where = log_error(exc, f"qwen-tui {command}")
        print(
            f"qwen-tui: unexpected error ({type(exc).__name__}: {exc}). "
            f"The details are in {where}; please report them.",
            file=sys.stderr,
        )
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises nothing more."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
