"""Where ActiveSec keeps its state.

``ACTIVESEC_HOME`` relocates everything (config, database, models, logs) into one directory;
otherwise the platform's user directories are used (platformdirs). Directories are created 0700
and files 0600: the data is the user's own.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from activesec.core.errors import ConfigError

APP = "activesec"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# free space on the data directory's filesystem: below WARN `doctor` warns and store errors
# name a full disk as the likely cause; below FAIL capture cannot keep its store and log going
FREE_SPACE_WARN_BYTES = 256 * 2**20
FREE_SPACE_FAIL_BYTES = 8 * 2**20


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def database(self) -> Path:
        return self.data_dir / "activesec.db"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def profile_file(self) -> Path:
        return self.data_dir / "profile.json"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "activesec.log"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    def ensure(self) -> Paths:
        for d in (self.config_dir, self.data_dir, self.log_dir, self.models_dir, self.run_dir):
            if d.exists() and not d.is_dir():
                raise ConfigError(
                    f"{d} is not a directory",
                    f"move {d} out of the way (ActiveSec never deletes it); it is recreated",
                )
            make_private_dir(d)
        return self


def resolve(home: str | os.PathLike[str] | None = None) -> Paths:
    """Paths for ``home`` (or ``$ACTIVESEC_HOME``), else the platform's user directories."""
    root = home if home is not None else os.environ.get("ACTIVESEC_HOME")
    if root:
        base = Path(root).expanduser().resolve()
        return Paths(config_dir=base, data_dir=base, log_dir=base / "logs")
    return Paths(
        config_dir=Path(platformdirs.user_config_dir(APP)),
        data_dir=Path(platformdirs.user_data_dir(APP)),
        log_dir=Path(platformdirs.user_log_dir(APP)),
    )


def make_private_dir(path: Path) -> None:
    """``path`` as a 0700 directory, and every parent this call creates 0700 too (``mkdir -p``
    gives those the umask's mode: ``~/.local/state/activesec`` was 0755 around a 0700
    ``log``), as the XDG base-directory spec asks; existing parents are left alone."""
    missing = [p for p in path.parents if not p.exists()]
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    for d in (path, *missing):
        try:
            if d.stat().st_mode & 0o077:
                d.chmod(PRIVATE_DIR_MODE)
        except OSError:  # not ours to fix (or gone); the store reports unwritable dirs itself
            pass


def make_private_dirs(path: Path, made: list[Path] | None = None) -> None:
    """Create ``path`` and its missing parents 0700; directories that already exist are left
    exactly as they are: an export or a report into a shared folder must not change its mode
    (:func:`make_private_dir`, for ActiveSec's own directories, tightens an existing one).
    Each directory created is appended to ``made`` (parents first)."""
    make_dirs(path, PRIVATE_DIR_MODE, made)


def make_dirs(path: Path, mode: int, made: list[Path] | None = None) -> None:
    """:func:`make_private_dirs` with another ``mode`` for the directories it creates,
    whatever the umask (0755: a machine-wide folder every account reads)."""
    missing: list[Path] = []
    d = path
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    if d.exists() and not d.is_dir():
        raise FileExistsError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(d))
    for new in reversed(missing):
        try:
            os.mkdir(new, mode)
        except FileExistsError:
            if not new.is_dir():
                raise
            continue  # made by someone else meanwhile: not ours to change
        if made is not None:
            made.append(new)
        os.chmod(new, mode)  # mkdir's mode is filtered by the umask


def make_private_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` if missing and restrict it to its owner (0600)."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE)
    os.close(fd)
    os.chmod(path, PRIVATE_FILE_MODE)


def write_private_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Atomically write a 0600 text file (temp file + rename: a crash leaves the old one).
    ``durable=False`` skips the fsync, for a file rewritten every second whose loss in a power
    cut costs nothing (the agent's status): a sync a second kept the disk from ever idling."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, PRIVATE_FILE_MODE)
        os.replace(tmp, path)
    except BaseException:  # a full disk, or ``path`` is a directory: no temp file left behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def keep_copy(path: Path, when: float | None = None) -> Path:
    """Copy ``path`` to ``<name>.bak-YYYYmmdd-HHMMSS`` beside it, private (0600) from its first
    byte and never over an earlier copy; the copy's path. What a command that replaces a file
    the user may have edited does first."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    data = path.read_bytes()
    for n in range(1000):
        copy = path.with_name(f"{path.name}.bak-{stamp}" + (f"-{n}" if n else ""))
        try:
            fd = os.open(copy, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:  # a full disk: no half copy left to be mistaken for the file
            with contextlib.suppress(OSError):
                os.unlink(copy)
            raise
        return copy
    raise FileExistsError(f"too many copies of {path} made this second")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (model and background integrity checks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Bytes an unprivileged user may still write on the filesystem holding ``path`` (its
    nearest existing ancestor), or None when that cannot be asked."""
    p = Path(path)
    while not p.exists() and p.parent != p:
        p = p.parent
    try:
        st = os.statvfs(p)
    except (OSError, AttributeError):  # AttributeError: no statvfs on Windows
        try:
            import shutil

            return shutil.disk_usage(p).free
        except OSError:
            return None
    return st.f_bavail * st.f_frsize


#: space held in ``<run dir>/reserve`` for the commands that must work on a full disk
RESERVE_BYTES = 256 * 1024
RESERVE_NAME = "reserve"


def keep_reserve(paths: Paths) -> None:
    """Hold RESERVE_BYTES in a file of zeros (0600) where four times that is free: on a full
    disk SQLite cannot commit anything, so `pause` failed while the agent went on judging;
    :func:`release_reserve` gives that space to such a command. Best effort, silent."""
    f = paths.run_dir / RESERVE_NAME
    if f.exists():
        return
    free = free_bytes(paths.run_dir)
    if free is None or free < 4 * RESERVE_BYTES:
        return
    try:
        fd = os.open(f, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:  # written, not sparse: the blocks are the point
            fh.write(bytes(RESERVE_BYTES))
    except OSError:  # a half-held reserve is no reserve
        with contextlib.suppress(OSError):
            os.unlink(f)


def release_reserve(paths: Paths) -> bool:
    """Free the reserve (:func:`keep_reserve`); True when there was one."""
    try:
        os.unlink(paths.run_dir / RESERVE_NAME)
    except OSError:
        return False
    return True


def size_text(n: float) -> str:
    """``512 B``, ``3.2 MiB``: sizes in messages."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
