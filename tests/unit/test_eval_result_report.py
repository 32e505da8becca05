"""Result summaries and the HTML report, from hand-built per-user scores."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from activesec.core.errors import DataError
from activesec.evaluate.report import render, write_report
from activesec.evaluate.result import (
    ALL,
    Skip,
    UserScores,
    best_first,
    build_result,
    results_json,
)

SVG = "{http://www.w3.org/2000/svg}svg"


def _users(rng: np.random.Generator, n: int = 4, gap: float = 2.0) -> list[UserScores]:
    out = []
    for u in range(n):
        g = {ALL: rng.normal(0, 1, 30), "1": rng.normal(0, 2, 30), "5": rng.normal(0, 1.5, 30)}
        i = {ALL: rng.normal(gap, 1, 40), "1": rng.normal(gap, 2, 40),
             "5": rng.normal(gap, 1.5, 40)}
        out.append(UserScores(user=f"user{u + 1}", genuine=g, impostor=i, n_enrol=100,
                              genuine_days=rng.uniform(0, 60, 30)))
    return out


def _result(curve: str = "by_actions", detector: str = "d1", gap: float = 2.0):
    rng = np.random.default_rng(1)
    users = _users(rng, gap=gap)
    users.append(UserScores(user="user10", skipped_reason="only 2 enrolment rows (need 5)"))
    users.append(UserScores(user="user9", genuine={ALL: np.array([0.1])}))  # no impostor
    return build_result(dataset="synthetic", protocol="test protocol", detector=detector,
                        modality="pointer", users=users,
                        skipped=[Skip("session", "user1/s9", "no complete pointer action")],
                        runtime_s=1.5, curve_name=curve)


def test_summary_numbers_and_skips() -> None:
    r = _result()
    js = r.to_json()
    for key in ("dataset", "protocol", "detector", "auc", "eer", "mean_user_eer", "sd_user_eer",
                "per_user", "by_actions", "skipped", "runtime_s", "n_users"):
        assert key in js
    assert js["n_users"] == 4
    assert 0.85 < js["auc"] < 0.99 and 0.05 < js["eer"] < 0.3
    per = {row["user"]: row for row in js["per_user"]}
    assert per["user10"]["skipped_reason"].startswith("only 2")
    assert per["user9"]["skipped_reason"] == "no impostor test unit"
    assert per["user9"]["eer"] is None
    # natural order: user2 before user10
    assert [row["user"] for row in js["per_user"]][:2] == ["user1", "user2"]
    eers = [per[f"user{u}"]["eer"] for u in range(1, 5)]
    assert js["mean_user_eer"] == pytest.approx(np.mean(eers), abs=1e-5)
    assert {s["id"] for s in js["skipped"]} >= {"user10", "user9", "user1/s9"}
    ks = [row["k"] for row in js["by_actions"]]
    assert ks == [1, 5, "all"]
    # less data, worse EER (noisier scores at k=1)
    assert js["by_actions"][0]["eer"] > js["by_actions"][-1]["eer"]
    json.dumps(js)  # serialisable


def test_by_days_curve() -> None:
    r = _result(curve="by_days")
    rows = r.to_json()["by_days"]
    assert rows[0]["days_from"] == 0 and rows[-1]["days_to"] is None
    assert sum(row["n_genuine"] for row in rows) == 4 * 30


def test_nobody_evaluable_is_an_error() -> None:
    with pytest.raises(DataError, match="no user"):
        build_result(dataset="x", protocol="p", detector="d", modality="keys",
                     users=[UserScores(user="a", skipped_reason="too little")], skipped=[],
                     runtime_s=0.0)


def test_all_detectors_shape() -> None:
    a, b = _result(detector="d1"), _result(detector="d2", gap=1.0)
    js = results_json("synthetic", [a, b])
    assert js["dataset"] == "synthetic" and [d["detector"] for d in js["detectors"]] == ["d1", "d2"]


def _svgs(html: str) -> list[ET.Element]:
    body = html[html.index("<body>"):html.rindex("</body>") + len("</body>")]
    root = ET.fromstring(body.replace("&nbsp;", " "))
    return list(root.iter(SVG))


def test_report_sections_and_valid_svg(tmp_path) -> None:
    a, b = _result(detector="d1"), _result(detector="d2", gap=1.0)
    path = write_report([a, b], tmp_path / "rep")
    html = path.read_text()
    assert path.name == "report.html" and (path.stat().st_mode & 0o777) == 0o600
    for sec in ('id="summary"', 'id="roc"', 'id="distributions"', 'id="by-amount"',
                'id="per-user"', 'id="skipped"'):
        assert sec in html
    svgs = _svgs(html)  # the whole body parses as XML: every SVG is well-formed
    assert len(svgs) >= 6
    title_els = [s.find("{http://www.w3.org/2000/svg}title") for s in svgs]
    assert all(t is not None for t in title_els), "every SVG has a <title>"
    titles = [t.text for t in title_els if t is not None]
    assert "ROC" in titles and "DET (probit axes)" in titles
    # offline: no script, no external resource
    assert "<script" not in html and "src=" not in html and "@import" not in html
    assert "https://" not in html
    assert html.count("http://") == html.count('xmlns="http://www.w3.org/2000/svg"')
    assert "only 2 enrolment rows" in html and "user10" in html


def test_report_lists_detectors_best_first_as_stdout_does() -> None:
    """The report's tables followed the evaluation's (alphabetical) order while `evaluate
    --detector all` printed the best mean per-user EER first: both use best_first now."""
    worse, better = _result(detector="a_worse", gap=0.5), _result(detector="b_better", gap=3.0)
    assert better.mean_user_eer < worse.mean_user_eer
    assert [r.detector for r in best_first([worse, better])] == ["b_better", "a_worse"]
    html = render([worse, better])
    summary = html[html.index('id="summary"'):html.index('id="roc"')]
    assert summary.index("b_better") < summary.index("a_worse")
    per_user = html[html.index('id="per-user"'):html.index('id="skipped"')]
    assert per_user.index("EER b_better") < per_user.index("EER a_worse")
    # and --json, which listed them in the order they were evaluated
    js = results_json("mouse-csv", [worse, better])
    assert [d["detector"] for d in js["detectors"]] == ["b_better", "a_worse"]


def test_report_escapes_names_and_single_result() -> None:
    r = _result(detector="<b>&x")
    html = render(r)
    assert "<b>&x" not in html and "&lt;b&gt;&amp;x" in html
    _svgs(html)


def test_report_feature_distributions_and_days() -> None:
    r = _result(curve="by_days")
    r.feature_distributions = {"kind": "pointer", "features": [{
        "name": "v_mean", "effect_size": 1.2, "edges": [0, 1, 2, 3],
        "by_label": {"owner": {"n": 10, "share": [0.2, 0.5, 0.3]},
                     "guest": {"n": 5, "share": [0.6, 0.4, 0.0]}}}]}
    html = render(r)
    assert 'id="features"' in html and "v_mean" in html and "days since enrolment" in html
    assert len(_svgs(html)) >= 6
    assert not math.isnan(r.eer)


def test_a_comparison_report_gives_each_detector_its_own_runtime(tmp_path) -> None:
    """With `--detector all` the data is read once, but the report gave every detector that
    reading again as its runtime (nearest_neighbor 4.4 s where the terminal said 0 s)."""
    a, b = _result(detector="d1"), _result(detector="d2", gap=1.0)
    for r, own in ((a, 0.2), (b, 7.0)):
        r.params.update(prepare_s=4.3, detector_s=own)
        r.runtime_s = 4.3 + own
    html = (write_report([a, b], tmp_path / "rep")).read_text()
    assert "reading and features 4.3 s once; d1: 0.2 s, d2: 7.0 s" in html
    summary = html[html.index('<section id="summary">'):]
    summary = summary[:summary.index("</section>")]
    assert "<td>0.2 s</td>" in summary and "<td>7.0 s</td>" in summary
    assert "4.5 s" not in summary and "reading and features took 4.3 s once" in summary
    one = (write_report([b], tmp_path / "one")).read_text()  # one detector: its whole run
    assert "d2: 11.3 s" in one
