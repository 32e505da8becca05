"""Helpers shared by the CLI commands: state location, settings, output."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from activesec.core import config, paths
from activesec.core.config import Settings
from activesec.core.paths import Paths

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def state_paths() -> Paths:
    return paths.resolve()


def settings(p: Paths, overrides: dict[str, Any] | None = None) -> Settings:
    return config.load(p, overrides)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def interactive() -> bool:
    return sys.stderr.isatty()
