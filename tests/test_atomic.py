"""li_seg.atomic.write_text: the file is either the old one or the new one, never half of either."""

import os

import pytest

from li_seg import atomic


def test_write_text_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("old")
    atomic.write_text(path, "new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_a_write_that_fails_midway_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "best.json"
    path.write_text("old")

    def disk_full(descriptor):  # the text is in the temporary file's buffers; flushing it to disk fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic.write_text(path, "a new record")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json"]
