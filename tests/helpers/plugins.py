"""The README's plug-in detector recipe, read from the README itself so the two never drift."""

from __future__ import annotations

import functools
import re
import sys
import types
from pathlib import Path

from activesec.detectors.base import Detector

README = Path(__file__).resolve().parents[2] / "README.md"


def recipe_source() -> str:
    """The Python block of the README that defines the ``Centroid`` plug-in."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    found = [b for b in blocks if "class Centroid(Detector)" in b]
    assert len(found) == 1, "README must hold exactly one Centroid plug-in recipe"
    return found[0]


@functools.cache
def recipe_class() -> type[Detector]:
    """The recipe's class, in an importable module of its own as ``pip install`` would make it
    (a saved model names the class's module, and loading imports it)."""
    mod = types.ModuleType("readme_recipe")
    exec(compile(recipe_source(), str(README), "exec"), mod.__dict__)
    sys.modules[mod.__name__] = mod
    cls = mod.Centroid
    assert issubclass(cls, Detector)
    return cls


def install(site: Path, package: str, modules: dict[str, str], entry_points: str) -> str:
    """Install ``package`` under ``site`` as pip would, without pip: its ``modules`` (dotted
    name -> source) and a ``*.dist-info`` whose ``entry_points.txt`` is ``entry_points``, so
    ``importlib.metadata`` finds it with ``site`` on ``PYTHONPATH``; returns ``site``."""
    for dotted, source in modules.items():
        path = site.joinpath(*dotted.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    info = site / f"{package}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    return str(site)
