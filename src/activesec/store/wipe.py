"""Wiping the event store on a full disk, where :meth:`~activesec.store.db.Store.wipe` cannot
run: an empty store made in the space of the reserve replaces the old one in one rename
(:func:`wipe_by_replacing`)."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from activesec.core.errors import StoreError
from activesec.core.paths import RESERVE_BYTES, Paths, release_reserve, size_text
from activesec.store.db import Store

WIPE_SUFFIX = ".wipe"


def wipe_by_replacing(paths: Paths) -> None:
    """:meth:`Store.wipe` for a full disk, where it cannot run: SQLite writes every page it
    deletes (zeroed, ``secure_delete``) to the write-ahead log before the file shrinks, so
    deleting needs about the store's size free, and on a disk with none SQLite cannot even make
    its ``-wal``/``-shm`` files to open it. Instead an empty store (a few pages, made in the
    space of the reserve, :func:`~activesec.core.paths.keep_reserve`) with the old one's
    pause, label and bumped ``wipe_generation`` is renamed over the old file: one atomic step,
    so the store is either as it was or empty, never half-wiped. The old file's content is then
    overwritten with zeros in place (freed blocks must not keep events; best effort, as
    :meth:`Store.wipe`'s VACUUM) and its space returns to the disk.

    Only while nothing else has the store open: it holds the capture lock (no agent or capture
    starts meanwhile) and refuses while an agent, a capture or a training runs."""
    from activesec.core.instance import AlreadyRunning, InstanceLock, is_locked

    db = paths.database
    stop_hint = ("stop it (`systemctl --user stop activesec`, or Ctrl-C) and run `activesec "
                 "wipe --yes` again: with nothing else using the store, wipe needs no free space")
    try:
        lock = InstanceLock(paths.run_dir / "capture.lock", "wipe").acquire()
    except AlreadyRunning:
        raise StoreError(
            f"cannot wipe {db} on a full disk while an agent or a capture runs (it holds the "
            "store, which then can only be emptied in place, needing about "
            f"{size_text(_store_bytes(db))} free)", stop_hint) from None
    try:
        if is_locked(paths.run_dir / "train.lock"):
            raise StoreError(f"cannot wipe {db} on a full disk while a training runs",
                             stop_hint.replace("stop it (`systemctl --user stop activesec`, or "
                                               "Ctrl-C)", "wait for it to end"))
        try:
            with Store.open_to_read(db) as old:
                control = old._conn.execute("SELECT key, value FROM control").fetchall()
        except StoreError as exc:
            if exc.permanent:  # not ours, damaged, newer: said as every command says it
                raise
            raise StoreError(  # its -wal holds commits: an agent stopped on the full disk
                f"cannot wipe {db} on a full disk: its {db.name}-wal holds commits not yet in "
                "the file (an agent stopped while the disk was full), which SQLite cannot open "
                "without space",
                f"free {size_text(_store_bytes(db) + 2**20)} on {paths.data_dir}'s disk (what "
                "deleting in place needs) and run `activesec wipe --yes` again",
            ) from None
        tmp = db.with_name(db.name + WIPE_SUFFIX)
        try:
            _make_empty_copy(paths, tmp, control)
        except BaseException:
            _remove_store_files(tmp)
            raise
        try:
            fd: int | None = os.open(db, os.O_WRONLY)
        except OSError:
            fd = None
        try:
            # the old side files go first: left beside the new file, the old -wal would be
            # read as its own. Moved aside, not deleted, until the new file is in place, so
            # a failed rename leaves the old store whole
            aside = []
            try:
                for suffix in ("-wal", "-shm"):
                    side = Path(f"{db}{suffix}")
                    if side.exists():
                        os.replace(side, f"{tmp}-old{suffix}")
                        aside.append((side, Path(f"{tmp}-old{suffix}")))
                os.replace(tmp, db)
            except OSError as exc:
                for side, moved in aside:
                    with suppress(OSError):
                        os.replace(moved, side)
                _remove_store_files(tmp)
                raise StoreError(f"cannot wipe {db}: {exc.strerror}",
                                 f"make {db.parent} writable by you") from None
            for _, moved in aside:
                with suppress(OSError):
                    os.unlink(moved)
            _sync_dir(db.parent)
            if fd is not None:
                _zero_in_place(fd)
        finally:
            if fd is not None:
                os.close(fd)
    finally:
        lock.release()


def _store_bytes(db: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        with suppress(OSError):
            total += os.stat(f"{db}{suffix}").st_size
    return total


def _make_empty_copy(paths: Paths, tmp: Path, control: list[tuple[str, str]]) -> None:
    """An empty store at ``tmp`` with ``control`` (``wipe_generation`` bumped), all in the
    file itself (its write-ahead log checkpointed and gone)."""
    _remove_store_files(tmp)
    for attempt in range(2):
        try:
            with Store.open(tmp, create=True) as new:
                with new._tx() as c:
                    c.execute("DELETE FROM control")
                    c.executemany("INSERT INTO control(key, value) VALUES (?, ?)", control)
                    c.execute(
                        "INSERT INTO control(key, value) VALUES ('wipe_generation', '1')"
                        " ON CONFLICT(key) DO UPDATE SET"
                        " value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
                    )
                new._checkpoint_truncate()
            break
        except StoreError:
            _remove_store_files(tmp)
            if attempt or not release_reserve(paths):
                raise StoreError(
                    f"cannot wipe {paths.database}: the disk is full, and even the empty store "
                    "that replaces it (about 200 KiB with its write-ahead log while it is made) "
                    "does not fit",
                    f"free {size_text(RESERVE_BYTES)} on {paths.data_dir}'s disk and run "
                    f"`activesec wipe --yes` again, or delete {paths.database} and "
                    "its -wal/-shm files yourself (with no agent running), then run "
                    "`activesec init`",
                ) from None
    if os.path.exists(f"{tmp}-wal") and os.stat(f"{tmp}-wal").st_size:
        _remove_store_files(tmp)
        raise StoreError(f"cannot wipe {paths.database}: the empty store's write-ahead log "
                         "could not be checkpointed", f"free {size_text(RESERVE_BYTES)} on its "
                         "disk and run `activesec wipe --yes` again")


def _remove_store_files(p: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with suppress(FileNotFoundError):
            os.unlink(f"{p}{suffix}")


def _sync_dir(d: Path) -> None:
    with suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _zero_in_place(fd: int) -> None:
    """Overwrite a file's blocks with zeros (no new space on ext4, xfs, tmpfs; a copy-on-write
    filesystem may refuse, and then the file is only unlinked)."""
    with suppress(OSError):
        size = os.fstat(fd).st_size
        block = bytes(1 << 16)
        at = 0
        while at < size:
            at += os.pwrite(fd, block[: min(len(block), size - at)], at)
        os.fsync(fd)
