"""Trusted files: no blocking open, regular files only, bounded reads, StrictModes for the
config file, and what an account can read or replace.

Ownership cases need root (chown); they skip otherwise unless PYSRSD_REQUIRE_SYSTEM=1.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest
from harness import require_root

from pysrsd.config.files import Account, can_read, read_config, read_trusted, writers
from pysrsd.errors import ConfigError

NOBODY = pwd.getpwnam("nobody")
AS_NOBODY = Account(NOBODY.pw_uid, NOBODY.pw_gid, frozenset([NOBODY.pw_gid]))


def needs_root() -> None:
    require_root("files of other owners")


def tree(base: Path, mode: int = 0o755) -> Path:
    """base/a/b/file: a private scratch tree (its top is 0700 in pytest's tmp)."""
    directory = base / "a" / "b"
    directory.mkdir(parents=True)
    for d in (base, base / "a", directory):
        d.chmod(mode)
    file = directory / "file"
    file.write_bytes(b"content\n")
    file.chmod(0o644)
    return file


# --- read_trusted -------------------------------------------------------------------------


def test_a_fifo_is_refused_at_once_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "secrets"
    os.mkfifo(fifo)  # no writer: a blocking open() would wait forever
    with pytest.raises(ConfigError, match=r"^secrets-file: .* is a FIFO, not a regular file"):
        read_trusted(fifo, 100, "secrets-file")


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        pytest.param(Path("/dev/zero"), "a character device", id="endless-device"),
        pytest.param(Path("/"), "a directory", id="directory"),
    ],
)
def test_only_regular_files_are_read(target: Path, kind: str) -> None:
    with pytest.raises(ConfigError, match=f"is {kind}, not a regular file"):
        read_trusted(target, 100, "exclude-file")


def test_reads_are_bounded(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_bytes(b"x" * 100)
    assert read_trusted(file, 100, "s")[0] == b"x" * 100
    with pytest.raises(ConfigError, match="larger than 99 bytes"):
        read_trusted(file, 99, "s")


def test_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^exclude-file: cannot read .*No such file"):
        read_trusted(tmp_path / "absent", 10, "exclude-file")


def test_symlinks_are_followed_for_secrets(tmp_path: Path) -> None:
    """Secrets mounted as symlinks (Kubernetes, /etc/alternatives) keep working."""
    (tmp_path / "real").write_bytes(b"s\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_trusted(tmp_path / "link", 10, "secrets-file")[0] == b"s\n"


# --- read_config: StrictModes -------------------------------------------------------------


def test_config_in_a_safe_tree_is_read(tmp_path: Path) -> None:
    assert read_config(tree(tmp_path), 100, "config") == b"content\n"


@pytest.mark.parametrize(
    ("where", "mode"),
    [
        pytest.param("file", 0o664, id="group-writable-file"),
        pytest.param("file", 0o646, id="world-writable-file"),
        pytest.param("dir", 0o775, id="group-writable-directory"),
        pytest.param("top", 0o757, id="world-writable-directory-higher-up"),
    ],
)
def test_config_writable_by_others_is_refused(tmp_path: Path, where: str, mode: int) -> None:
    file = tree(tmp_path)
    target = {"file": file, "dir": file.parent, "top": tmp_path / "a"}[where]
    target.chmod(mode)
    with pytest.raises(ConfigError, match=r"^config: refusing .* writable by group or others"):
        read_config(file, 100, "config")


def test_config_reached_through_a_symlink_is_checked_where_it_lives(tmp_path: Path) -> None:
    file = tree(tmp_path)
    file.parent.chmod(0o777)
    link = tmp_path / "pysrsd.toml"
    link.symlink_to(file)
    with pytest.raises(ConfigError, match="writable by group or others"):
        read_config(link, 100, "config")


def test_config_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    needs_root()
    file = tree(tmp_path)
    os.chown(file, NOBODY.pw_uid, -1)
    with pytest.raises(ConfigError, match=rf"owned by nobody \(uid {NOBODY.pw_uid}\)"):
        read_config(file, 100, "config")
    os.chown(file, 0, -1)
    os.chown(file.parent, NOBODY.pw_uid, -1)  # nobody could swap the file via the directory
    with pytest.raises(ConfigError, match=rf"directory .* owned by nobody \(uid {NOBODY.pw_uid}\)"):
        read_config(file, 100, "config")


def test_sticky_directory_protects_only_entries_of_trusted_owners(tmp_path: Path) -> None:
    """/tmp-like: world-writable and sticky is fine above a root-owned entry, not above
    an entry that another user owns (that user may rename it away)."""
    needs_root()
    file = tree(tmp_path)
    (tmp_path / "a").chmod(0o1777)
    assert read_config(file, 100, "config") == b"content\n"
    os.chown(file.parent, NOBODY.pw_uid, -1)
    with pytest.raises(ConfigError, match=rf"owned by nobody \(uid {NOBODY.pw_uid}\)"):
        read_config(file, 100, "config")


def test_dev_null_is_an_empty_config() -> None:
    assert read_config(Path("/dev/null"), 100, "config") == b""


def test_config_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pysrsd.toml"
    os.mkfifo(fifo, 0o644)
    with pytest.raises(ConfigError, match="is a FIFO"):
        read_config(fifo, 100, "config")


# --- what an account can read or replace -----------------------------------------------------


def test_permission_classes_decide_alone() -> None:
    owner_without_read = os.stat_result((stat.S_IFREG | 0o044, 0, 0, 1, 7, 7, 0, 0, 0, 0))
    alice = Account(7, 100, frozenset([100]))
    assert not alice.may(owner_without_read, os.R_OK)  # others may read; the owner may not
    in_group = Account(8, 7, frozenset([7]))
    assert in_group.may(owner_without_read, os.R_OK)
    assert not in_group.may(owner_without_read, os.W_OK)


def test_nobody_reads_the_secrets_only_through_the_group(open_tmp: Path) -> None:
    needs_root()
    file = tree(open_tmp)
    file.chmod(0o640)
    assert not can_read(AS_NOBODY, file)
    os.chown(file, 0, NOBODY.pw_gid)
    assert can_read(AS_NOBODY, file)
    assert writers(AS_NOBODY, file) == []  # root:nobody 0640 in root's 0755 tree
    file.parent.chmod(0o700)  # a directory on the way that nobody cannot search
    assert not can_read(AS_NOBODY, file)


def test_what_an_account_could_replace(open_tmp: Path) -> None:
    needs_root()
    tmp_path = open_tmp
    file = tree(tmp_path)
    os.chown(file, NOBODY.pw_uid, -1)  # owned: it may chmod and rewrite
    assert writers(AS_NOBODY, file) == [f"file {file}"]
    os.chown(file, 0, -1)
    os.chown(file.parent, NOBODY.pw_uid, -1)  # its directory: it may rename over the file
    assert writers(AS_NOBODY, file) == [f"directory {file.parent}"]
    os.chown(file.parent, 0, -1)
    (tmp_path / "a").chmod(0o777)  # higher up: it may rename directory b away and replace it
    assert writers(AS_NOBODY, file) == [f"directory {tmp_path / 'a'}"]
    (tmp_path / "a").chmod(0o1777)  # sticky, b owned by root: safe
    assert writers(AS_NOBODY, file) == []


def test_root_reads_everything() -> None:
    assert can_read(Account(0, 0, frozenset([0])), Path("/etc/shadow"))
