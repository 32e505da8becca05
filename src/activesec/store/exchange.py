"""Export the store to the generic recording layouts, and import recordings made elsewhere.

Export writes, per session, ``OUT/mouse/<label>/session_<id>.csv`` (``timestamp,button,state,x,y``,
Balabit's vocabulary) and ``OUT/keys/<label>/session_<id>.csv`` (``key,press,release``, keys as
class names), or ``.parquet`` files with the same columns. Times are seconds since the session's
start. The rows are written by :mod:`activesec.recordings.generic`, the same module that reads
them, so an export replays and evaluates like any recording and imports back.

Injected events (XTEST, SendInput, pointer warps) are left out of an export by default
(counted as ``injected_left_out``; a session that held nothing else writes no file and is
counted as ``injected_only_sessions``, not in ``sessions``): written as plain rows they would
import back as the owner's own input, which training learns from. ``with_injected`` keeps
them, with the layouts' optional ``injected`` column on every file
(:mod:`activesec.recordings.generic`), so a bot's input replays as the agent saw it and
imports back flagged. What the layouts cannot carry
(documented loss of the round trip): the device index; a scroll of ``n`` steps becomes ``n``
one-step rows; buttons the vocabulary cannot name are left out; key stroke ids are renumbered
in press order and a release without its press is dropped. Everything else (times to the
nanosecond, positions, buttons, drags, key classes and press/release pairing) comes back
exactly.

Beside the recordings, an export writes ``OUT/activesec-export.json``: for each exported
``<label>/<session>``, the session's original start (``started_wall_ns``, the wall time its
times count from). Import dates those sessions by it, so an export keeps its dates through a
round trip, and recognises a session already in the store — same label, same start to the
nanosecond (a session of this profile, or one imported from the same export) — as already
present: re-importing an export into the profile it came from adds nothing. Other files (and
exports without the file) are dated as below; a damaged file is an error, nothing imported.

Import dates any other recording by its first event (the layouts' times have any origin:
seconds since the recording started, since boot, or Unix-epoch seconds): a session spans
exactly its own elapsed time, and every event keeps its time relative to the first one
exactly. When the first time reads as a real date — Unix-epoch seconds from 2000-01-01 up to
now (plus a day of clock skew) — the session is dated by it, as the recording says
(``[store] keep_days`` retention and ``export --since`` then go by that date;
``dated_by_file`` counts them, and ``past_keep_days`` the imported sessions already older than
``keep_days``); any other first time (from zero, since boot: 30 years of uptime would be needed
to reach 2000) dates the session to end at the import — it was recorded before, and a session
starting at the import would end hours in the future, where ``export --since 1h`` found it.

A destination or source given as a URL (``s3://``, ``gs://``, ``memory://`` …) goes through
fsspec, staged in a private temporary directory; without fsspec the error names the extra to
install. Local exports are private like the store: the directories an export creates
are 0700 and its files 0600 from creation; existing directories keep their mode and
existing files are never overwritten.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

import numpy as np

from activesec.core.clock import Clock, SystemClock
from activesec.core.errors import ActiveSecError, DataError
from activesec.core.events import KEY_KINDS, POINTER_KINDS, Flag
from activesec.core.paths import PRIVATE_FILE_MODE, make_private_dirs
from activesec.recordings import generic
from activesec.recordings._table import read_header
from activesec.recordings.base import BAD_ROWS, Recording, by_session, why_unreadable
from activesec.store.db import NS_PER_DAY, SessionInfo, Store

__all__ = ["export", "import_recordings", "session_file_name"]

Format = Literal["csv", "parquet"]
_POINTER = np.array([int(k) for k in POINTER_KINDS], dtype=np.uint8)
_KEYS = np.array([int(k) for k in KEY_KINDS], dtype=np.uint8)
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}
# the schemes ActiveSec supports (object stores through their fsspec extras; memory://
# for tests); anything else, e.g. ftp://, is refused before any connection is tried
URL_SCHEMES = ("s3", "s3a", "gs", "gcs", "memory", "file")
IMPORT_BACKEND = "import"
#: the export's description of its sessions (module docstring)
MANIFEST = "activesec-export.json"
MANIFEST_VERSION = 1
#: a recording's first time in [2000-01-01, now + a day] is a Unix-epoch date (module docstring)
EPOCH_MIN_NS = 946_684_800 * 10**9
EPOCH_SKEW_NS = 86_400 * 10**9


def session_file_name(info: SessionInfo) -> str:
    """``session_<id>``: natural sort keeps capture order."""
    return f"session_{info.id}"


def _safe_component(name: str) -> str:
    """A label as one path component (labels come from users and from imported folders)."""
    cleaned = "".join("_" if c in "/\\\0" else c for c in name).strip()
    return "_" if cleaned in ("", ".", "..") else cleaned


def _is_url(target: str | os.PathLike[str]) -> bool:
    return "://" in str(target)


def _fsspec(url: str) -> Any:
    """The fsspec filesystem and path for ``url``, or an error naming the extra to install."""
    protocol = url.split("://", 1)[0].lower()
    extra = _EXTRAS.get(protocol, "cloud")
    try:
        import fsspec
    except ImportError:
        raise ActiveSecError(
            f"{url}: URL destinations need fsspec",
            f"pip install 'activesec[{extra}]'",
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ActiveSecError(
            f"{url}: no filesystem for {protocol}:// ({exc})", f"pip install 'activesec[{extra}]'"
        ) from None
    except Exception as exc:  # the filesystem connects when made: DNS, refused, credentials
        raise ActiveSecError(
            f"cannot reach {url}: {exc.__class__.__name__}: {exc}",
            "check the URL, the network and the credentials",
        ) from None
    return fs, path


def _private_tree(root: Path) -> None:
    for d, _, files in os.walk(root):
        os.chmod(d, 0o700)
        for f in files:
            os.chmod(os.path.join(d, f), PRIVATE_FILE_MODE)


def _check_url(url: str) -> None:
    scheme = url.split("://", 1)[0].lower()
    if scheme not in URL_SCHEMES:
        raise ActiveSecError(
            f"unsupported URL scheme {scheme}:// in {url}",
            f"use a local directory or one of {', '.join(s + '://' for s in URL_SCHEMES)}",
        )


# --------------------------------------------------------------------------- export


def export(
    store: Store,
    out: str | os.PathLike[str],
    fmt: Format = "csv",
    since_wall_ns: int | None = None,
    label: str | None = None,
    with_injected: bool = False,
) -> dict[str, Any]:
    """Write the store's sessions (optionally since a wall time / of one label) under ``out``;
    ``with_injected``: injected input too, flagged (module docstring).

    Directories the export creates are 0700 and its files 0600 from their creation; existing
    directories keep their mode, and an existing file is never overwritten (the export stops
    before writing anything). Returns a summary: ``sessions`` (those with a file written),
    ``files``, ``mouse_events``, ``key_events``, ``injected_left_out``,
    ``injected_only_sessions``, ``out``.
    """
    if fmt not in ("csv", "parquet"):
        raise ActiveSecError(f"unknown export format {fmt!r}", "use csv or parquet")
    if not str(out).strip():
        raise ActiveSecError(
            "the export destination is empty", "give a directory, e.g. --out ~/activesec-export"
        )
    if _is_url(out):
        url = str(out).rstrip("/")
        _check_url(url)
        fs, base = _fsspec(url)
        with tempfile.TemporaryDirectory(prefix="activesec-export-") as tmp:
            summary = _export_local(store, Path(tmp), fmt, since_wall_ns, label,
                                    with_injected)
            _upload(fs, Path(tmp), base)
        summary["out"] = url
        return summary
    root = Path(out).expanduser()
    if root.exists() and not root.is_dir():
        raise ActiveSecError(f"{root} is not a directory", "give a directory to --out")
    return _export_local(store, root, fmt, since_wall_ns, label, with_injected)


def _export_local(
    store: Store, root: Path, fmt: Format, since_wall_ns: int | None, label: str | None,
    with_injected: bool = False,
) -> dict[str, Any]:
    writers: dict[str, Callable[..., int]] = (
        {"mouse": generic.write_mouse_csv, "keys": generic.write_keys_csv}
        if fmt == "csv"
        else {"mouse": generic.write_mouse_parquet, "keys": generic.write_keys_parquet}
    )
    writers = {m: functools.partial(w, injected=with_injected) for m, w in writers.items()}
    summary: dict[str, Any] = {
        "sessions": 0, "files": 0, "mouse_events": 0, "key_events": 0, "injected_left_out": 0,
        "injected_only_sessions": 0, "out": str(root)
    }
    sessions = [s for s in store.sessions(label=label, since_wall_ns=since_wall_ns)
                if s.n_events > 0]

    def target(info: SessionInfo, modality: str) -> Path:
        return root / modality / _safe_component(info.label) / (
            session_file_name(info) + "." + fmt
        )

    # every file this export will write, checked before the first is written
    for info in sessions:
        for modality, n in (("mouse", info.n_pointer), ("keys", info.n_keys)):
            if n and os.path.lexists(target(info, modality)):
                raise ActiveSecError(
                    f"{target(info, modality)} already exists (an earlier export?); "
                    "nothing was written",
                    "export into a new or empty directory, or move the earlier export away",
                )
    if sessions and os.path.lexists(root / MANIFEST):
        raise ActiveSecError(
            f"{root / MANIFEST} already exists (an earlier export?); nothing was written",
            "export into a new or empty directory, or move the earlier export away",
        )
    made: list[Path] = []  # the folders this export creates: removed if it writes no file
    try:
        make_private_dirs(root, made)
    except OSError as exc:
        raise ActiveSecError(
            f"cannot create {root}: {exc.strerror}", "choose another --out"
        ) from None
    try:
        return _export_sessions(store, sessions, root, target, writers, with_injected, summary,
                                made)
    except ActiveSecError:
        if not summary["files"]:  # "nothing was written": no empty folders either
            for d in reversed(made):
                with suppress(OSError):
                    d.rmdir()
        raise


def _export_sessions(store: Store, sessions: list[SessionInfo], root: Path,
                     target: Callable[[SessionInfo, str], Path],
                     writers: dict[str, Callable[..., int]], with_injected: bool,
                     summary: dict[str, Any], made: list[Path]) -> dict[str, Any]:
    """Write each session's files and the manifest (the checks are done)."""
    manifest: list[dict[str, Any]] = []
    for info in sessions:
        ev = store.events(info.id)
        ev["t_ns"] -= info.started_mono_ns  # seconds since the session's start
        # injected input (XTEST, SendInput) written as plain rows would import back as the
        # owner's own and be trained on: left out unless the `injected` column marks it
        if not with_injected:
            injected = (ev["flags"] & int(Flag.INJECTED)) != 0
            summary["injected_left_out"] += int(np.count_nonzero(injected))
            ev = ev[~injected]
        if not len(ev):  # it held only injected input: no file, not an exported session
            summary["injected_only_sessions"] += 1
            continue
        parts = {"mouse": ev[np.isin(ev["kind"], _POINTER)], "keys": ev[np.isin(ev["kind"], _KEYS)]}
        for modality, part in parts.items():
            if len(part) == 0:
                continue
            path = target(info, modality)
            _write_new_file(path, functools.partial(_write_part, writers[modality], part),
                            summary, made)
            summary["files"] += 1
            summary["mouse_events" if modality == "mouse" else "key_events"] += len(part)
        summary["sessions"] += 1
        manifest.append({"label": _safe_component(info.label),
                         "session": session_file_name(info),
                         "started_wall_ns": info.started_wall_ns})
    if manifest:
        text = json.dumps({"activesec_export": MANIFEST_VERSION, "sessions": manifest}, indent=1)
        _write_new_file(root / MANIFEST, lambda p: p.write_text(text + "\n"), summary, made)
    return summary


def _write_part(writer: Callable[..., int], part: np.ndarray, path: Path) -> int:
    return writer(path, part)


def _write_new_file(path: Path, write: Callable[[Path], object], summary: dict[str, Any],
                    made: list[Path] | None = None) -> None:
    """Create ``path`` 0600 (never replacing a file), fill it with ``write``; on failure the
    partial file is removed and the error says what the export had written before. Folders
    created for it are appended to ``made``."""
    created = False
    try:
        make_private_dirs(path.parent, made)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        created = True
        os.close(fd)
        write(path)  # the writers open the existing 0600 file: it never has a looser mode
    except BaseException as exc:
        if created:
            with suppress(OSError):
                path.unlink()
        if not isinstance(exc, OSError):
            raise
        done = summary["files"]
        what = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        kept = (f"; the {done} complete file(s) written before it are kept" if done
                else "; nothing else was written")
        raise ActiveSecError(
            f"cannot write {path}: {what}; the partial file was removed{kept}",
            "free disk space or fix permissions, then export again into a new directory",
        ) from None


def _upload(fs: Any, local: Path, base: str) -> None:
    for d, _, files in os.walk(local):
        for f in sorted(files):
            src = Path(d) / f
            dest = f"{base}/{src.relative_to(local).as_posix()}"
            parent = dest.rsplit("/", 1)[0]
            try:
                fs.makedirs(parent, exist_ok=True)
                fs.put_file(str(src), dest)
            except Exception as exc:
                raise ActiveSecError(
                    f"upload of {dest} failed: {exc}", "check the URL and credentials"
                ) from None


# --------------------------------------------------------------------------- import


@contextmanager
def _local_source(source: str | os.PathLike[str]) -> Iterator[Path]:
    """A local directory holding ``source`` (URLs are downloaded to a private temp dir)."""
    if not _is_url(source):
        p = Path(source).expanduser()
        if not p.exists():
            raise DataError(f"{p} does not exist", "give a directory written by `activesec export`")
        yield p
        return
    url = str(source).rstrip("/")
    _check_url(url)
    fs, base = _fsspec(url)
    with tempfile.TemporaryDirectory(prefix="activesec-import-") as tmp:
        try:
            remote = [f for f in fs.find(base) if f.lower().endswith(generic.SUFFIXES)
                      or f.rstrip("/").rsplit("/", 1)[-1] == MANIFEST]
        except Exception as exc:
            raise DataError(f"cannot list {url}: {exc}", "check the URL and credentials") from None
        if not remote:
            raise DataError(f"{url} holds no .csv or .parquet recordings",
                            "give the root written by `activesec export`")
        for f in remote:
            rel = f[len(base.rstrip("/")) :].lstrip("/")
            dest = Path(tmp) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(f, str(dest))
        _private_tree(Path(tmp))
        yield Path(tmp)


def _modalities(root: Path) -> list[generic.Modality]:
    """Which layouts ``root`` holds: an export root (mouse/ and/or keys/) or a bare
    ``ROOT/<user>/<session>`` tree of one modality, told by a file's header."""
    found: list[generic.Modality] = [m for m in ("mouse", "keys") if (root / m).is_dir()]
    if found:
        return found
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if generic.is_session_file(p)
    )
    for f in files:
        head = _header(f)
        if head is not None:
            return ["keys" if "key" in head else "mouse"]
    raise DataError(f"{root} holds no recordings in the generic layouts",
                    "expected mouse/<user>/<session>.csv and/or keys/<user>/<session>.csv")


def _header(path: Path) -> list[str] | None:
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return [n.strip().lower() for n in pq.read_schema(path).names]
        return read_header(path)[0]  # a BOM, semicolons or tabs as the readers take them
    except Exception:
        return None


def _read_manifest(root: Path) -> dict[tuple[str, str], int]:
    """``(label folder, session) -> started_wall_ns`` from an export's manifest, if any — also
    for one of its ``mouse/`` or ``keys/`` folders imported on its own."""
    path = root / MANIFEST
    if root.is_dir() and not path.exists() and root.name in ("mouse", "keys"):
        path = root.parent / MANIFEST
    if not root.is_dir() or not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("activesec_export") != MANIFEST_VERSION:
            raise ValueError(f"version {raw.get('activesec_export')!r}")
        starts = {(str(e["label"]), str(e["session"])): e["started_wall_ns"]
                  for e in raw["sessions"]}
        if not all(type(t) is int and 0 <= t < 2**63 for t in starts.values()):
            raise ValueError("a start that is not a wall time in ns")
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError,
            RecursionError) as exc:
        raise DataError(
            f"{path} is not an export description ActiveSec can read "
            f"({exc.__class__.__name__}: {str(exc)[:60]}); nothing was imported",
            f"move {MANIFEST} away to import the recordings dated by their own times",
        ) from None
    return starts


def import_recordings(
    store: Store,
    source: str | os.PathLike[str],
    label: str | None = None,
    *,
    clock: Clock | None = None,
    keep_days: int = 0,
) -> dict[str, Any]:
    """Add the recordings under ``source`` (a directory or URL in the generic layouts) as
    sessions labelled ``label`` or, by default, their ``<user>`` folder, dated as the module
    docstring says (``keep_days``: the store's retention, for ``past_keep_days``).

    The mouse and keys files of one ``<user>/<session>`` become one session. Sessions already
    imported under the same label and name with the same length, or (an export's) already in
    the store under the same label and start, are skipped, so re-running an import is
    harmless.
    Files with no readable row are not imported (``empty_sessions``); a source holding no
    recording file at all is an error naming what it holds instead. Returns ``sessions``,
    ``events``, ``skipped_rows`` (and ``unreadable``: how many per reason, the readers'
    :data:`~activesec.recordings.base.BAD_ROWS` keys), ``already_present``, ``files`` and
    ``empty_sessions``, ``dated_by_file``, ``past_keep_days`` and ``labels`` (those the new
    sessions were given).
    """
    clock = clock or SystemClock()
    summary: dict[str, Any] = {"sessions": 0, "events": 0, "skipped_rows": 0, "unreadable": {},
                               "already_present": 0, "files": 0, "empty_sessions": 0,
                               "dated_by_file": 0, "past_keep_days": 0, "labels": []}
    with _local_source(source) as root:
        files = [rec for modality in _modalities(root)
                 for rec in generic.iter_layout(root, modality)]
        summary["files"] = len(files)
        if not summary["files"]:
            raise DataError(
                f"{source} holds no recording files in the generic layouts"
                f" ({_found(root)})",
                "expected mouse/<user>/<session>.csv and/or keys/<user>/<session>.csv "
                "(or .parquet; not compressed, one folder per user)",
            )
        starts = _read_manifest(root)
        known = store.sessions()
        # how long each imported session lasted: the same name from another folder (two
        # machines' session1.csv) is another recording, not one imported before (its length
        # to the nanosecond tells them apart; retention, which drops events, keeps it)
        existing: dict[tuple[str, str | None], set[int | None]] = {}
        for s in known:
            if s.backend == IMPORT_BACKEND:
                span = None if s.ended_wall_ns is None else s.ended_wall_ns - s.started_wall_ns
                existing.setdefault((s.label, s.source), set()).add(span)
        # which modalities the sessions of a label and start hold: an export's mouse/ and
        # keys/ folders imported one by one, then the whole export, add each part once
        started: dict[tuple[str, int], set[str]] = {}
        for s in known:
            started.setdefault((s.label, s.started_wall_ns), set()).update(_held(s))
        by_id = {s.id: s for s in known}
        for rec in by_session(files):  # a session's mouse and keys files are one session
            name = _safe_component(label or rec.user)
            source_name = f"{rec.user}/{rec.session}"
            start = starts.get((rec.user, rec.session))  # an export's own session
            ev = rec.events
            span = (int(ev["t_ns"][-1]) - (0 if start is not None else int(ev["t_ns"][0]))
                    if len(ev) else None)
            held = started.get((name, start), set()) if start is not None else set()
            if held:  # an export's session already here: only a part not yet imported
                ev = ev[~np.isin(ev["kind"], np.r_[_POINTER if "mouse" in held else [],
                                                   _KEYS if "keys" in held else []])]
            if ((not held and span in existing.get((name, source_name), ()))
                    or (held and not len(ev))
                    or (start is None and _exported_from(store, by_id, rec, name))):
                summary["already_present"] += 1
                continue
            # rows left out, counted for new sessions only
            summary["skipped_rows"] += int(rec.meta.get("skipped_rows", 0) or 0)
            for why in BAD_ROWS:
                if rec.meta.get(why):
                    summary["unreadable"][why] = (summary["unreadable"].get(why, 0)
                                                  + int(rec.meta[why]))
            if not len(ev):  # header only, or every row unreadable
                summary["empty_sessions"] += 1
                continue
            now = clock.wall_ns()
            first, last = int(ev["t_ns"][0]), int(ev["t_ns"][-1])
            dated = start is None and _is_epoch_date(first, now)
            if start is not None:  # an export's times count from its session's start
                wall, mono = start, 0
            else:  # from its first event; undated, it ends at the import (module docstring)
                wall, mono = (first if dated else now - (last - first)), first
            store.begin()  # one transaction per session: never half an import
            try:
                sid = store.begin_session(
                    name, IMPORT_BACKEND, wall_ns=wall, mono_ns=mono, source=source_name
                )
                store.append(sid, ev)
                store.end_session(sid, wall + last - mono)
                store.commit()
            except BaseException:
                store.rollback()
                raise
            summary["sessions"] += 1
            summary["events"] += len(ev)
            summary["dated_by_file"] += int(dated)
            if name not in summary["labels"]:  # what the sessions were labelled, in order
                summary["labels"].append(name)
            if keep_days and wall + last - mono < now - keep_days * NS_PER_DAY:
                summary["past_keep_days"] += 1
    if not summary["sessions"] and not summary["already_present"]:
        raise DataError(
            f"{source}: none of its {summary['files']} recording file(s) holds a readable row"
            + (f" ({summary['skipped_rows']} rows skipped: "
               f"{why_unreadable(summary['unreadable'])})" if summary["skipped_rows"] else ""),
            "check the files' values: times in seconds, the layout's vocabulary; nothing was "
            "imported",
        )
    return summary


def _held(info: SessionInfo) -> set[str]:
    """The export folders (``mouse``, ``keys``) a session has events for."""
    return {m for m, n in (("mouse", info.n_pointer), ("keys", info.n_keys)) if n}


_SESSION_FILE = re.compile(r"session_([0-9]{1,18})")
#: how many of a file's first events identify the session it was exported from
_SAME_EVENTS = 50


def _exported_from(store: Store, by_id: dict[int, SessionInfo], rec: Recording,
                   name: str) -> bool:
    """Whether ``rec`` is a file of an export of this profile's own session, made before
    exports described their sessions (no :data:`MANIFEST`, or not listed in it): its name is
    that session's ``session_<id>``, under its label, and its first events are that session's
    own, timed from its start — so re-importing such an export where it came from adds
    nothing, as with one that has the description."""
    m = _SESSION_FILE.fullmatch(rec.session)
    info = by_id.get(int(m.group(1))) if m else None
    if info is None or not _safe_component(info.label) == rec.user == name:
        return False
    ev = rec.events[:_SAME_EVENTS]
    own = store.events(info.id)
    own = own[np.isin(own["kind"], np.r_[_POINTER, _KEYS])]
    if not np.any(ev["flags"] & int(Flag.INJECTED)):  # exported without --with-injected
        own = own[(own["flags"] & int(Flag.INJECTED)) == 0]
    own = own[:len(ev)]
    if len(ev) == 0 or len(own) != len(ev):
        return False
    # times as written (to the microsecond at least), kinds exactly
    t = own["t_ns"].astype(np.int64) - info.started_mono_ns
    return bool(np.array_equal(own["kind"], ev["kind"])
                and np.all(np.abs(t - ev["t_ns"].astype(np.int64)) <= 1_000))


def _is_epoch_date(first_ns: int, now_wall_ns: int) -> bool:
    """Whether a recording's first time reads as a real date, Unix-epoch seconds: the session
    is then dated by it, else by the import (module docstring)."""
    return EPOCH_MIN_NS <= first_ns <= now_wall_ns + EPOCH_SKEW_NS


def _found(root: Path) -> str:
    """What a directory holds instead of recordings, for the error message."""
    if root.is_file():
        return f"{root.name} is not a .csv or .parquet file"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if not files:
        return "it holds no files"
    shown = ", ".join(str(p.relative_to(root)) for p in files[:3])
    more = f" and {len(files) - 3} more" if len(files) > 3 else ""
    return f"found {shown}{more}"
