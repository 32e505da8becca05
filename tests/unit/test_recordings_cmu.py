"""CMU DSL-StrongPasswordData loader: header validation, parsing, honesty warnings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from activesec.core.errors import DataError
from activesec.recordings.cmu import FEATURES, FILE_NAME, HEADER, load_cmu


def csv_text(n_subjects: int = 2, reps: int = 3) -> str:
    lines = [",".join(HEADER)]
    for s in range(n_subjects):
        for r in range(reps):
            feats = ",".join(f"{0.1 + 0.001 * (s * 100 + r + j):.4f}" for j in range(31))
            lines.append(f"s{s + 2:03d},{1 + r // 50},{r % 50 + 1},{feats}")
    return "\n".join(lines) + "\n"


def test_loads_columns_and_values(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text(csv_text())
    d = load_cmu(tmp_path)  # a folder holding the file works too
    assert d.X.shape == (6, 31) and d.X.dtype == np.float64
    assert d.columns == FEATURES and d.columns[0] == "H.period" and d.columns[-1] == "H.Return"
    assert d.subjects.tolist() == ["s002"] * 3 + ["s003"] * 3
    assert d.rep.tolist() == [1, 2, 3, 1, 2, 3] and d.session_index.tolist() == [1] * 6
    assert d.X[4, 2] == pytest.approx(0.1 + 0.001 * (101 + 2))
    assert d.meta["full"] is False and "20400" in d.meta["warnings"][0]


def test_malformed_rows_skipped_with_warning(tmp_path: Path) -> None:
    text = csv_text() + "s009,1,1,notanumber" + ",0.1" * 30 + "\ns009,1,2,0.1\n"
    (tmp_path / "d.csv").write_text(text)
    d = load_cmu(tmp_path / "d.csv")
    assert len(d.X) == 6 and d.meta["skipped_rows"] == 2
    assert any("2 malformed" in w for w in d.meta["warnings"])


def test_a_row_csv_cannot_split_is_one_more_malformed_row(tmp_path: Path) -> None:
    """A field over csv's 128 KiB limit raised `_csv.Error` out of the loader (a traceback in
    `evaluate cmu`); it is a malformed row like any other."""
    text = csv_text() + "s009,1,1," + "9" * 200_000 + ",0.1" * 30 + "\n"
    (tmp_path / "d.csv").write_text(text)
    d = load_cmu(tmp_path / "d.csv")
    assert len(d.X) == 6 and d.meta["skipped_rows"] == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "timestamp,button,state,x,y\n1,NoButton,Move,1,1\n",
        ",".join(HEADER[:-1]) + "\n",
        ",".join(HEADER).replace("H.t,", "H.T,") + "\n",
    ],
)
def test_wrong_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "x.csv").write_text(text)
    with pytest.raises(DataError, match=r"is not DSL-StrongPasswordData\.csv"):
        load_cmu(tmp_path / "x.csv")


def test_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_cmu(tmp_path / FILE_NAME)
    with pytest.raises(DataError, match="holds no"):
        load_cmu(tmp_path)
