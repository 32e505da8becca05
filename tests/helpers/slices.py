"""Small real slices of the shared datasets, written in their own layout for tests."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import dataset


def labelled_balabit(dest: Path, users: tuple[str, ...] = ("user7", "user9", "user12"),
                     train_lines: int = 4000, test_lines: int = 1500) -> Path:
    """A Balabit layout with two training sessions per user and two labelled test sessions —
    one genuine, one an impostor's — each cut to its first lines; ``public_labels.csv`` lists
    only those test sessions."""
    src = dataset("balabit")
    labels = dict(line.split(",") for line in
                  (src / "public_labels.csv").read_text().split()[1:])
    keep = ["filename,is_illegal"]
    for u in users:
        for split, lines in (("training_files", train_lines), ("test_files", test_lines)):
            (dest / split / u).mkdir(parents=True)
            files = sorted((src / split / u).iterdir())
            if split == "test_files":
                files = [next(f for f in files if labels.get(f.name, "").strip() == v)
                         for v in ("0", "1")]
            for f in files[:2]:
                with open(f) as fh:
                    (dest / split / u / f.name).write_text(
                        "".join(next(fh, "") for _ in range(lines)))
                if split == "test_files":
                    keep.append(f"{f.name},{labels[f.name].strip()}")
    (dest / "public_labels.csv").write_text("\n".join(keep) + "\n")
    return dest


def mouse_layout(dest: Path, users: tuple[str, ...] = ("user7", "user9", "user12"),
                 sessions: int = 3, events: int = 4000) -> Path:
    """A generic mouse layout ``dest/<user>/s<i>.csv``: the first ``sessions`` Balabit training
    sessions of each user, each cut to its first ``events`` events — recordings as a user
    brings them to ``evaluate mouse-csv`` or ``import``."""
    from activesec.recordings import iter_balabit, write_mouse_csv

    for u in users:
        for i, r in enumerate(iter_balabit(dataset("balabit"), "training", [u])):
            if i == sessions:
                break
            write_mouse_csv(dest / u / f"s{i + 1}.csv", r.events[:events])
    return dest


def keys_layout(dest: Path, users: int = 4, split: tuple[int, ...] = (12, 3)) -> Path:
    """A generic keys layout ``dest/<participant>/s<i>.csv`` from the first ``users`` Aalto 136M
    participants: each session joins the next ``split[i]`` of the participant's typed sentences
    (with the real pauses between them) — free typing as ``evaluate keys-csv`` reads it."""
    import numpy as np

    from activesec.recordings import iter_aalto, write_keys_csv

    by_user: dict[str, list[np.ndarray]] = {}
    t0: dict[str, float] = {}
    for r in iter_aalto(dataset("aalto136m"), max_users=users):
        ev = r.events.copy()  # each sentence's times start at 0: put it back at its wall time
        ev["t_ns"] += round((r.meta["wall_time"] - t0.setdefault(r.user, r.meta["wall_time"]))
                            * 1e9)
        ev["x"] += sum(len(e) for e in by_user.get(r.user, []))  # stroke ids stay unique
        by_user.setdefault(r.user, []).append(ev)
    for user, sentences in by_user.items():
        start = 0
        for i, n in enumerate(split):
            write_keys_csv(dest / user / f"s{i + 1}.csv",
                           np.concatenate(sentences[start:start + n]))
            start += n
    return dest
