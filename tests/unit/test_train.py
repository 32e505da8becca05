"""Training from a real store: per-modality models, hold-out calibration, fallbacks, skips,
refusal of altered or stale models, reset, and bounded drift re-training."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import dataset
from tests.unit.test_background import slice_aalto, slice_balabit

from activesec.core import paths as paths_mod
from activesec.core import profile
from activesec.core.clock import FakeClock
from activesec.core.config import Settings
from activesec.core.errors import ModelError
from activesec.core.events import DeviceType, Flag
from activesec.core.signals import signals_held
from activesec.detectors import persist
from activesec.detectors.compact import CompactScorer
from activesec.engine.drift import DriftUpdate, drift_update
from activesec.engine.scoring import KEYBOARD
from activesec.engine.trust import IDLE_AFTER_S
from activesec.features.keys import (
    KEY_FEATURE_NAMES,
    keystroke_windows,
    keystroke_windows_between_absences,
)
from activesec.features.pointer import POINTER_FEATURE_NAMES
from activesec.recordings import iter_aalto, iter_balabit
from activesec.service import background as bgm
from activesec.service import models as model_files
from activesec.service import train as tr
from activesec.store.db import Store, StoredDevice

DAY = 86_400 * 10**9
WALL0 = 1_700_000_000 * 10**9
MOUSE = "pointer:mouse"
DEVICES = [StoredDevice(2, "Logitech USB Optical Mouse", int(DeviceType.MOUSE)),
           StoredDevice(9, "Virtual core XTEST pointer", int(DeviceType.VIRTUAL))]


def settings(**train: object) -> Settings:
    return Settings.model_validate({"user": "owner",
                                    "enrol": {"pointer_events": 3000, "keystrokes": 300},
                                    "train": {"target_far": 0.05, **train}})


def owner_pointer(n_sessions: int = 2, per_session: int = 6000, user: str = "user7"
                  ) -> list[np.ndarray]:
    out = []
    for rec in iter_balabit(dataset("balabit"), "training", users=[user]):
        ev = rec.events[:per_session].copy()
        ev["device"] = 2
        out.append(ev)
        if len(out) == n_sessions:
            break
    return out


def owner_keys(path: Path, user_index: int = 0) -> np.ndarray:
    """One Aalto participant's sentences typed in a row (as the background builder joins them)."""
    by_user: dict[str, list[np.ndarray]] = {}
    for rec in iter_aalto(path):
        by_user.setdefault(rec.user, []).append(rec.events)
    sentences = list(by_user.values())[user_index]
    parts, t_off, x_off = [], 0, 0
    for ev in sentences:
        e = ev.copy()
        e["t_ns"] += t_off
        e["x"] += x_off
        parts.append(e)
        t_off, x_off = int(e["t_ns"].max()) + 2 * 10**9, int(e["x"].max()) + 1
    return np.concatenate(parts)


def add_session(store: Store, events: np.ndarray, day: int, label: str = "owner") -> int:
    ev = np.sort(events, order="t_ns")
    sid = store.begin_session(label, "test", devices=DEVICES, wall_ns=WALL0 + day * DAY,
                              mono_ns=int(ev["t_ns"][0]))
    store.append(sid, ev)
    store.commit()
    store.end_session(sid, WALL0 + day * DAY + int(ev["t_ns"][-1] - ev["t_ns"][0]))
    return sid


@pytest.fixture
def owner(home: Path, tmp_path: Path) -> paths_mod.Paths:
    """A profile whose store holds two Balabit user7 sessions and one Aalto typist's text."""
    p = paths_mod.resolve().ensure()
    profile.create(p, "owner")
    aalto = slice_aalto(tmp_path / "aalto.tsv", lines=3000)
    with Store.open(p.database, create=True) as store:
        ptr = owner_pointer()
        keys = owner_keys(aalto)
        keys["t_ns"] += ptr[0]["t_ns"][0]
        add_session(store, np.concatenate([ptr[0], keys]), day=0)
        add_session(store, ptr[1], day=1)
    return p


def install_backgrounds(p: paths_mod.Paths, tmp_path: Path) -> None:
    bal = slice_balabit(tmp_path / "bal", ("user9", "user12", "user15"), lines=2500)
    aalto = slice_aalto(tmp_path / "aalto-bg.tsv", lines=8000)
    for bg in bgm.build(balabit=bal, aalto=aalto, max_rows=800).values():
        bgm.save(p, bg)


def test_train_with_backgrounds_then_load_compact_models(owner: paths_mod.Paths,
                                                         tmp_path: Path) -> None:
    install_backgrounds(owner, tmp_path)
    s = settings()
    summary = tr.train(owner, s)
    by = {r.modality: r for r in summary.trained}
    assert set(by) == {MOUSE, KEYBOARD} and not summary.skipped
    assert by[MOUSE].detector == "extra_trees" and by[KEYBOARD].detector == "plda"
    assert not by[MOUSE].fallback
    for r in by.values():
        assert r.rows_train > 10 and r.rows_holdout >= 10
        q = r.holdout_scores
        assert q["p05"] <= q["p50"] <= q["p95"] and r.threshold is not None
    card = persist.read_card(owner.models_dir / "pointer-mouse")
    assert card["calibration"]["target_far"] == 0.05
    assert card["extra"]["data"]["rows_holdout"] == by[MOUSE].rows_holdout
    assert card["extra"]["background"]["people"] == 3
    models = model_files.load_models(owner)
    assert set(models) == {MOUSE, KEYBOARD}
    assert models[KEYBOARD].weight == pytest.approx(10 / 50)
    # the compact scorer the agent uses scores exactly like the saved scikit-learn model
    X, _ = model_files.load_rows(owner.models_dir / "keyboard")
    for name, d in ((MOUSE, "pointer-mouse"), (KEYBOARD, "keyboard")):
        assert isinstance(models[name].detector, CompactScorer)
        full = persist.load_model(owner.models_dir / d).detector
        rows = X if name == KEYBOARD else model_files.load_rows(owner.models_dir / d)[0]
        np.testing.assert_allclose(models[name].detector.score(rows), full.score(rows),
                                   rtol=1e-9, atol=1e-9)
    cal = models[MOUSE].calibration
    assert cal.threshold == pytest.approx(by[MOUSE].threshold)


def test_without_background_falls_back_to_one_class_and_says_so(owner: paths_mod.Paths) -> None:
    summary = tr.train(owner, settings())
    by = {r.modality: r for r in summary.trained}
    assert by[MOUSE].detector == "gmm" and by[KEYBOARD].detector == "scaled_manhattan"
    assert "background" in by[MOUSE].fallback and "gmm" in by[MOUSE].fallback
    out = summary.as_dict()
    assert json.loads(json.dumps(out))["trained"][0]["fallback"]
    # the pointer fallback is calibrated at a fifth of target_far: at the trust defaults, chosen
    # for the population detector, gmm locked its owners out three times as often
    assert by[MOUSE].target_far == pytest.approx(0.01)
    assert persist.read_card(owner.models_dir / "pointer-mouse")["calibration"][
        "target_far"] == pytest.approx(0.01)
    assert by[KEYBOARD].target_far == pytest.approx(0.05)  # not measured that way: as asked



def test_upgrade_refits_fallback_models_on_their_own_rows_once_a_background_exists(
        owner: paths_mod.Paths, tmp_path: Path) -> None:
    """A fallback model (trained before any background) is refitted with the configured
    detector (the one it was trained for) on exactly the rows it was fitted on: input recorded
    since — here another person's, under the owner's label — is not learnt, as a full `train`
    would."""
    s = settings()
    tr.train(owner, s)
    with pytest.raises(ModelError, match="no usable background population"):
        tr.upgrade(owner, s)
    assert tr.fallback_upgrades(owner) == []
    rows = {d.name: model_files.load_rows(d) for d in model_files.model_dirs(owner)}
    with Store.open(owner.database) as store:
        add_session(store, owner_pointer(1, user="user9")[0], day=2)
    install_backgrounds(owner, tmp_path)
    assert [d.name for d in tr.fallback_upgrades(owner)] == ["keyboard", "pointer-mouse"]
    summary = tr.upgrade(owner, s)
    by = {r.modality: r for r in summary.trained}
    assert by[MOUSE].detector == "extra_trees" and by[MOUSE].upgraded_from == "gmm"
    assert by[KEYBOARD].detector == "plda" and by[KEYBOARD].upgraded_from == "scaled_manhattan"
    for d in model_files.model_dirs(owner):
        X, t = model_files.load_rows(d)
        X0, t0 = rows[d.name]
        n = len(X)  # the earlier rows, the latest held out to calibrate: none added
        assert n + by[str(persist.read_card(d)["extra"]["modality"])].rows_holdout <= len(X0)
        np.testing.assert_array_equal(X, X0[:n])
        np.testing.assert_array_equal(t, t0[:n])
        extra = persist.read_card(d)["extra"]
        assert extra["trained_by"] == "upgrade" and extra["fallback"] is None
    assert set(model_files.load_models(owner)) == {MOUSE, KEYBOARD}
    assert tr.fallback_upgrades(owner) == []
    with pytest.raises(ModelError, match="nothing to upgrade"):
        tr.upgrade(owner, s)


def test_calibration_with_its_fusion_window_round_trips_through_the_card(
        owner: paths_mod.Paths) -> None:
    from activesec.engine.trust import FUSION_WINDOW

    tr.train(owner, settings())
    models = model_files.load_models(owner)
    cal, kcal = models[MOUSE].calibration, models[KEYBOARD].calibration
    for c in (cal, kcal):
        assert c.window == FUSION_WINDOW and c.fused is not None
        assert c.fused[1] < c.scale  # averaged scores spread less than single ones
    card = persist.read_card(owner.models_dir / "pointer-mouse")
    assert model_files.calibration_of(card) == cal
    # a card written before fusion windows loads as it was calibrated: on single scores
    old = {k: v for k, v in card["calibration"].items() if k not in ("window", "fused")}
    legacy = model_files.calibration_of({**card, "calibration": old})
    assert legacy.window == 1 and legacy.fused is None and legacy.threshold == cal.threshold
    for bad in ({**old, "window": 5}, {**old, "window": 5, "fused": [1.0, 0.0, 0.0]},
                {**old, "fused": ["x"]}):
        with pytest.raises(ModelError, match="retrain"):
            model_files.calibration_of({**card, "calibration": bad})

def test_too_little_data_skips_a_modality_or_fails_with_progress(owner: paths_mod.Paths) -> None:
    s = Settings.model_validate({"user": "owner",
                                 "enrol": {"pointer_events": 3000, "keystrokes": 50_000},
                                 "train": {"pointer_detector": "scaled_manhattan"}})
    summary = tr.train(owner, s)
    assert [r.modality for r in summary.trained] == [MOUSE]
    (skip,) = summary.skipped
    assert skip.modality == KEYBOARD and skip.reason.startswith("need ")
    assert "more keystrokes" in skip.reason
    s2 = Settings.model_validate({"user": "owner",
                                  "enrol": {"pointer_events": 900_000, "keystrokes": 50_000}})
    with pytest.raises(ModelError, match=r"nothing to train yet.*need [\d,]+ more mouse pointer"):
        tr.train(owner, s2)


def test_injected_and_virtual_device_events_are_never_training_data(home: Path) -> None:
    p = paths_mod.resolve().ensure()
    profile.create(p, "owner")
    ev = owner_pointer(1, 3000)[0]
    fake = ev.copy()
    fake["device"] = 9  # the XTEST pointer
    bot = ev.copy()
    bot["flags"] |= int(Flag.INJECTED)
    with Store.open(p.database, create=True) as store:
        add_session(store, np.concatenate([ev, fake, bot]), day=0)
        add_session(store, owner_pointer(1, 500, user="user9")[0], day=1, label="guest")
        rows = tr.owner_rows(store, "owner")
    assert set(rows) == {MOUSE}
    assert rows[MOUSE].events == len(ev)


def test_a_virtual_machines_mouse_recorded_as_virtual_is_training_data(home: Path) -> None:
    """Before 2026-12-06 a VMware guest's mouse was stored as VIRTUAL (its name says
    "VirtualPS/2"): training left out all of the VM owner's pointer input. The XTEST pointer
    beside it stays out."""
    p = paths_mod.resolve().ensure()
    profile.create(p, "owner")
    ev = owner_pointer(1, 3000)[0]
    ev["device"] = 4
    fake = ev.copy()
    fake["device"] = 9  # the XTEST pointer
    devices = [StoredDevice(4, "VirtualPS/2 VMware VMMouse", int(DeviceType.VIRTUAL)),
               DEVICES[1]]
    with Store.open(p.database, create=True) as store:
        order = np.sort(np.concatenate([ev, fake]), order="t_ns")
        sid = store.begin_session("owner", "test", devices=devices, wall_ns=WALL0,
                                  mono_ns=int(order["t_ns"][0]))
        store.append(sid, order)
        store.commit()
        store.end_session(sid, WALL0 + DAY // 2)
        rows = tr.owner_rows(store, "owner")
    assert set(rows) == {MOUSE}
    assert rows[MOUSE].events == len(ev)


def test_enrolment_after_a_reset_counts_the_open_session_from_the_reset_on(home: Path) -> None:
    """The session running at the reset (the agent's) keeps enrolling after it, also once it has
    ended; what came before the reset counts for neither the progress nor training."""
    p = paths_mod.resolve().ensure()
    profile.create(p, "owner")
    ev = owner_pointer(1, 6000)[0]
    cut = 3000 + int(np.argmax(np.diff(ev["t_ns"][2999:]) > 0))  # first new time from 3000 on
    t0 = int(ev["t_ns"][0])
    typing = owner_keys(slice_aalto(home / "aalto.tsv", lines=400))
    typing["t_ns"] += int(ev["t_ns"][-1]) - int(typing["t_ns"][0]) + 10**9
    typing["flags"][: len(typing) // 2] |= int(Flag.INJECTED)
    with Store.open(p.database, create=True) as store:
        sid = store.begin_session("owner", "test", devices=DEVICES, wall_ns=WALL0, mono_ns=t0)
        store.append(sid, ev[:cut])
        store.commit()
        tr.reset_enrolment(p, FakeClock(wall_ns=WALL0 + int(ev["t_ns"][cut]) - t0))
        store.append(sid, np.concatenate([ev[cut:], typing]))
        store.end_session(sid, WALL0 + int(typing["t_ns"][-1]) - t0)
        store.commit()
        since = tr.enrolment_since(p)
        own_keys = int(np.count_nonzero(typing["flags"] == 0)) // 2
        assert tr.enrolment_counts(store, "owner") == (len(ev), own_keys)
        assert tr.enrolment_counts(store, "owner", since) == (len(ev) - cut, own_keys)
        rows = tr.owner_rows(store, "owner", since)
    assert rows[MOUSE].events == len(ev) - cut


class _ReadCounter:
    """A real store that notes which sessions' events are read."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.read: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def event_slices(self, sid: int, max_events: int) -> Any:
        self.read.append(sid)
        return self.store.event_slices(sid, max_events)


def test_training_reads_only_the_latest_rows_it_can_use(home: Path) -> None:
    """Training fits on the latest MAX_TRAIN_ROWS rows: reading every session since enrolment
    made a heavy user's weekly update decode months of input. With ``max_rows`` the newest
    sessions are read until each modality has its rows — the same rows, newest first — and
    older sessions are not opened."""
    p = paths_mod.resolve().ensure()
    profile.create(p, "owner")
    with Store.open(p.database, create=True) as store:
        sids = [add_session(store, ev, day=d) for d, ev in enumerate(owner_pointer(4, 3000))]
        every = tr.owner_rows(store, "owner")[MOUSE]
        X_all, t_all = every.arrays(len(POINTER_FEATURE_NAMES))
        newest = int(np.count_nonzero(t_all >= WALL0 + 3 * DAY))  # the last session's rows
        counter = _ReadCounter(store)
        some = tr.owner_rows(counter, "owner", max_rows=newest + 5)[MOUSE]
    X, t = some.arrays(len(POINTER_FEATURE_NAMES))
    assert len(X) == newest + 5 and X.tobytes() == X_all[-len(X):].tobytes()
    assert np.array_equal(t, t_all[-len(X):])
    assert counter.read == [sids[3], sids[2]]  # the two older sessions were never read
    assert some.events < every.events


def test_a_modality_only_older_sessions_hold_is_still_read(home: Path, tmp_path: Path) -> None:
    """The pointer's rows can all come from the newest session while the owner typed only in
    older ones: reading stops once every modality has its rows, not once the modalities met
    so far have them — else the keyboard, whose enrolment the stored counters call complete,
    would never train (and the agent's ``train --new`` would fail for ever)."""
    p = paths_mod.resolve().ensure()
    profile.create(p, "owner")
    keys = owner_keys(slice_aalto(tmp_path / "aalto.tsv", lines=3000))
    with Store.open(p.database, create=True) as store:
        add_session(store, keys, day=0)
        add_session(store, owner_pointer(1, 3000)[0], day=1)
        every = tr.owner_rows(store, "owner")
        some = tr.owner_rows(store, "owner", max_rows=20)
    assert set(some) == set(every) == {MOUSE, KEYBOARD}
    assert some[KEYBOARD].n_rows == 20 and some[MOUSE].n_rows == 20


def test_train_fits_on_the_latest_rows_of_a_long_history(
        owner: paths_mod.Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tr, "MAX_TRAIN_ROWS", 120)
    with Store.open(owner.database) as store:
        for day in (2, 3):
            add_session(store, owner_pointer(2, 3000)[day - 2], day=day)
    cfg = settings(holdout=0.25)
    summary = tr.train(owner, cfg)
    mouse = next(r for r in summary.results if r.modality == MOUSE)
    assert mouse.status == "trained" and mouse.rows_train == 120
    # held out: a quarter of the rows read, not of every row since enrolment
    assert mouse.rows_holdout == round(0.25 * tr.rows_to_read(cfg))
    card = persist.read_card(owner.models_dir / model_files.dir_name(MOUSE))
    assert card["extra"]["data"]["from_wall_ns"] >= WALL0 + 2 * DAY  # days 0 and 1 unused


def test_no_keystroke_window_spans_an_absence_in_training(home: Path) -> None:
    """A lunch break in a session: the agent never scores a window across it (it starts afresh
    after ``engine.trust.idle_after_s``), so training never fits or calibrates on one either —
    the windows are those of each stretch; with the configured absence longer than the break,
    they span it as the agent's would."""
    p = paths_mod.resolve().ensure()
    profile.create(p, "owner")
    morning = owner_keys(slice_aalto(home / "aalto.tsv", lines=1200))
    afternoon = morning.copy()
    afternoon["t_ns"] += int(morning["t_ns"].max()) - int(morning["t_ns"].min()) + 45 * 60 * 10**9
    afternoon["x"] += int(morning["x"].max()) + 1
    day = np.concatenate([morning, afternoon])
    with Store.open(p.database, create=True) as store:
        add_session(store, day, day=0)
        rows = tr.owner_rows(store, "owner")
        longer = tr.owner_rows(store, "owner", absence_s=3600.0)
    apart = keystroke_windows_between_absences(day, IDLE_AFTER_S)
    n_half = len(keystroke_windows(morning))
    assert len(apart) == 2 * n_half > 0
    assert len(rows[KEYBOARD].arrays(len(KEY_FEATURE_NAMES))[0]) == len(apart)
    assert len(longer[KEYBOARD].arrays(len(KEY_FEATURE_NAMES))[0]) \
        == len(keystroke_windows(day)) > len(apart)
    # train and retrain take the absence from the agent's own configuration
    s = Settings.model_validate({"user": "owner", "engine": {"trust": {"idle_after_s": 3600}}})
    assert tr._absence_s(s) == 3600.0 and tr._absence_s(settings()) == IDLE_AFTER_S


def test_altered_or_stale_models_are_refused(owner: paths_mod.Paths) -> None:
    tr.train(owner, settings(pointer_detector="scaled_manhattan"))
    d = owner.models_dir / "pointer-mouse"
    model_files.load_models(owner)
    comp = d / model_files.COMPACT_FILE
    good = comp.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF  # one flipped byte
    comp.write_bytes(bytes(bad))
    with pytest.raises(ModelError, match=r"compact.*modified"):
        model_files.load_models(owner)
    comp.write_bytes(good)
    card_file = d / persist.CARD_FILE
    card = json.loads(card_file.read_text())
    card["calibration"]["threshold"] *= 100  # "never lock": the card's own hash refuses it
    card_file.write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"model card.*modified"):
        model_files.load_models(owner)
    card = json.loads(card_file.read_text())
    card["calibration"]["threshold"] /= 100
    card["versions"]["activesec"] = "0.0.1"
    card_file.write_text(json.dumps(persist.seal(card)))  # as an older ActiveSec wrote it
    with pytest.raises(ModelError, match=r"built with activesec 0\.0\.1"):
        model_files.load_models(owner)
    card["versions"] = persist.library_versions()
    card["feature_schema"]["sha256"] = "f" * 64
    card_file.write_text(json.dumps(persist.seal(card)))
    with pytest.raises(ModelError, match="different feature schema"):
        model_files.load_models(owner)
    (d / persist.MODEL_FILE).unlink()
    with pytest.raises(ModelError, match="missing"):
        model_files.load_models(owner)


def test_reset_deletes_models_and_restarts_enrolment(owner: paths_mod.Paths,
                                                    tmp_path: Path) -> None:
    tr.train(owner, settings(pointer_detector="scaled_manhattan"))
    bgm.save(owner, bgm.Background("pointer", np.zeros((6, len(bgm.feature_names("pointer")))),
                                   np.arange(6), {}))
    clock = FakeClock(wall_ns=WALL0 + 5 * DAY)
    out = tr.train(owner, settings(), reset=True, clock=clock)
    assert out.reset and not out.results
    assert model_files.model_dirs(owner) == []
    assert bgm.file_for(owner, "pointer").exists()  # the background is not the owner's
    with pytest.raises(ModelError, match="no trained model"):
        model_files.load_models(owner)
    with pytest.raises(ModelError, match="nothing to train yet"):
        tr.train(owner, settings())  # the old sessions no longer count


def test_retrain_replaces_at_most_max_drift_and_refuses_strangers(
        owner: paths_mod.Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_backgrounds(owner, tmp_path)
    # the update decides through engine.drift.drift_update, the function the evaluation
    # (`evaluate freihaut --drift`) runs: record what it decided for each model
    decided: dict[int, DriftUpdate] = {}

    def spy(X_old: np.ndarray, *a: Any, **kw: Any) -> DriftUpdate:
        up = drift_update(X_old, *a, **kw)
        decided[X_old.shape[1]] = up
        return up

    monkeypatch.setattr(tr, "drift_update", spy)
    s = settings(max_drift=0.2)
    first = {r.modality: r for r in tr.train(owner, s).trained}[MOUSE]
    more = owner_pointer(3, 6000)[2]
    with Store.open(owner.database) as store:
        add_session(store, more, day=3)
    again = {r.modality: r for r in tr.retrain(owner, s).results}
    r = again[MOUSE]
    assert r.status == "trained", r.reason
    assert 0 < r.drift["replaced_rows"] <= int(0.2 * first.rows_train)
    up = decided[len(POINTER_FEATURE_NAMES)]
    assert up.learn and r.drift["replaced_rows"] == up.replaced
    assert r.rows_train == len(up.X_fit) and r.rows_holdout == up.n_hold  # type: ignore[arg-type]
    assert r.drift["recent_flagged_share"] == round(up.flagged, 4)
    assert r.rows_train == first.rows_train  # rows replaced, not added
    assert persist.read_card(owner.models_dir / "pointer-mouse")["extra"]["trained_by"] \
        == "retrain"
    # another person's input under the owner's label (Balabit user 35, not in the background)
    stranger = owner_pointer(1, 6000, user="user35")[0]
    with Store.open(owner.database) as store:
        add_session(store, stranger, day=4)
    before = (owner.models_dir / "pointer-mouse" / persist.CARD_FILE).read_bytes()
    day = 86400 * 10**9
    t_refused = time.time_ns() + 8 * day  # the model is 8 days old when the update refuses
    r2 = {x.modality: x for x in tr.retrain(owner, s, clock=FakeClock(wall_ns=t_refused))
          .results}[MOUSE]
    assert r2.status == "skipped" and "not learning" in r2.reason
    assert decided[len(POINTER_FEATURE_NAMES)].refused
    r2_rows = decided[len(POINTER_FEATURE_NAMES)].recent_rows
    from activesec.service import report  # what `status` shows: why the profile stays as it is

    (mouse,) = [m for m in report.models(owner) if m["name"] == "pointer-mouse"]
    assert mouse["update_refused"] == {"at_wall_ns": t_refused, "reason": r2.reason}
    assert r2.reason == decided[len(POINTER_FEATURE_NAMES)].reason
    assert (owner.models_dir / "pointer-mouse" / persist.CARD_FILE).read_bytes() == before
    # a refusal is a decision: its rows are never offered again, the next update is due
    # retrain_days later, and the owner's next session is judged on its own (before, the
    # stranger's rows stayed in every retry and kept refusing the owner with them)
    s7 = settings(max_drift=0.2, retrain_days=7)
    assert not tr.retrain_due(owner, s7, FakeClock(wall_ns=t_refused + day))  # model: 9 days
    assert tr.retrain_due(owner, s7, FakeClock(wall_ns=t_refused + 7 * day))
    assert (owner.models_dir / tr.DRIFT_STATE).stat().st_mode & 0o777 == 0o600
    with Store.open(owner.database) as store:
        add_session(store, owner_pointer(4, 6000)[3], day=5)
    r3 = {x.modality: x for x in tr.retrain(owner, s).results}[MOUSE]
    assert r3.status == "trained", r3.reason
    assert r3.drift["recent_rows"] == decided[len(POINTER_FEATURE_NAMES)].recent_rows
    assert r3.drift["recent_rows"] < r2_rows



def test_one_model_per_pointer_device_type(home: Path) -> None:
    p = paths_mod.resolve().ensure()
    profile.create(p, "owner")
    mouse, pad = owner_pointer(2, 4000)
    pad["device"] = 5
    pad["t_ns"] += mouse["t_ns"][-1] + 10**9
    devices = [*DEVICES, StoredDevice(5, "SynPS/2 Synaptics TouchPad", int(DeviceType.TOUCHPAD))]
    with Store.open(p.database, create=True) as store:
        ev = np.concatenate([mouse, pad])
        sid = store.begin_session("owner", "test", devices=devices, wall_ns=WALL0,
                                  mono_ns=int(ev["t_ns"][0]))
        store.append(sid, ev)
        store.commit()
    s = Settings.model_validate({"user": "owner",
                                 "enrol": {"pointer_events": 3000, "keystrokes": 300},
                                 "train": {"pointer_detector": "scaled_manhattan"}})
    summary = tr.train(p, s)
    assert sorted(r.modality for r in summary.trained) == [MOUSE, "pointer:touchpad"]
    assert {r.events for r in summary.trained} == {4000}
    assert set(model_files.load_models(p)) == {MOUSE, "pointer:touchpad"}
    with Store.open(p.database) as store:
        assert tr.enrolment_counts(store, "owner") == (8000, 0)  # both devices' events


def test_retrain_is_due_after_retrain_days(owner: paths_mod.Paths) -> None:
    s = settings(pointer_detector="scaled_manhattan", retrain_days=7)
    assert not tr.retrain_due(owner, s)  # no model yet
    tr.train(owner, s)
    now = FakeClock(wall_ns=time.time_ns())
    assert not tr.retrain_due(owner, s, now)
    now.jump_wall(8 * 86400)
    assert tr.retrain_due(owner, s, now)
    assert not tr.retrain_due(owner, settings(retrain_days=0), now)
    # trained while the clock ran 30 days ahead, since corrected: due, not in 37 days
    back = FakeClock(wall_ns=time.time_ns() - 30 * 86400 * 10**9)
    assert tr.retrain_due(owner, s, back)
    assert not tr.retrain_due(owner, s, FakeClock(wall_ns=time.time_ns() - 3600 * 10**9))
    # ... and once an update decided (refused) at the corrected time, not again for 7 days
    (owner.models_dir / tr.DRIFT_STATE).write_text(json.dumps(
        {"refused_until": {}, "refusals": {}, "decided_wall_ns": back.wall_ns()}))
    assert not tr.retrain_due(owner, s, back)
    back.jump_wall(7 * 86400)
    assert tr.retrain_due(owner, s, back)


def test_training_rows_are_capped_to_the_most_recent(owner: paths_mod.Paths,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tr, "MAX_TRAIN_ROWS", 50)
    r = {x.modality: x for x in tr.train(owner, settings(pointer_detector="scaled_manhattan"))
         .trained}[MOUSE]
    assert r.rows_train == 50
    X, t = model_files.load_rows(owner.models_dir / "pointer-mouse")
    card = persist.read_card(owner.models_dir / "pointer-mouse")
    assert len(X) == 50 and int(t[0]) == card["extra"]["data"]["from_wall_ns"]
    assert np.all(np.diff(t) >= 0) and t[-1] <= card["extra"]["data"]["until_wall_ns"]


def test_a_detector_without_compact_form_loads_through_skops(owner: paths_mod.Paths) -> None:
    tr.train(owner, settings(pointer_detector="isolation_forest",
                             keys_detector="scaled_manhattan"))
    models = model_files.load_models(owner)
    assert not isinstance(models[MOUSE].detector, CompactScorer)
    assert isinstance(models[KEYBOARD].detector, CompactScorer)
    with pytest.raises(ModelError, match="no compact form"):
        model_files.load_models(owner, allow_sklearn=False)


def test_a_signal_during_a_model_swap_waits_until_the_swap_is_done() -> None:
    """The swap is two renames (the old model aside, the new one in): SIGTERM between them
    would leave the model only under .old-<name>. Signals wait for the end of the swap, then
    act as they would have — here the CLI's handler, raising."""
    import signal

    class Stop(BaseException):
        pass

    def stop(_signum: int, _frame: object) -> None:
        raise Stop

    previous = signal.signal(signal.SIGTERM, stop)
    done = []
    try:
        with pytest.raises(Stop), signals_held():
            signal.raise_signal(signal.SIGTERM)
            done.append("swapped")
        assert done == ["swapped"]
        assert signal.getsignal(signal.SIGTERM) is stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_upgrade_uses_the_detector_configured_now_and_says_why(
        owner: paths_mod.Paths, tmp_path: Path) -> None:
    """The fallback model was trained while the default (extra_trees) was asked for; the user
    has since configured train.pointer_detector = random_forest. The upgrade fits what the
    configuration asks for now — it had fitted the card's extra_trees, silently ignoring the
    edit — and says why it is not the detector the model was trained for."""
    tr.train(owner, settings())
    install_backgrounds(owner, tmp_path)
    summary = tr.upgrade(owner, settings(pointer_detector="random_forest"))
    by = {r.modality: r for r in summary.trained}
    assert by[MOUSE].detector == "random_forest" and by[MOUSE].upgraded_from == "gmm"
    assert by[MOUSE].detector_note == ("random_forest, the configured train.pointer_detector, "
                                       "not extra_trees, which the configuration named when it "
                                       "was trained")
    assert by[KEYBOARD].detector == "plda" and by[KEYBOARD].detector_note == ""
    card = persist.read_card(owner.models_dir / "pointer-mouse")
    assert card["detector"] == "random_forest"
    assert card["extra"]["requested_detector"] == "random_forest"
    assert json.loads(json.dumps(summary.as_dict()))["trained"][0]["detector_note"] is not None


def test_upgrade_to_the_default_once_the_configured_detector_is_removed(
        owner: paths_mod.Paths, tmp_path: Path) -> None:
    tr.train(owner, settings(pointer_detector="hist_gb"))
    install_backgrounds(owner, tmp_path)
    (m,) = [r for r in tr.upgrade(owner, settings()).trained if r.modality == MOUSE]
    assert m.detector == "extra_trees"
    assert m.detector_note == ("extra_trees, the default (train.pointer_detector is not set), "
                               "not hist_gb, which the configuration named when it was trained")


def test_a_drift_update_keeps_a_fallback_model_a_fallback(owner: paths_mod.Paths,
                                                          tmp_path: Path) -> None:
    """A drift update of a one-class fallback model (every retrain_days, by the agent) wrote a
    card with no fallback and the fallback as the detector asked for: the model was no longer
    upgraded once a background was built, and status stopped calling it a fallback."""
    s = settings()
    tr.train(owner, s)  # no background yet: gmm instead of extra_trees
    with Store.open(owner.database) as store:
        add_session(store, owner_pointer(3, 6000)[2], day=3)
    r = {x.modality: x for x in tr.retrain(owner, s).results}[MOUSE]
    assert r.status == "trained", r.reason
    extra = persist.read_card(owner.models_dir / "pointer-mouse")["extra"]
    assert extra["trained_by"] == "retrain"
    assert extra["requested_detector"] == "extra_trees" and "background" in extra["fallback"]
    assert "background" in r.fallback
    assert r.target_far == pytest.approx(0.01)  # still calibrated as a fallback
    install_backgrounds(owner, tmp_path)
    assert "pointer-mouse" in [d.name for d in tr.fallback_upgrades(owner)]
    (m,) = [x for x in tr.upgrade(owner, s).trained if x.modality == MOUSE]
    assert m.detector == "extra_trees" and m.upgraded_from == "gmm"
    assert m.target_far == pytest.approx(0.05)  # no longer a fallback: as asked


def test_an_edited_agent_json_is_refused_like_an_edited_card(owner: paths_mod.Paths) -> None:
    """agent.json tells the agent how to score (the compact twin's hash and its ``meta``,
    e.g. the owner normalisation) and which rows updates learn from: a score_scale of 1e12
    written there makes every input score as the owner's. The sealed card binds them."""
    tr.train(owner, settings(pointer_detector="scaled_manhattan"))
    d = owner.models_dir / "pointer-mouse"
    model_files.load_models(owner)
    agent_file = d / model_files.AGENT_CARD
    good = agent_file.read_text()
    info = json.loads(good)
    info["compact"]["meta"].update(score_center=-1e12, score_scale=1e12)  # "never lock"
    agent_file.write_text(json.dumps(info))
    with pytest.raises(ModelError, match=r"agent\.json.*does not match the model card"):
        model_files.load_models(owner)
    # the twin swapped for another one, its hash written into agent.json
    info = json.loads(good)
    comp = d / model_files.COMPACT_FILE
    twin = comp.read_bytes()
    with np.load(comp) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["mad"] = arrays["mad"] * 1e12
    with comp.open("wb") as fh:
        np.savez(fh, **arrays)
    info["compact"]["sha256"] = paths_mod.sha256_file(comp)
    agent_file.write_text(json.dumps(info))
    with pytest.raises(ModelError, match=r"agent\.json.*does not match the model card"):
        model_files.load_models(owner)
    # and the training rows drift updates learn from
    info = json.loads(good)
    info["rows_sha256"] = "0" * 64
    agent_file.write_text(json.dumps(info))
    with pytest.raises(ModelError, match=r"agent\.json.*does not match the model card"):
        model_files.load_rows(d)
    agent_file.write_text("[]\n")  # damaged: JSON, but not an object (was an AttributeError)
    with pytest.raises(ModelError, match="does not belong to the model card"):
        model_files.load_models(owner)
    agent_file.write_text(good)
    comp.write_bytes(twin)
    model_files.load_models(owner)


def test_a_model_a_stopped_swap_left_as_old_is_still_the_model(owner: paths_mod.Paths) -> None:
    """The swap is two renames (the model aside as .old-<name>, the new one in); a stop between
    them that signals cannot hold off (power loss, SIGKILL, the OOM killer) left the only model
    under .old-<name>, which nothing read: the agent went back to enrolling, unprotected, and
    `status` listed no model. It is still the model until a new one replaces it."""
    from activesec.service import report

    tr.train(owner, settings(pointer_detector="scaled_manhattan"))
    d = owner.models_dir / "keyboard"
    old = owner.models_dir / ".old-keyboard"
    d.rename(old)  # stopped after the first rename; the staging folder is never a model
    (owner.models_dir / ".staging-keyboard").mkdir()
    (owner.models_dir / ".staging-keyboard" / "model.skops").write_bytes(b"half")
    assert set(model_files.load_models(owner)) == {MOUSE, KEYBOARD}
    assert [m["ok"] for m in report.models(owner)] == [True, True]
    tr.train(owner, settings(pointer_detector="scaled_manhattan"))  # the next swap replaces it
    assert d.is_dir() and not old.exists()
    assert [p.name for p in model_files.model_dirs(owner)] == ["keyboard", "pointer-mouse"]
    # both there (stopped after the second rename): the new one is the model
    shutil.copytree(d, old)
    (old / persist.CARD_FILE).unlink()
    assert [p.name for p in model_files.model_dirs(owner)] == ["keyboard", "pointer-mouse"]


def test_a_detector_that_cannot_fit_so_few_rows_skips_that_modality_only(
        home: Path, tmp_path: Path) -> None:
    """hist_gb refuses fewer than 40 owner rows (a DataError), more than training's own
    minimum: a device type with enough events in few actions (a pen's long strokes, here a
    short mouse recording) ended the whole `activesec train` — and `train --upgrade` — in that
    error, the keyboard model beside it unsaid. That modality is skipped, saying why."""
    p = paths_mod.resolve().ensure()
    profile.create(p, "owner")
    keys = owner_keys(slice_aalto(tmp_path / "aalto.tsv", lines=3000))
    ptr = owner_pointer(1, 2000)[0]
    keys["t_ns"] += ptr["t_ns"][0]
    with Store.open(p.database, create=True) as store:
        add_session(store, np.concatenate([ptr, keys]), day=0)
    s = Settings.model_validate({"user": "owner", "enrol": {"pointer_events": 100,
                                                            "keystrokes": 300},
                                 "train": {"pointer_detector": "hist_gb"}})
    first = tr.train(p, s)  # no background yet: the one-class fallbacks fit these rows
    assert {r.modality for r in first.trained} == {MOUSE, KEYBOARD}
    assert 20 <= len(model_files.load_rows(p.models_dir / "pointer-mouse")[0]) < 40
    install_backgrounds(p, tmp_path)
    up = tr.upgrade(p, s)
    assert [r.modality for r in up.trained] == [KEYBOARD]
    (skip,) = up.skipped
    assert skip.modality == MOUSE and "hist_gb learns nothing from" in skip.reason
    summary = tr.train(p, s)
    assert [r.modality for r in summary.trained] == [KEYBOARD]
    (skip,) = summary.skipped
    assert skip.modality == MOUSE and "hist_gb learns nothing from" in skip.reason


def test_the_next_swap_keeps_a_model_left_as_old_until_the_new_one_is_in(
        owner: paths_mod.Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a stopped swap the model is .old-<name> (above); the next swap deleted it first,
    then renamed the new one in — stopped there too (the deletion of megabytes is no
    instant), no model was left at all."""
    tr.train(owner, settings(pointer_detector="scaled_manhattan"))
    (owner.models_dir / "keyboard").rename(owner.models_dir / ".old-keyboard")
    real = Path.rename

    def stop_at_the_swap(self: Path, target: Any) -> Any:
        if self.name.startswith(".staging-"):
            raise SystemExit("killed")
        return real(self, target)

    monkeypatch.setattr(Path, "rename", stop_at_the_swap)
    with pytest.raises(SystemExit):
        tr.train(owner, settings(pointer_detector="scaled_manhattan"))
    monkeypatch.undo()
    assert set(model_files.load_models(owner)) == {MOUSE, KEYBOARD}


def test_a_drift_update_learns_nothing_from_minutes_the_agent_doubted(
        owner: paths_mod.Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stranger the agent notified about and locked out left their input in the store under
    the owner's label; the weekly update took every action of it the model did not flag on
    its own (most of them, one action being weak evidence) as the owner's. Minutes in which the
    agent's trust went below its notify level (its trust history) are left out."""
    from activesec.service import history

    install_backgrounds(owner, tmp_path)
    offered: dict[int, np.ndarray] = {}  # the recent rows' times each model was offered

    def spy(X_old: np.ndarray, t_old: np.ndarray, X: np.ndarray, t: np.ndarray, *a: Any,
            **kw: Any) -> DriftUpdate:
        offered[X_old.shape[1]] = t
        return drift_update(X_old, t_old, X, t, *a, **kw)

    monkeypatch.setattr(tr, "drift_update", spy)
    s = settings(max_drift=0.2)
    tr.train(owner, s)
    with Store.open(owner.database) as store:
        add_session(store, owner_pointer(3, 6000)[2], day=3)
        sid = add_session(store, owner_pointer(1, 3000, user="user35")[0], day=4)
        info = store.session(sid)
    assert info.ended_wall_ns is not None
    lines = [json.dumps({"t": m, "lo": 20.0, "hi": 65.0, "last": 30.0, "n": 9})
             for m in range(info.started_wall_ns // 10**9 // 60 * 60,
                            info.ended_wall_ns // 10**9 + 60, 60)]
    history.history_path(owner).write_text("\n".join(lines) + "\n")
    r = {x.modality: x for x in tr.retrain(owner, s).results}[MOUSE]
    t = offered[len(POINTER_FEATURE_NAMES)]
    assert len(t) and not np.any((t >= info.started_wall_ns) & (t <= info.ended_wall_ns + 60e9))
    assert r.status == "trained" and r.drift["recent_doubted_rows"] > 0, r


def test_a_device_type_only_older_sessions_hold_is_refitted_too(home: Path) -> None:
    """The touchpad used last month, the mouse every day since: training read the newest
    sessions until the mouse had its rows and stopped, so `train` and the weekly update never
    refitted the touchpad's model again (reading every session, they did)."""
    p = paths_mod.resolve().ensure()
    profile.create(p, "owner")
    mouse, pad = owner_pointer(2, 4000)
    pad["device"] = 5
    devices = [*DEVICES, StoredDevice(5, "SynPS/2 Synaptics TouchPad", int(DeviceType.TOUCHPAD))]
    with Store.open(p.database, create=True) as store:
        sid = store.begin_session("owner", "test", devices=devices, wall_ns=WALL0,
                                  mono_ns=int(pad["t_ns"][0]))
        store.append(sid, pad)
        store.commit()
        store.end_session(sid, WALL0 + int(pad["t_ns"][-1] - pad["t_ns"][0]))
        for day in (1, 2):
            add_session(store, mouse, day=day)
        some = tr.owner_rows(store, "owner", max_rows=20)
        assert set(some) == {MOUSE}  # without a touchpad model: not looked for
        found = tr.owner_rows(store, "owner", max_rows=20, also={"pointer:touchpad"})
        assert set(found) == {MOUSE, "pointer:touchpad"}
        assert found["pointer:touchpad"].n_rows == 20
    s = Settings.model_validate({"user": "owner",
                                 "enrol": {"pointer_events": 3000, "keystrokes": 300},
                                 "train": {"pointer_detector": "scaled_manhattan"}})
    (p.models_dir / "pointer-touchpad").mkdir(parents=True)
    (p.models_dir / "pointer-touchpad" / "card.json").write_text("{}")  # a model of it exists
    summary = tr.train(p, s)
    assert sorted(r.modality for r in summary.trained) == [MOUSE, "pointer:touchpad"]
    assert set(model_files.load_models(p)) == {MOUSE, "pointer:touchpad"}
