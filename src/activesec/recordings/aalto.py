"""Aalto 136M Keystrokes (Dhakal et al., CHI 2018), streamed.

Accepts the original per-participant ``<id>_keystrokes.txt`` files (a directory of them), the
concatenation of those files under one header (``keystrokes.tsv`` or ``.tsv.gz``), or a
directory holding that concatenation. Columns, tab-separated and unquoted:
``PARTICIPANT_ID TEST_SECTION_ID SENTENCE USER_INPUT KEYSTROKE_ID PRESS_TIME RELEASE_TIME
LETTER KEYCODE`` (times in ms).

One Recording per (participant, TEST_SECTION_ID) — a typed sentence — with user = participant
id and session = section id, in file order. Key classes come from
:func:`activesec.core.keys.key_class_from_js_keycode`; the typed text (SENTENCE, USER_INPUT,
LETTER) is used only to classify a key in memory and never reaches a Recording, its meta or a
log, so the pipeline sees what live capture would. Times are rebased to the sentence's first
press (``meta['wall_time']`` keeps the epoch start in seconds).

Data quality: rows without a release, or released before pressed, are dropped and counted
(``unreleased``, ``release_before_press``); rows that cannot be parsed (the original data has
unquoted text with stray tabs and line breaks) are skipped and counted in ``skipped_rows`` of
the sentence they belong to, or of the sentence read just before when they cannot be
attributed. Participant blocks are assumed contiguous, as in the original files (a
participant appearing in two blocks is logged and yielded twice).
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from activesec.core.errors import DataError
from activesec.core.events import Kind, empty
from activesec.core.keys import key_class_from_js_keycode
from activesec.recordings.base import Recording, finish, natural_key, require_exists

log = logging.getLogger(__name__)

HEADER = (
    "PARTICIPANT_ID",
    "TEST_SECTION_ID",
    "SENTENCE",
    "USER_INPUT",
    "KEYSTROKE_ID",
    "PRESS_TIME",
    "RELEASE_TIME",
    "LETTER",
    "KEYCODE",
)
_EXPECT = "the Aalto 136M layout (tab-separated header " + " ".join(HEADER) + ")"
CONCAT_NAMES = ("keystrokes.tsv.gz", "keystrokes.tsv", "keystrokes.txt.gz", "keystrokes.txt")


@dataclass
class _Section:
    press: list[int] = field(default_factory=list)
    release: list[int] = field(default_factory=list)  # -1 = missing
    cls: list[int] = field(default_factory=list)
    skipped: int = 0


def sources(path: Path) -> list[Path]:
    """The files to read for ``path`` (a file, or a directory of either form)."""
    path = require_exists(path, _EXPECT)
    if path.is_file():
        return [path]
    per_user = sorted(path.glob("*_keystrokes.txt"), key=lambda p: natural_key(p.name))
    if per_user:
        return per_user
    for name in CONCAT_NAMES:
        if (path / name).is_file():
            return [path / name]
    raise DataError(
        f"{path} holds no *_keystrokes.txt nor keystrokes.tsv(.gz)", f"expected {_EXPECT}"
    )


def _open(path: Path) -> IO[str]:
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n")
    return open(path, encoding="utf-8", errors="replace", newline="\n")


def _check_header(path: Path, line: str) -> None:
    got = tuple(c.strip().upper() for c in line.lstrip("\ufeff").rstrip("\r\n").split("\t"))
    if got != HEADER:
        shown = line[:80].rstrip("\r\n")
        raise DataError(
            f"{path}: first line {shown!r} is not the Aalto header", f"expected {_EXPECT}"
        )


def _blocks(path: Path) -> Iterator[tuple[str, dict[str, _Section]]]:
    """(participant, sections in file order) for each contiguous participant block."""
    classes: dict[tuple[str, str], int] = {}  # (keycode, letter) -> class; in memory only
    pid: str | None = None
    sections: dict[str, _Section] = {}
    last: _Section | None = None
    orphans = 0
    done: set[str] = set()
    try:
        fh = _open(path)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}", "check the path") from e
    with fh:
        try:
            first = fh.readline()
        except (OSError, EOFError) as e:
            raise DataError(f"{path} is not readable text ({e})", f"expected {_EXPECT}") from e
        _check_header(path, first)
        try:
            for line in fh:
                f = line.rstrip("\r\n").split("\t")
                if len(f) < 9:
                    if len(f) == 1 and not f[0].strip():
                        continue  # blank line
                    if last is not None:
                        last.skipped += 1
                    else:
                        orphans += 1
                    continue
                if f[0] == HEADER[0]:
                    continue  # a repeated header where files were concatenated
                p, s = f[0], f[1]
                if p != pid:
                    if pid is not None and sections:
                        yield pid, sections
                        done.add(pid)
                    if p in done:
                        log.warning(
                            "%s: participant %s appears in two separate blocks; "
                            "its sentences are yielded twice",
                            path,
                            p,
                        )
                    pid, sections = p, {}
                sec = sections.get(s)
                if sec is None:
                    sec = sections[s] = _Section(skipped=orphans)
                    orphans = 0
                last = sec
                try:  # parse from the end: stray tabs in the text columns shift the front
                    press = int(f[-4])
                    rel = f[-3]
                    release = int(rel) if rel else -1
                    code, letter = f[-1], f[-2]
                except ValueError:
                    sec.skipped += 1
                    continue
                c = classes.get((code, letter))
                if c is None:
                    try:
                        c = int(key_class_from_js_keycode(int(code), letter))
                    except ValueError:
                        c = int(key_class_from_js_keycode(0, letter))
                    classes[(code, letter)] = c
                sec.press.append(press)
                sec.release.append(release)
                sec.cls.append(c)
        except (OSError, EOFError) as e:  # truncated or corrupt gzip
            raise DataError(f"{path} is truncated or corrupt ({e})", "re-download the file") from e
    if pid is not None and sections:
        yield pid, sections


def _recording(user: str, session: str, sec: _Section, path: Path) -> Recording:
    press = np.asarray(sec.press, dtype=np.int64)
    release = np.asarray(sec.release, dtype=np.int64)
    cls = np.asarray(sec.cls, dtype=np.int16)
    missing = release < 0
    backwards = ~missing & (release < press)
    keep = ~missing & ~backwards
    press, release, cls = press[keep], release[keep], cls[keep]
    order = np.argsort(press, kind="stable")
    press, release, cls = press[order], release[order], cls[order]
    n = len(press)
    t0 = int(press[0]) if n else 0
    ev = empty(2 * n)
    ev["t_ns"][:n] = (press - t0) * 1_000_000
    ev["t_ns"][n:] = (release - t0) * 1_000_000
    ev["kind"][:n] = Kind.KEY_DOWN
    ev["kind"][n:] = Kind.KEY_UP
    ev["x"][:n] = ev["x"][n:] = np.arange(n)
    ev["code"][:n] = ev["code"][n:] = cls
    meta: dict[str, Any] = {
        "path": str(path),
        "rows": len(sec.press) + sec.skipped,
        "keystrokes": n,
        "unreleased": int(np.count_nonzero(missing)),
        "release_before_press": int(np.count_nonzero(backwards)),
        "skipped_rows": sec.skipped,
    }
    if n:
        meta["wall_time"] = t0 / 1000.0
    # stable sort: at equal times presses (first half) stay before releases
    return finish(user, session, ev, "aalto", meta)


def iter_aalto(
    path: str | Path,
    users: Iterable[str | int] | None = None,
    max_users: int | None = None,
) -> Iterator[Recording]:
    """Sentences of each participant in file order; ``users`` filters by participant id,
    ``max_users`` stops after that many participants (reading stops early too)."""
    wanted = None if users is None else {str(u) for u in users}
    if max_users is not None and max_users < 1:
        return
    done = 0
    found: set[str] = set()
    files = sources(Path(path))
    if wanted is not None and len(files) > 1:  # per-participant files: open only those asked for
        files = [f for f in files if f.name.split("_", 1)[0] in wanted]
    for src in files:
        for pid, sections in _blocks(src):
            if wanted is not None and pid not in wanted:
                continue
            for sid, sec in sections.items():
                yield _recording(pid, sid, sec, src)
            found.add(pid)
            done += 1
            if (max_users is not None and done >= max_users) or (
                wanted is not None and found >= wanted
            ):
                return
    if wanted is not None and found != wanted:
        missing = sorted(wanted - found, key=natural_key)
        raise DataError(
            f"participant(s) {', '.join(missing[:5])} not found in {path}",
            "check the ids (PARTICIPANT_ID column)",
        )
