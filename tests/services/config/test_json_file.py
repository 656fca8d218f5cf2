"""The embedded stores' shared file: another process's change is seen within the check
interval, and a write never erases what another process wrote, whatever the interval."""

from __future__ import annotations

import time
from pathlib import Path

from services.config.json_file import JsonFile


def test_a_change_by_another_process_is_seen_once_the_interval_passes(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    mine, theirs = JsonFile(path, check_every_s=0.2), JsonFile(path, check_every_s=0.2)
    mine.write({"keys": [{"id": "k1"}]})
    mine.sync()
    theirs.write({"keys": [{"id": "k1"}, {"id": "k2"}]})
    mine.sync()  # within the interval: the file is not looked at
    assert mine.read("keys") == [{"id": "k1"}]
    time.sleep(0.25)
    mine.sync()
    assert mine.read("keys") == [{"id": "k1"}, {"id": "k2"}]


def test_a_write_reads_the_file_first_even_within_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    mine, theirs = JsonFile(path, check_every_s=60), JsonFile(path, check_every_s=60)
    mine.write({"keys": [{"id": "k1"}]})
    theirs.write({"bridges": [{"id": "b1"}]})
    mine.write({"keys": [{"id": "k1"}, {"id": "k3"}]})
    assert JsonFile(path).read("bridges") == [{"id": "b1"}]
    assert JsonFile(path).read("keys") == [{"id": "k1"}, {"id": "k3"}]
