"""`qwen-tui doctor`: check the config, the history, every model, the kernels; say what is
wrong and the command that fixes it. ``--repair`` rescues a damaged history."""

from __future__ import annotations

from dataclasses import dataclass

from . import config, paths
from .store import local


@dataclass(frozen=True)
class Finding:
    area: str
    ok: bool
    text: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok " if self.ok else "!! "
        return f"{mark} {self.area}: {self.text}" + (f"\n      fix: {self.fix}" if self.fix else "")


def check_config() -> list[Finding]:
    path = paths.config_file()
    _, warnings = config.load()
    if not warnings:
        where = str(path) if path.exists() else f"{path} (none yet: the defaults)"
        return [Finding("config", True, where)]
    return [Finding("config", False, w, f"edit {path}") for w in warnings]


def check_history() -> list[Finding]:
    from .history.repair import check

    path = paths.history_db()
    if not path.exists():
        return [Finding("history", True, f"{path} (none yet)")]
    problems = check(path)
    if not problems:
        return [Finding("history", True, f"{path} is whole (integrity and search index)")]
    return [
        Finding(
            "history",
            False,
            f"{path} is damaged: {problems[0]}",
            "qwen-tui doctor --repair (saves what can be read into a new file, keeps the old)",
        )
    ]


def check_models(deep: bool = False) -> list[Finding]:
    from .engine.open import choose_engine
    from .manifest import problems

    found = []
    for model in local.list_local():
        wrong = problems(model.path, model.manifest, deep=deep)
        if wrong:
            fix = f"qwen-tui rm {model.folder_name}, then pull or quantize it again"
            found.append(Finding(f"model {model.folder_name}", False, wrong[0], fix))
        else:
            how = "every file matches its sha256" if deep else "every file has its size"
            engine = choose_engine(model.path)
            if engine.name == "none":  # neither engine runs it here
                found.append(Finding(f"model {model.folder_name}", False, engine.why, engine.hint))
                continue
            if engine.why:  # why it needs torch and bigdl-llm, or that it is converted first
                how += f"; it loads on {engine.note}"
            found.append(Finding(f"model {model.folder_name}", True, how))
    for left in local.leftovers():
        found.append(
            Finding(
                f"folder {left.folder_name}",
                False,
                "in the model store but not a model (no manifest)",
                f"qwen-tui rm {left.folder_name}",
            )
        )
    if not found:
        found.append(Finding("models", True, f"none in {paths.models_dir()} yet"))
    return found


def check_kernels() -> list[Finding]:
    from .engine import kernels

    if not kernels.available():
        return [
            Finding(
                "kernels",
                False,
                "not built: replies use bigdl-llm's slower kernels",
                "install a C compiler (gcc) and run ./scripts/setup.sh again",
            )
        ]
    choice = kernels.chosen_isa()
    text = (
        f"{choice.name} variant in use (this CPU runs {', '.join(kernels.supported_isas())}); "
        + ("float kernels and our decoder on" if kernels.float_kernels() else "no AVX2: ")
        + ("" if kernels.float_kernels() else "bigdl-llm's forwards for attention and norms")
    )
    findings = [Finding("kernels", True, text)]
    if choice.note:
        findings.append(Finding("kernels", False, choice.note, f"unset {kernels.ISA_ENV}"))
    return findings


def check_engine() -> list[Finding]:
    """Which engine runs a model qwen-tui quantized: ours without torch, unless a setting or
    this CPU calls for bigdl-llm's (``engine/open.py``)."""
    from .engine.open import choose_engine

    choice = choose_engine()
    if choice.name == "native":
        text = "qwen-tui's own (no torch, transformers or bigdl-llm on the chat path)"
        return [Finding("engine", True, text)]
    return [Finding("engine", True, f"bigdl-llm's, with torch: {choice.why}")]


def check_threads() -> list[Finding]:
    from .engine.runtime import cpus

    settings, _ = config.load()
    text = cpus.budget().describe()
    if settings.threads:
        text = f"{settings.threads} threads (set in the config); automatic would be {text}"
    return [Finding("threads", True, text)]


def check_patches() -> list[Finding]:
    """Our patches of bigdl-llm and transformers were written for one version of each; with
    another they are not installed and replies run on bigdl-llm's (slower) forwards."""
    from .engine.bigdl import patches

    versions = patches.installed_versions()
    wrong = sorted({w for p in patches.PATCHES for w in patches.version_problems(p, versions)})
    stack = ", ".join(f"{k} {v}" for k, v in patches.WRITTEN_FOR.items())
    if not wrong:
        text = f"{len(patches.PATCHES)} written for {stack}, the versions installed"
        return [Finding("patches", True, text)]
    pins = " ".join(f"{k}=={v}" for k, v in patches.WRITTEN_FOR.items())
    return [
        Finding(
            "patches",
            False,
            "; ".join(wrong) + ": our patches stay off and replies use bigdl-llm's forwards",
            f"pip install {pins}",
        )
    ]


def check_instance() -> list[Finding]:
    from .instance import holder

    pid = holder()
    if pid is None:
        return [Finding("app", True, "no qwen-tui window holds the history now")]
    return [Finding("app", True, f"a qwen-tui window (pid {pid}) holds the history")]


def run_checks(deep: bool = False) -> list[Finding]:
    return [
        *check_config(),
        *check_history(),
        *check_models(deep),
        *check_kernels(),
        *check_engine(),
        *check_threads(),
        *check_patches(),
        *check_instance(),
        Finding("log", True, f"unexpected errors are written to {paths.log_file()}"),
    ]
