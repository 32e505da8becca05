"""A privacy-safe background population for population detectors on a real install.

Population detectors (the pointer default ``extra_trees``, the keyboard default ``plda``) learn
the owner *against other people*. On a user's machine there are no other people, so
``activesec background build --balabit PATH --aalto PATH`` derives them from public datasets:

* pointer: every Balabit ``training_files`` session through
  :func:`activesec.features.pointer.pointer_features` (one row per action);
* keyboard: each Aalto 136M participant's sentences joined into one stream (2 s apart, as if
  typed in a row) through :func:`activesec.features.keys.keystroke_windows` with the live
  agent's window and step, so background rows are exactly what the agent scores.

Only **feature vectors** and an anonymous person number per row are kept — no events, no keys,
no dataset user names — subsampled with a seed (at most ``max_rows`` per modality, spread
evenly over people). Each file ``<data_dir>/models/background-<modality>.npz`` has a JSON card
beside it (feature-schema hash, source datasets, counts, seed, SHA-256 of the npz).

The files are never shipped with ActiveSec: the Aalto data are licensed for non-commercial use
only (Dhakal et al., CHI 2018), so each user builds the background from copies they obtained
themselves; the command is deterministic (same data + seed -> same file hash).

**For every account** (an admin's fleet, a family machine): ``background build --all-users``,
run as root / an administrator, writes the same files (0644) into the machine's folder
(:func:`platform_dir`: ``/var/lib/activesec/background``, ``/Library/Application
Support/ActiveSec/background``, ``%ProgramData%\\ActiveSec\\background``). An account without
a background of its own trains against that one (:func:`located`), so accounts created later
get the population detectors, not the much weaker one-class fallback. On Linux and macOS a
machine background that another account could have changed (not owned by root or the
account, or writable by group or others — the file, its card or the folder) is refused:
every account's training would otherwise learn from whatever that account put there.
``ACTIVESEC_SITE_BACKGROUND`` names another folder, but only while the platform's folder does
not exist (as ``ACTIVESEC_SITE_CONFIG`` for the policy file).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import DataError, ModelError, os_reason, save_error
from activesec.core.events import EVENT_DTYPE
from activesec.core.paths import Paths, make_dirs, make_private_dir, sha256_file
from activesec.core.site import in_force, platform_file
from activesec.detectors.persist import load_json_card, schema_hash
from activesec.features.keys import KEY_FEATURE_NAMES, KEY_STEP, KEY_WINDOW, keystroke_windows
from activesec.features.pointer import POINTER_FEATURE_NAMES, pointer_features

FORMAT = "activesec-background/1"
MODALITIES = ("pointer", "keyboard")
SENTENCE_GAP_NS = 2_000_000_000
DEFAULT_MAX_ROWS = 20_000
REBUILD = "rebuild it with `activesec background build` (or delete it to train one-class)"

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass(frozen=True)
class Background:
    """Feature rows of other people, one anonymous person number per row."""

    modality: str
    X: np.ndarray
    groups: np.ndarray
    sources: dict[str, Any]

    @property
    def n_people(self) -> int:
        return len(np.unique(self.groups)) if len(self.groups) else 0


def feature_names(modality: str) -> list[str]:
    if modality == "pointer":
        return list(POINTER_FEATURE_NAMES)
    if modality == "keyboard":
        return list(KEY_FEATURE_NAMES)
    raise ValueError(f"unknown modality {modality!r}")


def file_for(paths: Paths, modality: str) -> Path:
    """The account's own background file (whether or not it exists)."""
    return paths.models_dir / f"background-{modality}.npz"


SITE_ENV = "ACTIVESEC_SITE_BACKGROUND"


def platform_dir(platform: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Where this platform keeps the background every account may use."""
    platform = platform or sys.platform
    if platform in ("win32", "darwin"):  # beside the machine policy, in the folder it is in
        return platform_file(platform, env).parent / "background"
    return Path("/var/lib/activesec/background")  # /etc is for configuration


def machine_dir(platform: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The machine's background folder in force: the platform's once it exists, else
    ``ACTIVESEC_SITE_BACKGROUND`` when set, else the platform's (to be made)."""
    env = os.environ if env is None else env
    fixed = platform_dir(platform, env)
    return in_force(fixed, env, SITE_ENV) or fixed


def candidates(paths: Paths, modality: str) -> tuple[Path, Path]:
    """The account's own background file, then the machine's."""
    return file_for(paths, modality), machine_dir() / f"background-{modality}.npz"


def located(paths: Paths, modality: str) -> Path | None:
    """The background file training uses: the account's own, else the machine's — the first
    whose data and card both exist; None when neither does."""
    own, machine = candidates(paths, modality)
    for f in (own, machine):
        try:
            if f.is_file() and f.with_suffix(".json").is_file():
                return f
        except OSError as exc:  # a folder closed to this account (EACCES is not "absent")
            if f == own:
                raise
            raise ModelError(
                f"the machine's {modality} background in {f.parent} cannot be read: "
                f"{os_reason(exc)}",
                "an administrator should make it readable by every account (chmod 755 the "
                "folder, 644 the files)") from None
    return None


def _shared_by_others(f: Path) -> str:
    """Why another account could have changed the machine's background ``f`` ('' if none
    could): not owned by root or this account, or writable by group or others."""
    if sys.platform == "win32":  # access lists, not modes: the administrator's part (README)
        return ""
    me = os.getuid()
    for item in (f, f.with_suffix(".json"), f.parent):
        st = item.stat()
        if st.st_uid not in (0, me):
            return f"{item} belongs to another account (uid {st.st_uid})"
        if st.st_mode & 0o022:
            return f"{item} is writable by other accounts (mode {st.st_mode & 0o777:o})"
    return ""


def _subsample(per_person: list[np.ndarray], max_rows: int, seed: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_rows`` rows, an even share per person (people with less give all)."""
    rng = np.random.default_rng(seed)
    people = [x for x in per_person if len(x)]
    if not people:
        return np.zeros((0, 0)), np.zeros(0, np.int32)
    sizes = np.array([len(x) for x in people])
    cap = max(1, max_rows // len(people))
    # water-filling: raise the per-person cap while the total stays within max_rows
    while np.minimum(sizes, cap + 1).sum() <= max_rows and cap < sizes.max():
        cap += 1
    Xs, gs = [], []
    for i, x in enumerate(people):
        take = np.sort(rng.choice(len(x), size=min(cap, len(x)), replace=False))
        Xs.append(x[take])
        gs.append(np.full(len(take), i, np.int32))
    return np.vstack(Xs), np.concatenate(gs)


def from_people(modality: str, per_person: list[np.ndarray], sources: dict[str, Any], *,
                max_rows: int = DEFAULT_MAX_ROWS, seed: int = 0) -> Background:
    """A background from each person's feature rows (subsampled as :func:`_subsample`)."""
    X, g = _subsample(per_person, max_rows, seed)
    return Background(modality, X, g, sources)


def pointer_rows(balabit: str | os.PathLike[str], users: Iterable[str | int] | None = None,
                 progress: Progress | None = None) -> tuple[list[np.ndarray], int]:
    """Per Balabit training user, their action feature rows; and the sessions read."""
    from activesec.recordings import iter_balabit

    by_user: dict[str, list[np.ndarray]] = {}
    n = 0
    for rec in iter_balabit(Path(balabit), "training", users=users):
        by_user.setdefault(rec.user, []).append(pointer_features(rec.events).X)
        n += 1
        if progress:
            progress("pointer", n, 0)
    return [np.vstack(v) for v in by_user.values()], n


def keyboard_rows(aalto: str | os.PathLike[str], max_users: int | None = None,
                  progress: Progress | None = None) -> tuple[list[np.ndarray], int]:
    """Per Aalto participant, keystroke-window rows over their sentences typed in a row."""
    from activesec.recordings import iter_aalto

    by_user: dict[str, list[np.ndarray]] = {}
    for rec in iter_aalto(Path(aalto), max_users=max_users):
        by_user.setdefault(rec.user, []).append(rec.events)
    out = []
    for i, sentences in enumerate(by_user.values()):
        parts, t_off, x_off = [], 0, 0
        for ev in sentences:
            if not len(ev):
                continue
            e = ev.copy()
            e["t_ns"] += t_off
            e["x"] += x_off
            parts.append(e)
            t_off = int(e["t_ns"].max()) + SENTENCE_GAP_NS
            x_off = int(e["x"].max()) + 1
        stream = np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)
        out.append(keystroke_windows(stream, KEY_WINDOW, KEY_STEP).X)
        if progress:
            progress("keyboard", i + 1, len(by_user))
    return out, len(by_user)


def build(*, balabit: str | os.PathLike[str] | None = None,
          aalto: str | os.PathLike[str] | None = None, max_rows: int = DEFAULT_MAX_ROWS,
          seed: int = 0, balabit_users: Iterable[str | int] | None = None,
          aalto_users: int | None = None, progress: Progress | None = None
          ) -> dict[str, Background]:
    """Backgrounds for the datasets given (pointer from Balabit, keyboard from Aalto)."""
    if balabit is None and aalto is None:
        raise DataError("no dataset given", "pass --balabit PATH and/or --aalto PATH")
    if max_rows < 10:
        raise DataError(f"--max-rows {max_rows} is too small", "use at least 10 (default 20000)")
    out: dict[str, Background] = {}
    if balabit is not None:
        rows, n_sessions = pointer_rows(balabit, balabit_users, progress)
        out["pointer"] = from_people("pointer", rows, {"balabit": {
            "split": "training", "people": len(rows), "sessions": n_sessions,
            "rows_available": int(sum(len(r) for r in rows))}}, max_rows=max_rows, seed=seed)
    if aalto is not None:
        rows, n_people = keyboard_rows(aalto, aalto_users, progress)
        out["keyboard"] = from_people("keyboard", rows, {"aalto136m": {
            "people": n_people, "window": KEY_WINDOW, "step": KEY_STEP,
            "sentence_gap_s": SENTENCE_GAP_NS / 1e9,
            "rows_available": int(sum(len(r) for r in rows))}}, max_rows=max_rows, seed=seed)
    for bg in out.values():
        if bg.n_people < 3:
            raise DataError(f"the {bg.modality} background holds {bg.n_people} people with data",
                            "use a dataset with at least 3 people")
    return out


def save(paths: Paths, bg: Background, *, seed: int = 0, machine: Path | None = None) -> Path:
    """Write ``background-<modality>.npz`` (0600) and its JSON card into the account's models
    folder — or, with ``machine`` (a folder), for every account (folder 0755, files 0644,
    each replaced whole); returns the npz path."""
    from activesec.core.paths import write_private_text

    dest = file_for(paths, bg.modality) if machine is None else (
        machine / f"background-{bg.modality}.npz")
    tmp = dest.with_name(f".{dest.name}.tmp.npz")
    names = feature_names(bg.modality)
    mode = 0o600 if machine is None else 0o644
    try:
        if machine is None:
            make_private_dir(paths.models_dir)
        else:
            make_dirs(machine, 0o755)  # every account reads it, whatever the umask
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            os.chmod(tmp, mode)  # whatever the umask
            np.savez(fh, X=bg.X.astype(np.float64), groups=bg.groups.astype(np.int32))
        os.replace(tmp, dest)
        card = {
            "format": FORMAT, "modality": bg.modality,
            "feature_schema": {"sha256": schema_hash(names), "n_features": len(names)},
            "rows": len(bg.X), "people": bg.n_people, "seed": seed, "sources": bg.sources,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sha256": sha256_file(dest),
            "licence_note": "derived from public datasets; do not redistribute (Aalto 136M: "
                            "non-commercial use with attribution)",
        }
        text = json.dumps(card, indent=2) + "\n"
        if machine is None:
            write_private_text(dest.with_suffix(".json"), text)
        else:  # every account reads it: readable from the moment it is in place
            staged = dest.with_name(f".{dest.stem}.json.staged")
            write_private_text(staged, text)
            os.chmod(staged, 0o644)
            os.replace(staged, dest.with_suffix(".json"))
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # a half-written file must not keep the disk full
        if machine is not None:
            raise save_error(exc, f"the {bg.modality} background", machine,
                             "sudo activesec background build --all-users") from None
        raise save_error(exc, f"the {bg.modality} background", paths.models_dir,
                         "activesec background build") from None
    return dest


def read_card(paths: Paths, modality: str) -> dict[str, Any] | None:
    f = located(paths, modality)
    return None if f is None else _card_of(f)


def _card_of(f: Path) -> dict[str, Any]:
    """The card beside the background file ``f``."""
    return load_json_card(f.with_suffix(".json"), FORMAT, "background card", REBUILD)


def load_background(paths: Paths, modality: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(X, groups)`` of the background training uses (:func:`located`), ``None`` when there
    is none; a ModelError when it is altered (hash), built for another feature schema, or a
    machine background another account could have changed."""
    f = located(paths, modality)
    if f is None:
        return None
    if f != file_for(paths, modality):
        why = _shared_by_others(f)
        if why:
            raise ModelError(
                f"the machine's {modality} background is refused: {why}",
                f"an administrator should own {f.parent} and its files and make them "
                "writable by the owner only (chown -R root; chmod 755 the folder, 644 the "
                "files), or rebuild it with `sudo activesec background build --all-users`")
    card = _card_of(f)  # beside the data found: not looked for again (it could be elsewhere)
    if sha256_file(f) != card.get("sha256"):
        raise ModelError(f"background file {f} was modified (hash mismatch)", REBUILD)
    if card.get("feature_schema", {}).get("sha256") != schema_hash(feature_names(modality)):
        raise ModelError(f"background {f} was built for another feature schema", REBUILD)
    with np.load(f, allow_pickle=False) as z:
        X, g = np.asarray(z["X"], np.float64), np.asarray(z["groups"])
    if X.ndim != 2 or len(X) != len(g) or X.shape[1] != len(feature_names(modality)):
        raise ModelError(f"background {f} does not match its card", REBUILD)
    return X, g
