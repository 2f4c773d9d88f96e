"""Atomic writes leave either the old file or the new one, never a half-written file."""

import json

import pytest

from descentlab.io import atomic_path, to_jsonable, write_json, write_text


def test_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    write_text(p, "one")
    write_text(p, "two")
    assert p.read_text() == "two"
    assert [q.name for q in p.parent.iterdir()] == ["a.txt"]


def test_interrupted_write_keeps_old_file(tmp_path):
    p = tmp_path / "a.json"
    write_json(p, {"x": 1})
    with pytest.raises(KeyboardInterrupt), atomic_path(p) as tmp:
        tmp.write_text("{half")
        raise KeyboardInterrupt
    assert json.loads(p.read_text()) == {"x": 1}
    assert [q.name for q in tmp_path.iterdir()] == ["a.json"]


def test_temp_keeps_suffix(tmp_path):
    with atomic_path(tmp_path / "fig.png") as tmp:
        assert tmp.suffix == ".png"
        tmp.write_bytes(b"x")


def test_to_jsonable_handles_numpy_torch_and_nan():
    import numpy as np
    import torch

    out = to_jsonable(
        {"a": np.float64(1.5), "b": torch.tensor([1.0, float("nan")]), "c": (1, np.int64(2))}
    )
    assert out == {"a": 1.5, "b": [1.0, None], "c": [1, 2]}
    json.dumps(out, allow_nan=False)


def test_written_files_get_the_umask_mode(tmp_path):
    from descentlab import io

    p = write_text(tmp_path / "m.txt", "x")
    assert (p.stat().st_mode & 0o777) == 0o666 & ~io._UMASK


def test_unwritable_target_is_one_clear_error(tmp_path):
    from descentlab.errors import InvalidParameterError

    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(InvalidParameterError, match=r"cannot write .*plain-file"):
        write_text(blocker / "sub" / "a.txt", "never")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(InvalidParameterError, match=r"cannot write .*a-folder"):
        write_text(folder, "never")  # replacing a folder by a file fails in os.replace
    assert folder.is_dir() and [q.name for q in folder.iterdir()] == []
    assert sorted(q.name for q in tmp_path.iterdir()) == ["a-folder", "plain-file"]
