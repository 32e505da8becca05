"""Validated configuration: packaged defaults < machine ``[defaults]`` < user file <
``ACTIVESEC_*`` env < CLI flags < machine ``[enforced]``.

The user file is TOML (``config.toml`` in the config dir). Nested keys map to environment
variables with a double underscore: ``capture.flush_interval_s`` is
``ACTIVESEC_CAPTURE__FLUSH_INTERVAL_S``. The machine-wide policy file (:mod:`.site`) is the
administrator's or parent's. Every error names the offending key and the file it came from.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from activesec.core.errors import ConfigError, PolicyError
from activesec.core.labels import MAX_LENGTH, name_problem
from activesec.core.paths import Paths, write_private_text
from activesec.core.site import ENV as SITE_ENV
from activesec.core.site import (
    SitePolicy,
    dotted_keys,
    dotted_value,
    load_site,
    one_lock_level,
    read_toml,
    sets_lock_level,
    toml_problem,
    without_lock_level,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BackendName = Literal["auto", "x11", "pynput", "evdev"]


class _Section(BaseModel):
    # a NaN compares false with every bound (gt=0 ...), so it would pass them and then switch
    # checks off: no setting takes a non-finite number
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class CaptureConfig(_Section):
    backend: BackendName = Field(default="auto", description="auto | x11 | pynput | evdev")
    pointer: bool = Field(default=True, description="capture pointer movement, clicks and scrolls")
    keyboard: bool = Field(default=True, description="capture keystroke timing (key classes only)")
    left_handed: bool = Field(
        default=False,
        description="your mouse's buttons are swapped for the left hand: the evdev backend, "
        "which reads the physical buttons, records the primary button as the left click "
        "(x11 sees the swap itself)",
    )
    keyboard_layout: str = Field(
        default="",
        max_length=64,
        description="evdev: the keyboard layout whose characters give the key classes (de, fr, "
        "ru, us(dvorak)...); empty: the system's (XKB_DEFAULT_LAYOUT, /etc/default/keyboard), "
        "else US QWERTY (x11 reads the active layout itself)",
    )
    flush_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="commit to disk at least this often (max data lost on a crash)",
    )
    flush_events: int = Field(
        default=8192, ge=16, le=1_000_000, description="commit when this many events wait"
    )
    queue_max_events: int = Field(
        default=262_144,
        ge=1024,
        le=50_000_000,
        description="bound on buffered events; beyond it events are dropped and counted",
    )
    app_poll_s: float = Field(
        default=1.0, gt=0, le=60, description="how often the foreground app name is sampled"
    )


class StoreConfig(_Section):
    keep_days: int = Field(  # bounded: the cut-off is a 64-bit nanosecond time in SQLite
        default=90, ge=0, le=36_500,
        description="delete events older than this many days (0 = keep forever)"
    )


class EnrolConfig(_Section):
    # upper bounds: a few extra zeros (15_000_000_000) must not silently postpone protection
    # for ever — 10^9 pointer events are months of all-day use at 125 Hz
    pointer_events: int = Field(
        default=15_000, ge=100, le=1_000_000_000,
        description="pointer events needed before a pointer model can train",
    )
    keystrokes: int = Field(
        default=2_000, ge=50, le=100_000_000,
        description="keystrokes needed before a keyboard model can train",
    )


class TrainConfig(_Section):
    auto: bool = Field(default=True, description="train by itself once enrolment has enough data")
    target_far: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="owner false-alarm rate per scored action at the threshold; the trust "
        "defaults were tuned at 0.05 (lower: fewer false locks, impostors locked later)",
    )
    holdout: float = Field(
        default=0.25,
        gt=0.05,
        lt=0.75,
        description="share of the owner's latest data held out to calibrate",
    )
    pointer_detector: str = Field(
        default="", description="pointer detector ('' = the project default)"
    )
    keys_detector: str = Field(
        default="", description="keyboard detector ('' = the project default)"
    )
    retrain_days: float = Field(
        default=7.0,
        ge=0,
        description="re-train from recent confident owner data this often (0 = never)",
    )
    max_drift: float = Field(
        default=0.25, gt=0, le=1, description="most of the profile a re-training may replace"
    )


class ActionsConfig(_Section):
    on_notify: list[str] = Field(
        default_factory=lambda: ["notify", "alertlog"], description="actions when trust drops"
    )
    on_lock: list[str] = Field(
        default_factory=lambda: ["lock", "notify", "alertlog"],
        description="actions when trust falls below the lock level",
    )
    on_gate: list[str] = Field(
        default_factory=lambda: ["alertlog"],
        description="actions for app gating (add 'gate' and its rules to restrict apps)",
    )
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per-action parameters, e.g. [actions.params.gate] rules = [...]",
    )


class Settings(BaseSettings):
    """All of ActiveSec's settings."""

    model_config = SettingsConfigDict(
        env_prefix="ACTIVESEC_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
        allow_inf_nan=False,
    )

    user: str = Field(default="", description="the owner's label (set by `activesec init --user`)")

    @field_validator("user")
    @classmethod
    def _printable(cls, v: str) -> str:
        """Not the full label rule (:mod:`activesec.core.labels`): configs written before it
        hold login names such as "Jane Doe". But a control character (a newline) or a page of
        text is no name: sessions were stored under it. Nor is one that shows nothing or
        starts with '-' (:func:`~activesec.core.labels.name_problem`)."""
        problem = name_problem(v)
        if problem is not None:
            raise ValueError(f"{v!a} is no name: {problem} (`activesec init --user NAME` "
                             "writes one; or leave `user` out to use the profile's)")
        if len(v) > MAX_LENGTH or any(unicodedata.category(c)[0] == "C" for c in v):
            raise ValueError(f"must be a name of at most {MAX_LENGTH} printable characters "
                             "(`activesec init --user NAME` writes one)")
        return v

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="log verbosity"
    )
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    enrol: EnrolConfig = Field(default_factory=EnrolConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    engine: dict[str, Any] = Field(
        default_factory=dict,
        description="trust, policy and scoring options ([engine.trust], [engine.policy], ...)",
    )

    toml_table: ClassVar[dict[str, Any]] = {}  # the account's file, as load() read it
    site: ClassVar[SitePolicy] = SitePolicy()
    table_only: ClassVar[bool] = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if cls.table_only:
            return (init_settings,)
        sources: list[PydanticBaseSettingsSource] = [
            InitSettingsSource(settings_cls, cls.site.enforced), init_settings, env_settings]
        sources.append(InitSettingsSource(settings_cls, cls.toml_table))
        sources.append(InitSettingsSource(settings_cls, cls.site.defaults))
        return tuple(sources)


class _TableOnly(Settings):
    """Validates one table on its own (no environment, no files)."""

    table_only: ClassVar[bool] = True


def table_settings(table: Mapping[str, Any]) -> Settings:
    """``table`` (one table of the machine policy) validated on its own: without the account's
    ``ACTIVESEC_*`` environment, which :class:`Settings` reads even in ``model_validate`` — the
    account's own variable was checked as part of the policy and its error blamed on the
    administrator."""
    return _TableOnly.model_validate(dict(table))


def field_hint(model: type[BaseModel], loc: Sequence[str | int], section: str = "") -> str:
    """What the setting at ``loc`` means and its default — or, when ``loc`` does not name one,
    which settings its section has. ``section``: where ``model`` sits in the file."""
    m, parts, depth = model, [str(p) for p in loc], 0  # depth: parts that named a section
    for i, part in enumerate(parts):
        f = m.model_fields.get(part)
        if f is None:
            break
        sub = f.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            m, depth = sub, i + 1
            continue
        name = ".".join([*filter(None, [section]), *parts[: i + 1]])
        default = toml_value(f.get_default(call_default_factory=True))
        return f"{name}: {f.description or 'see the documentation'} (default {default})"
    where = ".".join([*filter(None, [section]), *parts[:depth]])
    known = ", ".join(m.model_fields)
    return f"settings {f'in [{where}]' if where else 'at the top level'}: {known}"


#: unknown settings one error line names at most (the others are counted)
UNKNOWN_SHOWN = 5


def _did_you_mean(model: type[BaseModel], loc: Sequence[str | int], section: str) -> str:
    """`` (did you mean 'store.keep_days'?)`` for an unknown key at ``loc`` close to a setting
    of its section (a misspelling), else ''."""
    import difflib

    m = model
    for part in loc[:-1]:
        sub = getattr(m.model_fields.get(str(part)), "annotation", None)
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return ""
        m = sub
    close = difflib.get_close_matches(str(loc[-1]), list(m.model_fields), n=1, cutoff=0.6)
    if not close:
        return ""
    near = ".".join([*filter(None, [section]), *map(str, loc[:-1]), close[0]])
    return f" (did you mean '{near}'?)"


def error_key_msg(err: ValidationError, section: str = "",
                  model: type[BaseModel] | None = None) -> tuple[str, str]:
    """The first error of ``err`` as (dotted key under ``section``, message a user reads):
    pydantic's "Value error, " prefix goes, a whole-section check names the section. An
    unknown key's message names the file's other unknown keys too (up to ``UNKNOWN_SHOWN``;
    one at a time, a file with several misspellings took as many rounds to fix), each with
    the setting of ``model`` it is closest to, if one is close."""
    errors = err.errors()
    first = errors[0]

    def dotted(loc: Sequence[str | int]) -> str:
        return ".".join([*filter(None, [section]), *(str(p) for p in loc)]) or "(top level)"

    key = dotted(first["loc"])
    if first["type"] == "extra_forbidden":
        unknown = [e["loc"] for e in errors if e["type"] == "extra_forbidden"]

        def mean(loc: Sequence[str | int]) -> str:
            return _did_you_mean(model, loc, section) if model is not None and loc else ""

        msg = "unknown setting" + mean(unknown[0])
        others = [f"'{dotted(loc)}'{mean(loc)}" for loc in unknown[1:UNKNOWN_SHOWN]]
        more = len(unknown) - UNKNOWN_SHOWN
        if others:
            msg += "; also unknown: " + ", ".join(others) + (f" and {more} more" if more > 0
                                                             else "")
        return key, msg
    msg = str(first["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return key, msg


def _describe(err: ValidationError, origin: str) -> str:
    key, msg = error_key_msg(err, model=Settings)
    return f"invalid configuration value for '{key}': {msg} ({origin})"


def load(paths: Paths, overrides: dict[str, Any] | None = None) -> Settings:
    """Load settings for ``paths``; ``overrides`` are CLI flags (nested dicts allowed)."""
    try:  # exists() raises PermissionError in a directory of another user
        file = paths.config_file if paths.config_file.exists() else None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {paths.config_file}: {exc.strerror}") from None
    mine: dict[str, Any] = {}
    if file is not None:
        try:
            mine = read_toml(file)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ConfigError(
                f"config file {file} is not valid TOML: {toml_problem(exc)}",
                "fix the file, or recreate it with `activesec init --force` (which keeps "
                "this one as config.toml.bak-<time>)",
            ) from None
        except IsADirectoryError:
            raise ConfigError(
                f"config file {file} is a directory",
                f"move {file} out of the way (ActiveSec never deletes it), then run "
                "`activesec init --force`",
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None

    policy = load_site()
    for name in ("defaults", "enforced"):
        try:
            _TableOnly(**getattr(policy, name))
        except ValidationError as exc:
            raise PolicyError(
                _describe(exc, f"from [{name}] in the machine policy {policy.path}"),
                f"{field_hint(Settings, exc.errors()[0]['loc'])}; ask whoever manages this "
                f"machine to fix {policy.path}") from None

    # the lock level under both its names when the policy enforces one: it wins over both; and
    # one the account sets (file, environment, flags) replaces the machine default's, both names
    defaults = policy.defaults
    env_names = {"ACTIVESEC_ENGINE__POLICY__LOCK_BELOW", "ACTIVESEC_ENGINE__TRUST__LOCK_LEVEL"}
    if sets_lock_level(mine) or sets_lock_level(overrides or {}) or any(
            k.upper() in env_names for k in os.environ):
        defaults = without_lock_level(defaults)
    merged = SitePolicy(policy.path, defaults, one_lock_level(policy.enforced))

    class _Bound(Settings):
        toml_table: ClassVar[dict[str, Any]] = mine  # checked above: not read a second time
        site: ClassVar[SitePolicy] = merged

    try:
        s = _Bound(**(overrides or {}))
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        var = _env_var_for(loc)
        origin = (
            f"from the environment variable {var}" if var
            else f"from {file}, ACTIVESEC_* environment or flags" if file
            else "from ACTIVESEC_* environment or flags"
        )
        hint = field_hint(Settings, loc)
        raise ConfigError(_describe(exc, origin), hint) from None
    return Settings.model_validate(s.model_dump())


def _env_var_for(loc: Sequence[str | int]) -> str | None:
    """The ``ACTIVESEC_*`` variable (as set, any case) that gives the setting at ``loc``, when
    one does — so an error in it names the variable, not a config file that never had the key."""
    want = "ACTIVESEC_" + "__".join(str(p) for p in loc).upper()
    return next((k for k in os.environ if k.upper() == want), None)


def _user_table(paths: Paths) -> dict[str, Any]:
    """The user's config file as parsed TOML ({} without one); for reports after :func:`load`
    has checked that it reads and parses."""
    if not paths.config_file.exists():
        return {}
    return read_toml(paths.config_file)


def changed_settings(paths: Paths, sections: Mapping[str, Any] | None = None,
                     ) -> list[tuple[str, Any, Any]]:
    """(key, value, packaged default) for what the user's file sets to something other than the
    packaged default — ``doctor`` shows them, so a file written by an older ``init`` that pins an
    old default (``train.target_far = 0.01``) is seen. ``user`` is left out, and ``[engine]``
    unless ``sections`` gives its defaults (they live in :mod:`activesec.engine`, above this
    layer). Assumes :func:`load` succeeded."""
    mine = _user_table(paths)
    sections = sections or {}
    defaults = {**_TableOnly().model_dump(), **sections}
    out = []
    for key in dotted_keys(mine):
        if key == "user" or (key.split(".")[0] == "engine" and "engine" not in sections):
            continue
        value, default = dotted_value(mine, key), dotted_value(defaults, key)
        if value != default:
            out.append((key, value, default))
    return out


def overridden_by_policy(paths: Paths, env: Mapping[str, str] | None = None,
                         platform: str | None = None) -> tuple[SitePolicy, list[tuple[str, str]]]:
    """The machine policy and the user's own settings its ``[enforced]`` table overrides, as
    (dotted key, where the user set it) — what ``activesec doctor`` reports. Assumes
    :func:`load` succeeded (files readable and valid)."""
    env = os.environ if env is None else env
    policy = load_site(platform, env)
    enforced = dotted_keys(one_lock_level(policy.enforced))  # either lock level name: both
    if not enforced:
        return policy, []
    mine = [(k, paths.config_file.name) for k in dotted_keys(_user_table(paths))]
    prefix = "ACTIVESEC_"
    mine += [(k[len(prefix):].lower().replace("__", "."), k) for k in env
             if k.startswith(prefix) and k != SITE_ENV]

    def clash(a: str, b: str) -> bool:
        return a == b or a.startswith(f"{b}.") or b.startswith(f"{a}.")

    return policy, [(k, where) for k, where in mine if any(clash(k, e) for e in enforced)]


#: ACTIVESEC_* variables that are not settings: where state lives, the machine policy file,
#: and what the command and notify actions hand their child process (a hook that runs
#: ``activesec`` inherits them)
OTHER_ENV = frozenset({"ACTIVESEC_HOME", SITE_ENV, "ACTIVESEC_OP", "ACTIVESEC_LEVEL",
                       "ACTIVESEC_STATE", "ACTIVESEC_TRUST", "ACTIVESEC_TITLE", "ACTIVESEC_BODY"})


def unknown_env(env: Mapping[str, str]) -> list[str]:
    """``ACTIVESEC_*`` variables in ``env`` that name no section or setting: pydantic-settings
    ignores them, so a misspelt ``ACTIVESEC_CAPTUR__BACKEND`` silently did nothing (a
    misspelt key inside a known section is already an error)."""
    prefix = "ACTIVESEC_"
    out = []
    for name in sorted(env):
        if not name.startswith(prefix) or name in OTHER_ENV:
            continue
        top = name[len(prefix):].split("__", 1)[0].lower()
        if top not in Settings.model_fields:
            out.append(name)
    return out


def toml_value(v: Any) -> str:
    """``v`` as a TOML value (booleans, strings, numbers, lists, tables inline)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    return repr(v)


def section_toml(model: type[BaseModel], section: str, *, commented: bool = False) -> list[str]:
    """``[section]`` with each field of ``model`` at its default under its description; nested
    models become ``[section.field]`` tables after it. ``commented``: every value line is a
    comment (a reference the user uncomments); empty tables are always commented out."""
    lines, nested = [f"[{section}]"], []
    for key, f in model.model_fields.items():
        sub = f.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            nested.append((key, sub))
            continue
        value = f.get_default(call_default_factory=True)
        if f.description:
            lines.append(f"# {f.description}")
        line = f"{key} = {toml_value(value)}"
        lines.append(f"# {line}" if commented or value == {} else line)
    lines.append("")
    for key, sub in nested:
        lines += section_toml(sub, f"{section}.{key}", commented=commented)
    return lines


def default_toml(user: str = "",
                 reference: Mapping[str, type[BaseModel]] | None = None) -> str:
    """The config file ``init`` writes: ``user``, then every setting at its default, commented
    out (a reference the user uncomments). ``reference``: more sections (e.g.
    ``{"engine": EngineConfig}``, which this layer cannot import) written the same way."""
    lines = [
        "# ActiveSec configuration.",
        "# Every setting below but `user` is at its default and commented out, so that it follows",
        "# the defaults of later versions and of this machine's policy file; uncomment a line to",
        "# change it. Precedence: defaults < machine [defaults] < this file < ACTIVESEC_*",
        "# environment < command-line flags < machine [enforced] (`activesec doctor` lists them).",
        "# Environment names: ACTIVESEC_<SECTION>__<KEY>,",
        "# e.g. ACTIVESEC_CAPTURE__FLUSH_INTERVAL_S=0.5",
        "",
    ]
    top = Settings.model_fields
    for name in ("user", "log_level"):
        f = top[name]
        line = f"{name} = {toml_value(user if name == 'user' else f.default)}"
        lines += [f"# {f.description}", line if name == "user" else f"# {line}", ""]
    for section in ("capture", "store", "enrol", "train", "actions"):
        lines += section_toml(top[section].annotation,  # type: ignore[arg-type]
                              section, commented=True)
    if not reference:
        lines += [
            "# Trust, policy and streaming options live under [engine.trust], [engine.policy] and",
            "# [engine.scoring]; `activesec run --help` points to their documentation.",
            "",
        ]
    for section, model in (reference or {}).items():
        lines += [
            f"# [{section}]: trust, policy and streaming options.",
            "",
            *section_toml(model, section, commented=True),
        ]
    return "\n".join(lines)


def write_default(
    paths: Paths, user: str, reference: Mapping[str, type[BaseModel]] | None = None
) -> Path:
    """Write :func:`default_toml` as the profile's config file (0600) and return its path."""
    write_private_text(paths.config_file, default_toml(user, reference))
    return paths.config_file
