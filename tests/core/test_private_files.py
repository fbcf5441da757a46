"""Local state files (logs, locks) are never opened through a link planted in the project."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.core.errors import UserError
from mlops.core.process import file_lock, private_append


def test_a_log_is_appended_to_and_private(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with private_append(log) as handle:
        handle.write(b"one\n")
    with private_append(log) as handle:
        handle.write(b"two\n")
    assert log.read_bytes() == b"one\ntwo\n"
    assert log.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("exists", [True, False], ids=["to-a-file", "to-nothing"])
def test_a_link_in_place_of_a_log_or_lock_is_refused(tmp_path: Path, exists: bool) -> None:
    outside = tmp_path / "outside"
    if exists:
        outside.write_bytes(b"keep")
    project = tmp_path / "project" / ".mlops"
    project.mkdir(parents=True)
    (project / "supervisor.log").symlink_to(outside)
    (project / "deploy.lock").symlink_to(outside)
    with pytest.raises(UserError, match="is a link"):
        private_append(project / "supervisor.log")
    with pytest.raises(UserError, match="is a link"), file_lock(project / "deploy.lock", 1, "busy"):
        pass
    assert (outside.read_bytes() == b"keep") if exists else not outside.exists()
