"""Parallel map over users or sessions with a switchable joblib backend.

``loky`` (processes, the default) and ``threading`` work everywhere; ``dask`` and ``ray`` hand the
very same tasks to a cluster through joblib's backend registry — a switch, not a rewrite:

* ``dask``: uses the current ``dask.distributed`` client if one exists (e.g. connected to a
  scheduler), otherwise starts a local one;
* ``ray``: registers Ray's joblib backend (``ray.init`` picks up ``RAY_ADDRESS`` for a cluster).

Progress is reported in the calling process, one call per finished task, so a CLI progress bar
needs no cooperation from workers.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from joblib import Parallel, delayed, parallel_config

from activesec.core.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("loky", "threading", "dask", "ray")
#: start of loky's warning when it replaces a worker (see :func:`pmap`)
LOKY_RESTART = "A worker stopped while some jobs were given to the executor"

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage is e.g. ``"features"`` or ``"users"``."""


@contextlib.contextmanager
def backend(name: str, jobs: int) -> Iterator[None]:
    """Context in which :func:`pmap` runs on backend ``name`` with ``jobs`` workers."""
    if name in ("loky", "threading"):
        with parallel_config(backend=name, n_jobs=jobs):
            yield
        return
    if name == "dask":
        try:
            from dask.distributed import Client, get_client
        except ImportError as e:
            raise ConfigError(
                "the dask backend needs dask.distributed, which is not installed",
                "pip install 'dask[distributed]', or use the loky backend",
            ) from e
        try:
            get_client()
            owned = None
        except ValueError:
            owned = Client(processes=False)
        try:
            with parallel_config(backend="dask", n_jobs=jobs):
                yield
        finally:
            if owned is not None:
                owned.close()
        return
    if name == "ray":
        try:
            from ray.util.joblib import register_ray
        except ImportError as e:
            raise ConfigError(
                "the ray backend needs ray, which is not installed",
                "pip install 'ray[default]', or use the loky backend",
            ) from e
        register_ray()
        with parallel_config(backend="ray", n_jobs=jobs):
            yield
        return
    raise ConfigError(f"unknown parallel backend {name!r}", f"use one of {', '.join(BACKENDS)}")


def pmap(
    fn: Callable[..., R],
    items: Sequence[Any],
    *,
    jobs: int = 1,
    progress: Progress | None = None,
    stage: str = "",
) -> list[R]:
    """``[fn(item) for item in items]`` in parallel, results in input order.

    With ``jobs == 1`` it runs inline (no worker start-up, easy debugging); otherwise through the
    active joblib backend (see :func:`backend`).
    """
    total = len(items)
    out: list[R] = []
    if progress:
        progress(stage, 0, total)
    if jobs == 1 or total <= 1:
        for n, item in enumerate(items, 1):
            out.append(fn(item))
            if progress:
                progress(stage, n, total)
        return out
    with warnings.catch_warnings():
        # loky replaces a worker that exited cleanly (its idle timeout, or its memory grew, as
        # it does fitting large forests) and says so with a UserWarning: no job is lost, so
        # users of `evaluate --jobs N` need not see it. A worker that dies still raises.
        warnings.filterwarnings("ignore", message=LOKY_RESTART, category=UserWarning)
        gen = Parallel(n_jobs=jobs, return_as="generator")(delayed(fn)(item) for item in items)
        for n, r in enumerate(gen, 1):
            out.append(r)
            if progress:
                progress(stage, n, total)
    return out
