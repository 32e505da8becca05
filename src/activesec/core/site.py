"""The machine-wide policy file: settings an administrator (or a parent) sets for every account.

Where it lives (written by root / an administrator, readable by everyone):

* Linux and other Unix: ``/etc/activesec/config.toml``
* macOS: ``/Library/Application Support/ActiveSec/config.toml``
* Windows: ``%ProgramData%\\ActiveSec\\config.toml`` — by default every account may create files
  and folders under ``%ProgramData%``, and nothing here checks the file's owner or access list:
  the administrator must create the folder first and restrict it (README)

``ACTIVESEC_SITE_CONFIG`` names another file, but only while none exists at that place
(machines where the administrator cannot write there, and tests): an account cannot displace
a policy that exists by setting a variable.

It has two tables, each with the sections of the user's ``config.toml``:

* ``[defaults]`` — the machine's defaults; the user's file, ``ACTIVESEC_*`` variables and flags
  still change them;
* ``[enforced]`` — win over everything the user sets; ``activesec doctor`` lists them and says
  which of the user's own settings they override.

Precedence, lowest first: packaged defaults < ``[defaults]`` < user file < environment < flags <
``[enforced]``. Tables merge key by key; a list (``actions.on_lock``) is replaced whole.

What it is not: the agent runs as the user, and an account can always stop its own processes.
Enforced settings keep an account from *reconfiguring* the agent (a child's account cannot write
``/etc``); they are not a security boundary against someone with that account's shell.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activesec.core.errors import PolicyError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENV = "ACTIVESEC_SITE_CONFIG"
TABLES = ("defaults", "enforced")
#: what an account's config.toml has at its top level (:class:`activesec.core.config.Settings`)
SETTINGS_TABLES = ("user", "log_level", "capture", "store", "enrol", "train", "actions", "engine")


def platform_file(platform: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Where this platform keeps the machine-wide policy file."""
    platform = platform or sys.platform
    env = os.environ if env is None else env
    if platform == "win32":
        return Path(env.get("PROGRAMDATA") or r"C:\ProgramData") / "ActiveSec" / "config.toml"
    if platform == "darwin":
        return Path("/Library/Application Support/ActiveSec/config.toml")
    return Path("/etc/activesec/config.toml")


def site_file(platform: str | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The policy file in force, or None (module docstring: the platform's place wins)."""
    env = os.environ if env is None else env
    return in_force(platform_file(platform, env), env, ENV)


def in_force(fixed: Path, env: Mapping[str, str], variable: str) -> Path | None:
    """A machine-wide place: ``fixed`` once it exists, else the one the environment
    ``variable`` names (machines where the administrator cannot write there, and tests), else
    None — an account cannot displace what exists at the platform's place by setting a
    variable. The policy file and the machine's background population follow this rule."""
    try:
        if fixed.exists():
            return fixed
    except PermissionError:  # a folder above it closed to this account (`sudo mkdir` under
        return fixed  # umask 077): something is there, unreadable — not "no policy", never
    named = env.get(variable)  # a traceback or advice to chown the policy to the account
    return Path(named).expanduser() if named else None


@dataclass(frozen=True)
class SitePolicy:
    """The parsed (not yet validated) policy file; empty when there is none."""

    path: Path | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    enforced: dict[str, Any] = field(default_factory=dict)

    @property
    def enforced_keys(self) -> list[str]:
        return dotted_keys(self.enforced)


def dotted_keys(table: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Leaf keys of nested tables as ``section.key`` paths. An empty table sets nothing (tables
    merge key by key) and has none: ``init`` writes ``[actions]`` with every key commented out."""
    out: list[str] = []
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += dotted_keys(value, f"{name}.")
        else:
            out.append(name)
    return out


def dotted_value(table: Mapping[str, Any], key: str) -> Any:
    """The value at a ``section.key`` path of :func:`dotted_keys`, None where the path is not
    there."""
    value: Any = table
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def toml_problem(exc: ValueError | RecursionError) -> str:
    """What is wrong with a TOML file, for an error line; TOML files are UTF-8 text, and
    tomllib raises UnicodeDecodeError (not TOMLDecodeError) for other bytes, and
    RecursionError for arrays or inline tables nested a few hundred deep."""
    if isinstance(exc, RecursionError):
        return "arrays or inline tables nested too deeply to read"
    if isinstance(exc, UnicodeDecodeError):
        return (f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                "save it as UTF-8")
    text = str(exc)
    twice = re.match(r"Cannot declare \(((?:'[^']*',? ?)+)\) twice", text)
    if twice:  # a README snippet pasted below the sections `init` wrote
        table = ".".join(re.findall(r"'([^']*)'", twice.group(1)))
        return (f"{text}: the file already has a [{table}] table — put these lines under that "
                "one instead of starting it again")
    if text.startswith("Cannot overwrite a value"):
        return f"{text}: a setting given twice — keep one of them"
    return text


BOM = b"\xef\xbb\xbf"


def read_toml(path: Path) -> dict[str, Any]:
    """The tables of the TOML file at ``path``. A leading UTF-8 byte-order mark — Windows
    Notepad's "UTF-8 with BOM", PowerShell 5's ``Set-Content -Encoding UTF8`` — is not part of
    the text: tomllib took it for an "Invalid statement (at line 1, column 1)"."""
    return tomllib.loads(path.read_bytes().removeprefix(BOM).decode("utf-8"))


def load_site(platform: str | None = None, env: Mapping[str, str] | None = None) -> SitePolicy:
    """Read the policy file; a broken one is a PolicyError naming it (never ignored: a policy
    that silently stops applying is worse than an agent that refuses to start)."""
    path = site_file(platform, env)
    if path is None:
        return SitePolicy()
    hint = f"ask whoever manages this machine to fix {path}"
    try:
        raw = read_toml(path)
    except FileNotFoundError:
        raise PolicyError(f"machine policy file {path} (named by {ENV}) does not exist",
                          f"unset {ENV} or create the file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise PolicyError(f"machine policy file {path} is not valid TOML: {toml_problem(exc)}",
                          hint) from None
    except PermissionError as exc:
        raise PolicyError(f"cannot read machine policy file {path}: {exc.strerror}",
                          "ask whoever manages this machine to make it readable by every "
                          f"account (chmod 755 {path.parent}; chmod 644 {path})") from None
    except OSError as exc:
        raise PolicyError(f"cannot read machine policy file {path}: {exc.strerror}",
                          hint) from None
    changeable = changeable_by_others(path, platform)
    if changeable:
        raise PolicyError(
            f"machine policy file {path}: {changeable}: refused, since another account could "
            "make every account's agent run its commands or close its apps through it",
            f"ask whoever manages this machine to run `sudo chown root: {path} {path.parent} && "
            f"sudo chmod go-w {path} {path.parent}`")
    unknown = sorted(set(raw) - set(TABLES))
    if unknown:
        name = unknown[0]
        if name in SETTINGS_TABLES:  # an account's config.toml copied as the policy
            table = isinstance(raw[name], dict)
            what, enforced, default = ((f"[{name}]", f"[enforced.{name}]", f"[defaults.{name}]")
                                       if table else (name, f"[enforced] {name}",
                                                      f"[defaults] {name}"))
            raise PolicyError(
                f"machine policy file {path}: {what} at the top level, where it sets nothing "
                "(the file has [defaults] and [enforced])",
                f"move it to {enforced} (no account can change it) or {default} (each account "
                f"may); ask whoever manages this machine to fix {path}")
        raise PolicyError(f"machine policy file {path}: unknown table [{name}] "
                          "(it has [defaults] and [enforced])", hint)
    tables = {}
    for name in TABLES:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise PolicyError(f"machine policy file {path}: '{name}' must be a table", hint)
        tables[name] = value
    return SitePolicy(path, tables["defaults"], tables["enforced"])


def changeable_by_others(path: Path, platform: str | None = None) -> str:
    """Which of the policy file and its folder another account could change, or '': owned by
    an account other than root and this one, or writable by others (or by a group other than
    root's) — a folder's sticky bit (/tmp) keeps others from replacing the file. The machine
    background has the same rule; the policy, whose [enforced] table names commands every
    account's agent runs and apps it closes, was obeyed with a warning in doctor only. On
    Windows, access lists are the administrator's part (README)."""
    if (platform or sys.platform) == "win32" or not hasattr(os, "geteuid"):
        return ""
    for target, is_dir in ((path, False), (path.parent, True)):
        try:
            st = target.stat()
        except OSError:
            continue
        if st.st_uid not in (0, os.geteuid()):
            return f"{target} belongs to another account (uid {st.st_uid})"
        if is_dir and st.st_mode & 0o1000:
            continue
        if st.st_mode & 0o002 or (st.st_mode & 0o020 and st.st_gid != 0):
            return f"{target} is writable by other accounts (mode {st.st_mode & 0o777:04o})"
    return ""


#: the lock level's two names (``[engine.policy] lock_below``, ``[engine.trust] lock_level``)
LOCK_LEVEL = (("policy", "lock_below"), ("trust", "lock_level"))


def sets_lock_level(table: Mapping[str, Any]) -> bool:
    """Does ``table`` give the lock level, under either name?"""
    engine = table.get("engine")
    return isinstance(engine, Mapping) and any(
        isinstance(engine.get(sec), Mapping) and key in engine[sec] for sec, key in LOCK_LEVEL)


def without_lock_level(table: dict[str, Any]) -> dict[str, Any]:
    """``table`` without the lock level under either name: machine defaults the account's own
    lock level replaces whole (its ``lock_level`` met a default ``lock_below``: "must equal")."""
    engine = table.get("engine")
    if not isinstance(engine, dict):
        return table
    engine = dict(engine)
    for sec, key in LOCK_LEVEL:
        if isinstance(engine.get(sec), dict):
            engine[sec] = {k: v for k, v in engine[sec].items() if k != key}
    return {**table, "engine": engine}


def one_lock_level(table: dict[str, Any]) -> dict[str, Any]:
    """``table`` with the lock level under both its names when it gives it under one: setting
    either sets both, so an enforced ``lock_below`` also wins over an account's ``lock_level``
    (which else clashed with it and stopped every command)."""
    engine = table.get("engine")
    if not isinstance(engine, dict):
        return table
    given = [(sec, key) for sec, key in LOCK_LEVEL
             if isinstance(engine.get(sec), dict) and key in engine[sec]]
    if len(given) != 1:
        return table
    (sec, key), = given
    (other_sec, other_key), = [k for k in LOCK_LEVEL if k != (sec, key)]
    other = engine.get(other_sec, {})
    if not isinstance(other, dict):
        return table
    engine = {**engine, other_sec: {**other, other_key: engine[sec][key]}}
    return {**table, "engine": engine}
