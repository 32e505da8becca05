"""Shared fixtures: an isolated ACTIVESEC_HOME per test, dataset location, benchmark opt-in."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("ACTIVESEC_DATASETS", ROOT.parent / "shared" / "datasets"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench", action="store_true", help="run benchmarks in tests/bench")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--bench"):
        return
    skip = pytest.mark.skip(reason="benchmark: run with `pytest tests/bench --bench`")
    for item in items:
        if "tests/bench/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


# In CI (env CI set; .ci/run exports CI=true) a skip because a required tool or package is
# missing means a broken install, not a pass: it fails instead. Skips that cannot run here by
# design stay skips: live evdev needs real /dev/input devices, benchmarks need --bench.
_MISSING_TOOL = re.compile(
    r"not installed|is needed|\bneeds\b|not available|unavailable|could not import|no \w+ binary",
    re.IGNORECASE,
)
_SKIPS_BY_DESIGN = ("/dev/input", "benchmark: run with")


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        return str(lr[2])
    return str(lr)


def _fail_missing_tool_in_ci(report: pytest.CollectReport | pytest.TestReport) -> None:
    if not os.environ.get("CI") or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if _MISSING_TOOL.search(reason) and not any(k in reason for k in _SKIPS_BY_DESIGN):
        report.outcome = "failed"
        report.longrepr = f"CI is set and a required tool is missing, so this did not run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    _fail_missing_tool_in_ci(outcome.get_result())  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield  # a module-level importorskip/skip skips the whole file at collection
    _fail_missing_tool_in_ci(outcome.get_result())  # type: ignore[attr-defined]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh ACTIVESEC_HOME; no ACTIVESEC_* variable of the developer leaks in."""
    for key in list(os.environ):
        if key.startswith("ACTIVESEC_") and key != "ACTIVESEC_DATASETS":
            monkeypatch.delenv(key)
    h = tmp_path / "home"
    monkeypatch.setenv("ACTIVESEC_HOME", str(h))
    yield h


@pytest.fixture(params=["arrow", "pure"])
def csv_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a reading test on both CSV paths (pyarrow's and the pure-Python fallback): they must
    agree. The name of the path in use is the fixture's value."""
    from activesec.recordings import _table

    if request.param == "arrow":
        pytest.importorskip("pyarrow")
        monkeypatch.setattr(_table, "ARROW_MIN_BYTES", 0)  # the tests' files are small
    else:
        monkeypatch.setattr(_table, "DISABLE_ARROW", True)
    return str(request.param)


def dataset(*parts: str) -> Path:
    """Path under ../shared/datasets, or skip the test with a clear reason."""
    p = DATASETS.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"dataset not present: {p} (set ACTIVESEC_DATASETS or see README)")
    return p


from tests.helpers.xserver import xdisplay  # noqa: E402, F401  (fixture available to every test)
