"""Recordings: readers for recorded input, each yielding :class:`Recording` objects.

* :mod:`.generic` — the mouse/keys CSV (or parquet) layouts users bring and exports write,
* :mod:`.balabit`, :mod:`.aalto`, :mod:`.freihaut`, :mod:`.cmu` — the public datasets,
* :mod:`.detect` — which of these a path holds.

Import readers from their modules; this package imports nothing heavy (capture imports it).
"""

from activesec.recordings.base import Recording, natural_key

__all__ = ["Recording", "natural_key"]
