"""The owner profile: who this installation protects (a small JSON file, 0600)."""

from __future__ import annotations

import getpass
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from activesec import __version__
from activesec.core.errors import ConfigError
from activesec.core.labels import as_label
from activesec.core.paths import Paths, write_private_text


@dataclass(frozen=True)
class Profile:
    user: str
    created_wall_ns: int
    version: str


def default_user() -> str:
    """The login name as a label (:func:`activesec.core.labels.as_label`), else ``owner``."""
    try:
        return as_label(getpass.getuser() or "owner")
    except Exception:  # no passwd entry in some containers
        return "owner"


def create(paths: Paths, user: str) -> Profile:
    p = Profile(user=user, created_wall_ns=time.time_ns(), version=__version__)
    write_private_text(paths.profile_file, json.dumps(asdict(p), indent=2) + "\n")
    return p


def owner(paths: Paths, user_setting: str = "") -> str:
    """The owner's label: the config's ``user`` when set (it may be edited), else the profile's.
    Every command that records, counts or trains the owner's sessions asks this one function,
    so they never disagree on who the owner is. (Commands that need a valid profile whatever
    the config says — `status`, `run` — check it themselves; training a home without one, as
    `bench` does for a synthetic owner, needs only the name.)"""
    return user_setting or require(paths).user


def load(paths: Paths) -> Profile | None:
    """The profile, or ``None`` before `activesec init`."""
    f = paths.profile_file
    if not f.exists():
        return None
    if not f.is_file():
        raise ConfigError(
            f"profile file {f} is a directory or other non-file",
            f"move {f} out of the way (ActiveSec never deletes it), then run "
            "`activesec init --force` (events are kept)",
        )
    try:
        raw: Any = json.loads(f.read_text(encoding="utf-8"))
        return Profile(
            user=str(raw["user"]),
            created_wall_ns=int(raw["created_wall_ns"]),
            version=str(raw.get("version", "")),
        )
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ConfigError(
            f"profile file {f} is unreadable or damaged ({exc.__class__.__name__})",
            "recreate it with `activesec init --force` (events are kept)",
        ) from None


def require(paths: Paths) -> Profile:
    p = load(paths)
    if p is None:
        raise ConfigError(f"no ActiveSec profile in {paths.data_dir}", "run `activesec init` first")
    return p
