"""Protocols end to end on small synthetic datasets written to disk in each dataset's own layout.

Each synthetic "user" has a distinct motor style (pointer speed, path curvature, click dwell;
key dwell and flight times), so a working pipeline must rank impostors above the owner: the
tests assert an AUC clearly above chance, and the protocol bookkeeping (skips, layouts, curves).
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from activesec.core.errors import DataError
from activesec.evaluate.api import Options, evaluate, evaluate_all, prepare

# --------------------------------------------------------------------------- generators
STYLES = [  # (seconds per move, curvature, click dwell s, pause before click s)
    (0.35, 0.02, 0.08, 0.15),
    (0.90, 0.25, 0.20, 0.60),
    (0.60, -0.12, 0.13, 0.35),
]


def mouse_session(rng: np.random.Generator, style: int, n_actions: int = 40
                  ) -> list[tuple[float, str, str, int, int]]:
    """Rows (t, button, state, x, y) of point-click actions in one user's style."""
    dur, curv, dwell, wait = STYLES[style]
    t, x, y = 0.0, 500.0, 400.0
    rows = []
    for _ in range(n_actions):
        tx, ty = rng.uniform(50, 1200), rng.uniform(50, 900)
        d = rng.uniform(0.8, 1.2) * dur
        n = max(6, int(d * 60))
        s = np.linspace(0, 1, n)
        prog = 10 * s**3 - 15 * s**4 + 6 * s**5  # minimum-jerk profile
        dx, dy = tx - x, ty - y
        bulge = curv * np.hypot(dx, dy) * np.sin(np.pi * prog)
        nx, ny = -dy / (np.hypot(dx, dy) + 1e-9), dx / (np.hypot(dx, dy) + 1e-9)
        px = x + dx * prog + bulge * nx + rng.normal(0, 0.6, n)
        py = y + dy * prog + bulge * ny + rng.normal(0, 0.6, n)
        for k in range(n):
            rows.append((t + d * s[k], "NoButton", "Move", int(px[k]), int(py[k])))
        t += d + wait * rng.uniform(0.8, 1.2)
        rows.append((t, "Left", "Pressed", int(tx), int(ty)))
        t += dwell * rng.uniform(0.8, 1.2)
        rows.append((t, "Left", "Released", int(tx), int(ty)))
        t += rng.uniform(1.6, 2.5)  # a pause: the next move is a new action
        x, y = tx, ty
    return rows


KEY_STYLES = [(0.08, 0.12), (0.15, 0.25), (0.11, 0.18)]  # (dwell, press-press flight) in s
LETTERS = "etaoinshrdlu"


def key_session(rng: np.random.Generator, style: int | tuple[float, float], n_keys: int = 150
                ) -> list[tuple[str, float, float]]:
    dwell, flight = KEY_STYLES[style] if isinstance(style, int) else style
    t, rows = 0.0, []
    for _ in range(n_keys):
        key = "space" if rng.random() < 0.18 else str(rng.choice(list(LETTERS)))
        d = max(0.02, rng.normal(dwell, dwell * 0.15))
        rows.append((key, t, t + d))
        t += max(0.03, rng.normal(flight, flight * 0.2))
    return rows


def write_mouse_layout(root: Path, n_users: int = 3, n_sessions: int = 4) -> Path:
    rng = np.random.default_rng(7)
    for u in range(n_users):
        d = root / f"user{u + 1}"
        d.mkdir(parents=True)
        for s in range(n_sessions):
            with open(d / f"s{s + 1}.csv", "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["timestamp", "button", "state", "x", "y"])
                w.writerows((f"{t:.4f}", b, st, x, y) for t, b, st, x, y in
                            mouse_session(rng, u % len(STYLES)))
    return root


def write_keys_layout(root: Path, n_users: int = 3, n_sessions: int = 4) -> Path:
    rng = np.random.default_rng(8)
    for u in range(n_users):
        d = root / f"u{u + 1}"
        d.mkdir(parents=True)
        for s in range(n_sessions):
            with open(d / f"session{s + 1}.csv", "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["key", "press", "release"])
                w.writerows((k, f"{p:.4f}", f"{r:.4f}") for k, p, r in
                            key_session(rng, u % len(KEY_STYLES)))
    return root


def write_balabit(root: Path) -> Path:
    """Balabit layout: 3 users; test sessions under each user: 2 genuine, 2 illegal."""
    rng = np.random.default_rng(9)
    labels = []

    def session(path: Path, style: int) -> None:
        rows = mouse_session(rng, style, n_actions=25)
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["record timestamp", "client timestamp", "button", "state", "x", "y"])
            w.writerows((f"{t:.3f}", f"{t:.3f}", b, st, x, y) for t, b, st, x, y in rows)

    n = 0
    for u in range(3):
        user = f"user{u + 1}"
        (root / "training_files" / user).mkdir(parents=True)
        (root / "test_files" / user).mkdir(parents=True)
        for _ in range(3):
            n += 1
            session(root / "training_files" / user / f"session_{n:010d}", u)
        for illegal in (0, 0, 1, 1):
            n += 1
            name = f"session_{n:010d}"
            session(root / "test_files" / user / name, (u + 1) % 3 if illegal else u)
            labels.append((name, illegal))
    # an unlabelled test session: the challenge's unlabelled ones are not scored
    session(root / "test_files" / "user1" / "session_9999999999", 0)
    with open(root / "public_labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "is_illegal"])
        w.writerows(labels)
    return root


def write_aalto(path: Path, n_users: int = 12) -> Path:
    rng = np.random.default_rng(10)
    header = ["PARTICIPANT_ID", "TEST_SECTION_ID", "SENTENCE", "USER_INPUT", "KEYSTROKE_ID",
              "PRESS_TIME", "RELEASE_TIME", "LETTER", "KEYCODE"]
    lines = ["\t".join(header)]
    kid = 0
    for u in range(n_users):
        for s in range(15):
            t0 = 1_600_000_000_000 + u * 10_000_000 + s * 100_000
            style = (0.06 + 0.012 * u, 0.12 + 0.02 * u)  # every participant distinct
            for key, p, r in key_session(rng, style, n_keys=45):
                kid += 1
                letter = " " if key == "space" else key
                code = 32 if key == "space" else ord(key.upper())
                lines.append("\t".join(map(str, [
                    1000 + u, 5000 + u * 100 + s, "the sentence", "the sentence", kid,
                    t0 + int(p * 1000), t0 + int(r * 1000), letter, code])))
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


CMU_COLUMNS = ["H.period", "DD.period.t", "UD.period.t", "H.t", "DD.t.i", "UD.t.i", "H.i",
               "DD.i.e", "UD.i.e", "H.e", "DD.e.five", "UD.e.five", "H.five",
               "DD.five.Shift.r", "UD.five.Shift.r", "H.Shift.r", "DD.Shift.r.o",
               "UD.Shift.r.o", "H.o", "DD.o.a", "UD.o.a", "H.a", "DD.a.n", "UD.a.n", "H.n",
               "DD.n.l", "UD.n.l", "H.l", "DD.l.Return", "UD.l.Return", "H.Return"]


def write_cmu(path: Path, n_subjects: int = 51, reps: int = 400) -> Path:
    """The CMU file's schema: 51 subjects x 400 reps (8 sessions x 50), 31 timing columns."""
    rng = np.random.default_rng(11)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["subject", "sessionIndex", "rep", *CMU_COLUMNS])
        for s in range(n_subjects):
            mean = rng.uniform(0.05, 0.4, len(CMU_COLUMNS))
            for k in range(reps):
                drift = 1 + 0.01 * (k // 50)
                v = np.abs(mean * drift + rng.normal(0, 0.04, len(CMU_COLUMNS)))
                w.writerow([f"s{s + 2:03d}", k // 50 + 1, k % 50 + 1,
                            *(f"{x:.4f}" for x in v)])
    return path


# --------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def mouse_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mouse_layout(tmp_path_factory.mktemp("mouse"))


def test_mouse_csv_separates_users_and_reports_curves(mouse_root: Path) -> None:
    res = evaluate("mouse-csv", mouse_root, detector="scaled_manhattan",
                   options=Options(enrol_sessions=2))
    js = res.to_json()
    assert js["dataset"] == "mouse-csv" and js["detector"] == "scaled_manhattan"
    assert js["n_users"] == 3 and js["auc"] > 0.9 and js["mean_user_eer"] < 0.25
    row = js["per_user"][0]
    # 2 genuine test sessions, impostors = the other 2 users' 2 test sessions each
    assert (row["n_genuine"], row["n_impostor"]) == (2, 4)
    assert [r["k"] for r in js["by_actions"]] == [1, 5, 10, 20, "all"]


def test_population_default_and_all_detectors_share_one_preparation(mouse_root: Path) -> None:
    res = evaluate("mouse-csv", mouse_root, options=Options(enrol_sessions=2))
    from activesec.detectors.registry import default_for

    assert res.detector == default_for("pointer") and res.auc > 0.9
    many = evaluate_all("mouse-csv", mouse_root, detectors=["scaled_manhattan", "mahalanobis"],
                        options=Options(enrol_sessions=2))
    assert [r.detector for r in many] == ["scaled_manhattan", "mahalanobis"]


def test_mouse_csv_parallel_gives_the_same_numbers(mouse_root: Path) -> None:
    one = evaluate("mouse-csv", mouse_root, detector="scaled_manhattan",
                   options=Options(enrol_sessions=2)).to_json()
    seen: list[tuple[str, int, int]] = []
    two = evaluate("mouse-csv", mouse_root, detector="scaled_manhattan",
                   options=Options(enrol_sessions=2, jobs=2,
                                   progress=lambda *a: seen.append(a))).to_json()
    assert one["per_user"] == two["per_user"] and one["auc"] == two["auc"]
    stages = {s for s, _, _ in seen}
    assert "features" in stages and any(s.startswith("users") for s in stages)
    assert all(done <= total for _, done, total in seen)


def test_too_few_sessions_is_a_reported_skip(tmp_path: Path) -> None:
    root = write_mouse_layout(tmp_path / "m")
    (root / "user3" / "s4.csv").unlink()
    (root / "user3" / "s3.csv").write_text("timestamp,button,state,x,y\n")  # empty session
    res = evaluate("mouse-csv", root, detector="scaled_manhattan",
                   options=Options(enrol_sessions=2))
    js = res.to_json()
    per = {r["user"]: r for r in js["per_user"]}
    assert js["n_users"] == 2 and per["user3"]["eer"] is None
    assert "only 2 usable sessions" in per["user3"]["skipped_reason"]
    assert {"what": "session", "id": "user3/s3",
            "reason": "no complete action (no data row)"} in js["skipped"]
    # every session enrolling leaves nothing to test: a clear error, not a number
    with pytest.raises(DataError, match="no user"):
        evaluate("mouse-csv", root, detector="scaled_manhattan",
                 options=Options(enrol_sessions=4))


def test_a_zero_byte_session_file_is_skipped_like_a_header_only_one(tmp_path: Path) -> None:
    """A logger stopped before its first write leaves a 0-byte file; it stopped the whole
    evaluation ("is empty") while a header-only file beside it was a reported skip. Named on
    its own, an empty file is still an error."""
    from activesec.recordings import read_mouse_csv

    root = write_mouse_layout(tmp_path / "m")
    (root / "user1" / "s9.csv").write_bytes(b"")
    js = evaluate("mouse-csv", root, detector="scaled_manhattan",
                  options=Options(enrol_sessions=2)).to_json()
    assert js["n_users"] == 3
    assert {"what": "session", "id": "user1/s9",
            "reason": "no complete action (no data row)"} in js["skipped"]
    with pytest.raises(DataError, match="is empty"):
        read_mouse_csv(root / "user1" / "s9.csv")


def test_keys_csv_separates_users(tmp_path: Path) -> None:
    root = write_keys_layout(tmp_path / "keys")
    res = evaluate("keys-csv", root, detector="scaled_manhattan",
                   options=Options(enrol_sessions=2, window=30, step=10))
    js = res.to_json()
    assert js["auc"] > 0.9
    assert js["by_keystrokes"][0]["n"] == 30 and js["by_keystrokes"][-1]["n"] == "all"


def test_keys_windows_of_long_sessions_never_span_an_absence(tmp_path: Path) -> None:
    """keys-csv (session-level and --continuous) windows each session as the live agent scores
    it: a lunch break of 2 minutes after the 80th of 150 keys leaves 6 + 5 windows of 30 every
    10 (13 across it), and the keystrokes consumed at each window's end count the ones before
    the break (what the by_keystrokes curve reads)."""
    from activesec.evaluate.continuous import _layout_sessions
    from activesec.features.keys import keystroke_windows_between_absences

    root = write_keys_layout(tmp_path / "keys")
    for f in sorted(root.glob("*/*.csv")):
        lines = f.read_text().splitlines()
        rows = [ln.split(",") for ln in lines[1:]]
        rows[80:] = [[k, f"{float(p) + 120:.4f}", f"{float(r) + 120:.4f}"] for k, p, r in
                     rows[80:]]
        f.write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    prep = prepare("keys-csv", root, Options(enrol_sessions=2, window=30, step=10))
    assert prep.params["absence_s"] == 60.0
    unit = next(u for t in prep.tasks for u in t.units)
    assert unit.amount is not None and len(unit.X) == 11
    assert unit.amount.tolist() == [30, 40, 50, 60, 70, 80, 110, 120, 130, 140, 150]
    # --continuous fits on the live windows of 50 every 10: 4 + 3 here, never 11 across
    from activesec.recordings import iter_layout

    rec = next(iter_layout(root, "keys", users=["u1"]))
    _, sessions = _layout_sessions((root, "keys", "u1", 60.0))
    live = keystroke_windows_between_absences(rec.events, 60.0, 50, 10)
    assert len(sessions[0][1]) == len(live) == 7
    np.testing.assert_array_equal(sessions[0][1], live.X)


def test_wrong_layout_is_a_data_error(tmp_path: Path, mouse_root: Path) -> None:
    with pytest.raises(DataError):
        prepare("balabit", mouse_root)
    with pytest.raises(DataError):
        prepare("keys-csv", mouse_root)  # mouse CSVs under the keys protocol
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError):
        prepare("mouse-csv", tmp_path / "empty")
    with pytest.raises(DataError):
        prepare("mouse-csv", tmp_path / "missing")
    with pytest.raises(DataError):
        prepare("no-such-dataset", tmp_path)


def test_balabit_layout_protocol(tmp_path: Path) -> None:
    root = write_balabit(tmp_path / "balabit")
    res = evaluate("balabit", root, detector="scaled_manhattan")
    js = res.to_json()
    assert js["n_users"] == 3 and js["auc"] > 0.9
    assert all((r["n_genuine"], r["n_impostor"]) == (2, 2) for r in js["per_user"])
    ids = [s["id"] for s in js["skipped"]]
    assert not any("9999999999" in i for i in ids)  # unlabelled: not part of the protocol
    rf = evaluate("balabit", root, detector="random_forest",
                  options=Options(params={"n_estimators": 30}))
    assert rf.auc > 0.9


def test_aalto_protocol_disjoint_background(tmp_path: Path) -> None:
    path = write_aalto(tmp_path / "keystrokes.tsv.gz")
    prep = prepare("aalto", path, Options(seed=3))
    assert prep.params["background_users"] == 3 and prep.params["evaluated_users"] == 9
    evaluated = {t.user for t in prep.tasks}
    for t in prep.tasks:
        gen = [u for u in t.units if u.genuine]
        imp = [u for u in t.units if not u.genuine]
        assert len(gen) == 10 and len(imp) == 8
        assert all(u.id.split("/")[0] in evaluated - {t.user} for u in imp)
    # 9 evaluated users: 8 others each, not the 100 impostors a full dataset gives (the
    # protocol text once said 100 whatever --max-users left)
    assert prep.params["impostors_per_user"] == 8
    assert "1 random sentence from each of 8 other evaluated users" in prep.protocol
    from activesec.evaluate.api import run_prepared

    res = run_prepared(prep, "scaled_manhattan").to_json()
    assert res["mean_user_eer"] < 0.2
    ns = [row["n"] for row in res["by_keystrokes"]]
    assert ns[-1] == "all" and ns[0] == 10
    pop = run_prepared(prep, "extra_trees", Options(params={"n_estimators": 30})).to_json()
    assert pop["auc"] > 0.85
    # PLDA learns from the background's person ids: only background-pool users appear there
    t0 = prep.tasks[0]
    assert t0.background_groups is not None and t0.background is not None
    assert len(t0.background_groups) == len(t0.background)
    assert set(t0.background_groups) <= set(prep_users := {str(1000 + u) for u in range(12)})
    assert not set(t0.background_groups) & evaluated and len(prep_users) == 12
    plda = run_prepared(prep, "plda", Options(params={"n_components": 2})).to_json()
    assert plda["skipped"] == [] and plda["auc"] > 0.8


def test_cmu_protocol_on_synthetic_full_file(tmp_path: Path) -> None:
    path = write_cmu(tmp_path / "DSL-StrongPasswordData.csv")
    res = evaluate("cmu", path, detector="scaled_manhattan", options=Options(jobs=2))
    js = res.to_json()
    assert js["n_users"] == 51
    assert all((r["n_genuine"], r["n_impostor"]) == (200, 250) for r in js["per_user"])
    assert js["mean_user_eer"] < 0.05 and js["sd_user_eer"] >= 0
    # the default falls back to a one-class detector: CMU has no background population
    assert evaluate("cmu", path, options=Options(max_users=2)).detector == "scaled_manhattan"
    with pytest.raises(DataError, match="background"):
        evaluate("cmu", path, detector="extra_trees", options=Options(max_users=2))


def test_cmu_schema_sample_gives_no_number(tmp_path: Path) -> None:
    path = write_cmu(tmp_path / "head.csv", n_subjects=1, reps=10)
    with pytest.raises(DataError, match="no user"):
        evaluate("cmu", path, detector="scaled_manhattan")


def _pointer_events(rows: list[tuple[float, str, str, int, int]], t0_s: float) -> np.ndarray:
    from activesec.core.events import Kind, make

    kind = {"Move": Kind.MOVE, "Pressed": Kind.BUTTON_DOWN, "Released": Kind.BUTTON_UP}
    t = np.array([(t0_s + r[0]) * 1e9 for r in rows], dtype=np.int64)
    return make(t, [int(kind[r[2]]) for r in rows], [r[3] for r in rows], [r[4] for r in rows],
                [0 if r[1] == "NoButton" else 1 for r in rows])


def test_store_owner_against_other_labels(tmp_path: Path) -> None:
    from activesec.store.db import Store

    rng = np.random.default_rng(12)
    db = tmp_path / "events.db"
    with Store.open(db, create=True) as st:
        for n, (label, style) in enumerate([("owner", 0), ("owner", 0), ("owner", 0),
                                            ("guest", 1), ("owner", 0), ("kid", 2)]):
            wall = 1_700_000_000_000_000_000 + n * 3600 * 10**9
            sid = st.begin_session(label, "replay", wall_ns=wall, mono_ns=n * 10**13)
            st.append(sid, _pointer_events(mouse_session(rng, style), n * 10_000.0))
            st.end_session(sid, wall + 600 * 10**9)
    res = evaluate("store", db, detector="scaled_manhattan", options=Options(owner="owner"))
    js = res.to_json()
    row = js["per_user"][0]
    # 4 owner sessions: 2 enrol, 2 genuine; guest and kid: second halves are the impostors
    assert row["user"] == "owner" and (row["n_genuine"], row["n_impostor"]) == (2, 2)
    assert js["auc"] > 0.9 and js["by_actions"]
    fd = js["feature_distributions"]
    assert fd["kind"] == "pointer" and len(fd["features"]) == 12
    assert set(fd["features"][0]["by_label"]) == {"owner", "guest", "kid"}
    pop = evaluate("store", db, detector="random_forest",
                   options=Options(params={"n_estimators": 30}))
    assert pop.auc > 0.9
    from activesec.evaluate.report import render

    html = render(res)
    assert 'id="features"' in html
    with pytest.raises(DataError, match="no session labelled"):
        evaluate("store", db, detector="scaled_manhattan", options=Options(owner="nobody"))


def test_store_evaluates_only_what_the_owner_made_with_a_device(tmp_path: Path) -> None:
    """Injected input, pointer warps and a software device's events in the sessions change
    nothing (training never learns them, the agent never takes them for the owner); a second
    pointing device used alongside is segmented on its own, as the live scorer streams it."""
    from activesec.core.events import DeviceType, Flag
    from activesec.evaluate.protocols.store import _rows
    from activesec.store.db import Store, StoredDevice

    devices = [StoredDevice(1, "Logitech USB Optical Mouse", int(DeviceType.MOUSE)),
               StoredDevice(9, "Virtual core XTEST pointer", int(DeviceType.VIRTUAL))]

    def build(db: Path, extra: bool) -> None:
        rng = np.random.default_rng(12)
        with Store.open(db, create=True) as st:
            for n, (label, style) in enumerate([("owner", 0), ("owner", 0), ("owner", 0),
                                                ("guest", 1), ("owner", 0), ("kid", 2)]):
                wall = 1_700_000_000_000_000_000 + n * 3600 * 10**9
                sid = st.begin_session(label, "replay", devices=devices, wall_ns=wall,
                                       mono_ns=n * 10**13)
                ev = _pointer_events(mouse_session(rng, style), n * 10_000.0)
                ev["device"] = 1
                noise = _pointer_events(mouse_session(rng, 2), n * 10_000.0 + 0.3)
                if extra:  # a bot, warps, and the XTEST pointer, between the owner's moves
                    noise["flags"][0::3] |= int(Flag.INJECTED)
                    noise["flags"][1::3] |= int(Flag.INJECTED | Flag.WARPED)
                    noise["device"][2::3] = 9
                    ev = np.sort(np.concatenate([ev, noise]), order="t_ns")
                st.append(sid, ev)
                st.end_session(sid, wall + 600 * 10**9)

    build(tmp_path / "clean.db", extra=False)
    build(tmp_path / "noisy.db", extra=True)
    clean = evaluate("store", tmp_path / "clean.db", detector="scaled_manhattan",
                     options=Options(owner="owner")).to_json()
    noisy = evaluate("store", tmp_path / "noisy.db", detector="scaled_manhattan",
                     options=Options(owner="owner")).to_json()
    assert noisy["per_user"] == clean["per_user"] and noisy["auc"] == clean["auc"]

    rng = np.random.default_rng(3)
    mouse = _pointer_events(mouse_session(rng, 0, n_actions=10), 0.0)
    pad = _pointer_events(mouse_session(rng, 1, n_actions=10), 0.4)
    mouse["device"], pad["device"] = 1, 2
    both = np.sort(np.concatenate([mouse, pad]), order="t_ns")
    X, _ = _rows(both, "pointer", 0, 0)
    assert len(X) == len(_rows(mouse, "pointer", 0, 0)[0]) + len(_rows(pad, "pointer", 0, 0)[0])
