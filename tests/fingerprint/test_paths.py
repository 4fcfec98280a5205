"""Dataset files and folders: names, and the symlink / special / unreadable policy."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aichain_audit import api
from aichain_audit.errors import InputError, PathPolicyError
from aichain_audit.fingerprint.paths import LinkPolicy, PathPolicy, list_argument, resolve_inside
from aichain_audit.lineage import LineageManifest
from tests.conftest import REPO, assert_one_line_error, run_cli


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    (d / "a.csv").write_text("x,y\n1,2\n")
    (d / "sub" / "b.csv").write_text("x,y\n3,4\n")
    return d


def fingerprint_json(*args: str | Path, cwd: Path | None = None) -> dict[str, object]:
    proc = run_cli("fingerprint", *args, "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def manifest_leaves(path: Path) -> list[dict[str, object]]:
    return json.loads(path.read_text())["leaves"]  # type: ignore[no-any-return]


def test_folder_files_are_named_by_folder_name_and_relative_posix_path(data: Path) -> None:
    names = sorted(f.name for f in list_argument(data, PathPolicy()).files)
    assert names == ["data/a.csv", "data/sub/b.csv"]
    assert [f.name for f in list_argument(data / "a.csv", PathPolicy()).files] == ["a.csv"]


@pytest.mark.slow  # runs the CLI in a process
def test_root_does_not_depend_on_working_folder_or_timestamps(data: Path, tmp_path: Path) -> None:
    a = fingerprint_json("--dataset", data)["root"]
    b = fingerprint_json("--dataset", "data", cwd=tmp_path)["root"]
    c = fingerprint_json("--dataset", ".", cwd=data)["root"]
    os.utime(data / "a.csv", (1, 1))
    d = fingerprint_json("--dataset", data)["root"]
    assert a == b == c == d


@pytest.mark.slow  # runs the CLI in a process
def test_one_changed_byte_changes_the_root(data: Path) -> None:
    before = fingerprint_json("--dataset", data)["root"]
    raw = bytearray((data / "sub" / "b.csv").read_bytes())
    raw[3] ^= 1
    (data / "sub" / "b.csv").write_bytes(bytes(raw))
    assert fingerprint_json("--dataset", data)["root"] != before


def test_names_are_recorded_in_unicode_nfc(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    (d / unicodedata.normalize("NFD", "é.csv")).write_text("1")
    [f] = list_argument(d, PathPolicy()).files
    assert f.name == unicodedata.normalize("NFC", "data/é.csv")


def test_a_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    with open(os.path.join(os.fsencode(d), b"caf\xe9.csv"), "w") as f:
        f.write("1")
    with pytest.raises(InputError, match="not valid UTF-8"):
        list_argument(d, PathPolicy())


@pytest.mark.slow  # runs the CLI in a process
def test_symlink_inside_a_dataset_is_refused_by_default(data: Path, tmp_path: Path) -> None:
    (data / "link.csv").symlink_to(data / "a.csv")
    out = tmp_path / "lineage.json"
    line = assert_one_line_error(run_cli("fingerprint", "--dataset", data, "-o", out))
    assert "data/link.csv is a symbolic link" in line
    assert "--follow-symlinks" in line and "--skip-symlinks" in line  # the CLI names its flags
    assert not out.exists()


def test_policy_errors_name_the_policy_not_a_flag(data: Path) -> None:
    """A training script calling the API has no flags: the message says what to do, and the
    hint names the policy (the CLI turns it into a flag)."""
    (data / "link.csv").symlink_to(data / "a.csv")
    with pytest.raises(PathPolicyError) as info:
        list_argument(data, PathPolicy())
    assert "--" not in info.value.message
    assert info.value.hint == "follow_or_skip_symlinks"
    (data / "link.csv").unlink()
    os.mkfifo(data / "pipe")
    with pytest.raises(PathPolicyError) as info:
        list_argument(data, PathPolicy())
    assert "--" not in info.value.message
    assert info.value.hint == "skip_special"


@pytest.mark.slow  # runs the CLI in a process
def test_skip_symlinks_records_the_link_as_a_skipped_leaf(data: Path, tmp_path: Path) -> None:
    (data / "link.csv").symlink_to(data / "a.csv")
    out = tmp_path / "lineage.json"
    proc = run_cli("fingerprint", "--dataset", data, "--skip-symlinks", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "skipped data/link.csv (symlink)" in proc.stderr
    assert {"kind": "skipped", "path": "data/link.csv", "reason": "symlink"} in manifest_leaves(out)


@pytest.mark.slow  # runs the CLI in a process
def test_follow_symlinks_follows_links_inside_and_records_the_target(data: Path) -> None:
    (data / "link.csv").symlink_to("sub/b.csv")
    listing = list_argument(data, PathPolicy(LinkPolicy.FOLLOW))
    link = next(f for f in listing.files if f.name == "data/link.csv")
    assert link.link == "sub/b.csv"
    plain = fingerprint_json("--dataset", data, "--follow-symlinks")["root"]
    (data / "link.csv").unlink()
    (data / "link.csv").symlink_to("a.csv")
    assert fingerprint_json("--dataset", data, "--follow-symlinks")["root"] != plain


@pytest.mark.slow  # runs the CLI in a process
def test_a_followed_link_may_not_leave_the_dataset(data: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("outside")
    (data / "escape.csv").symlink_to(tmp_path / "secret.txt")
    line = assert_one_line_error(run_cli("fingerprint", "--dataset", data, "--follow-symlinks"))
    assert "leaves the dataset folder" in line


@pytest.mark.parametrize("flag", [[], ["--follow-symlinks"]])
@pytest.mark.slow  # runs the CLI in a process
def test_symlink_loops_are_refused(data: Path, flag: list[str]) -> None:
    (data / "sub" / "loop").symlink_to(data)
    (data / "self").symlink_to("self")
    line = assert_one_line_error(run_cli("fingerprint", "--dataset", data, *flag))
    assert "symbolic link" in line


@pytest.mark.slow  # runs the CLI in a process
def test_special_files_are_refused_or_skipped_on_request(data: Path, tmp_path: Path) -> None:
    os.mkfifo(data / "pipe")
    line = assert_one_line_error(run_cli("fingerprint", "--dataset", data))
    assert "data/pipe is not a regular file" in line
    assert "--skip-special" in line
    out = tmp_path / "l.json"
    proc = run_cli("fingerprint", "--dataset", data, "--skip-special", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert {"kind": "skipped", "path": "data/pipe", "reason": "special"} in manifest_leaves(out)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="aichain-unreadable-"))
    d.chmod(0o777)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# The interpreter lives under /root, which an unprivileged user cannot enter, so the process
# under test starts as root, loads the tool, then drops to `nobody` before touching any input.
_DROP_AND_RUN = """
import contextlib, io, os, sys, tempfile
from aichain_audit.cli import main
# Warm-up as root on a readable folder, so every module on this code path is imported.
with tempfile.TemporaryDirectory() as d:
    os.mkdir(os.path.join(d, "w"))
    open(os.path.join(d, "w", "f"), "w").close()
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
        main(["fingerprint", "--dataset", os.path.join(d, "w"), "-o", os.path.join(d, "o.json")])
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
main(sys.argv[1:])
"""


def run_unprivileged(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Runs `aichain fingerprint ARGS` with root's privileges dropped, so file modes apply."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", _DROP_AND_RUN, "fingerprint", *map(str, args)],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow  # runs the CLI in a process
def test_unreadable_files_are_refused_or_skipped_with_privileges_dropped(shared_tmp: Path) -> None:
    data = shared_tmp / "data"
    data.mkdir()
    data.chmod(0o755)
    (data / "ok.csv").write_text("1")
    (data / "ok.csv").chmod(0o644)
    secret = data / "secret.csv"
    secret.write_text("2")
    secret.chmod(0o000)
    out = shared_tmp / "lineage.json"
    line = assert_one_line_error(run_unprivileged("--dataset", data, "-o", out))
    assert "data/secret.csv" in line
    assert "--skip-unreadable" in line
    assert not out.exists()
    proc = run_unprivileged("--dataset", data, "--skip-unreadable", "-o", out)
    assert proc.returncode == 0, proc.stderr
    leaves = manifest_leaves(out)
    assert {"kind": "skipped", "path": "data/secret.csv", "reason": "unreadable"} in leaves
    assert any(leaf.get("path") == "data/ok.csv" for leaf in leaves)


@pytest.mark.slow  # runs the CLI in a process
def test_unreadable_folders_are_refused_with_privileges_dropped(shared_tmp: Path) -> None:
    data = shared_tmp / "data"
    (data / "locked").mkdir(parents=True)
    data.chmod(0o755)
    (data / "locked").chmod(0o000)
    line = assert_one_line_error(run_unprivileged("--dataset", data))
    assert "data/locked" in line


@pytest.mark.slow  # runs the CLI in a process
def test_missing_paths_give_one_line_and_exit_2(tmp_path: Path) -> None:
    line = assert_one_line_error(run_cli("fingerprint", "--dataset", tmp_path / "nope"))
    assert "no such file or folder" in line


def test_resolve_inside_refuses_a_symlink_escape(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "out").symlink_to(tmp_path)
    with pytest.raises(PathPolicyError, match="escapes"):
        resolve_inside(base, "out/anything")
    assert resolve_inside(base, "in.bin") == (base / "in.bin").resolve()


def test_two_names_equal_after_nfc_are_refused(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    (d / unicodedata.normalize("NFD", "é")).write_text("1")
    (d / unicodedata.normalize("NFC", "é")).write_text("2")
    if len(os.listdir(d)) != 2:  # a file system that normalises names itself
        pytest.fail("this file system merged the names; the test needs distinct names")
    with pytest.raises(InputError, match="NFC"):
        list_argument(d, PathPolicy())


def test_top_level_socket_is_refused(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        with pytest.raises(PathPolicyError, match="not a regular file"):
            list_argument(path, PathPolicy())


@pytest.mark.slow  # runs the CLI in a process
def test_follow_symlinks_refuses_a_folder_reached_twice_through_links(tmp_path: Path) -> None:
    """16 levels of two links each would give 2**16 leaves from one file (issue 6, item 4)."""
    level = tmp_path / "l0"
    level.mkdir()
    top = level
    for i in range(1, 17):
        below = level / f"l{i}"
        below.mkdir()
        (level / "a").symlink_to(below.name)
        (level / "b").symlink_to(below.name)
        level = below
    (level / "f.csv").write_text("1")
    with pytest.raises(PathPolicyError, match="reached twice"):
        list_argument(top, PathPolicy(LinkPolicy.FOLLOW))
    line = assert_one_line_error(run_cli("fingerprint", "--dataset", top, "--follow-symlinks"))
    assert "reached twice" in line and "--skip-symlinks" in line


def test_a_folder_link_beside_its_target_is_followed_once(data: Path) -> None:
    (data / "latest").symlink_to("sub")
    listing = list_argument(data, PathPolicy(LinkPolicy.FOLLOW))
    assert {f.name: f.link for f in listing.files} == {
        "data/a.csv": None,
        "data/sub/b.csv": None,
        "data/latest/b.csv": "sub/b.csv",
    }


@pytest.mark.slow  # runs the CLI in a process
def test_files_under_a_followed_folder_link_record_their_target(data: Path) -> None:
    (data / "sub" / "deep").mkdir()
    (data / "sub" / "deep" / "c.csv").write_text("3")
    (data / "view").symlink_to("sub")
    listing = list_argument(data, PathPolicy(LinkPolicy.FOLLOW))
    links = {f.name: f.link for f in listing.files if f.name.startswith("data/view/")}
    assert links == {"data/view/b.csv": "sub/b.csv", "data/view/deep/c.csv": "sub/deep/c.csv"}
    proc = run_cli("fingerprint", "--dataset", data, "--follow-symlinks", "--json")
    assert proc.returncode == 0, proc.stderr


def test_two_links_to_one_folder_are_refused(data: Path) -> None:
    (data / "x").symlink_to("sub")
    (data / "y").symlink_to("sub")
    with pytest.raises(PathPolicyError, match="reached twice"):
        list_argument(data, PathPolicy(LinkPolicy.FOLLOW))


def test_a_parent_folder_swapped_for_a_symlink_after_listing_is_not_followed(
    tmp_path: Path,
) -> None:
    """O_NOFOLLOW guards only the last component (issue 6, item 5)."""
    from aichain_audit.fingerprint.hashing import HashJob, digest_files

    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "f.csv").write_text("inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.csv").write_text("secret outside the dataset")
    listing = list_argument(d, PathPolicy())
    [listed] = listing.files
    (d / "sub").rename(tmp_path / "moved")
    (d / "sub").symlink_to(outside)  # the parent, not the file, becomes a link
    [result] = digest_files([HashJob(listed.path, listed.name, listed.size)])
    assert isinstance(result, PathPolicyError), result
    assert "data/sub/f.csv" in result.message


def test_a_grandparent_folder_swapped_for_a_symlink_after_listing_is_not_followed(
    tmp_path: Path,
) -> None:
    """Files are opened relative to their folder, checked once per folder: a folder higher
    up swapped for a link is caught there, for every file under it."""
    from aichain_audit.fingerprint.hashing import HashJob, digest_files

    d = tmp_path / "data"
    (d / "a" / "b").mkdir(parents=True)
    for name in ("f.csv", "g.csv"):
        (d / "a" / "b" / name).write_text("inside")
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    for name in ("f.csv", "g.csv"):
        (outside / "b" / name).write_text("secret outside the dataset")
    listing = list_argument(d, PathPolicy())
    (d / "a").rename(tmp_path / "moved")
    (d / "a").symlink_to(outside)
    results = digest_files([HashJob(f.path, f.name, f.size) for f in listing.files])
    assert all(isinstance(r, PathPolicyError) for r in results), results
    assert [r.message.split(":")[0] for r in results if isinstance(r, PathPolicyError)] == [
        "data/a/b/f.csv",
        "data/a/b/g.csv",
    ]


# Folder names whose NFC form differs from their text (NFD accents, Hangul jamo, the Angstrom
# sign), beside any other valid name.
_UNNORMALISED = st.text(
    st.sampled_from(["e", "\u0301", "A", "\u030a", "\u212b", "\u1100", "\u1161", "\u00e9", "x"]),
    min_size=1,
    max_size=8,
)
_ANY_NAME = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="/\\\x00#"),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.one_of(_UNNORMALISED, _ANY_NAME))
def test_every_manifest_written_with_followed_links_is_read_back(target: str) -> None:
    """SPEC 4: the `link` member is normalised to NFC like every recorded path, so a link
    whose target's name is not NFC (NFD `e\u0301`) gives a manifest the tool reads back."""
    assume(target not in (".", "..") and len(os.fsencode(target)) <= 255)
    assume(unicodedata.normalize("NFC", target) not in ("latest", "alias.csv"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        (data / target / "sub").mkdir(parents=True)
        (data / target / "a.csv").write_text("1")
        (data / target / "sub" / "b.csv").write_text("2")
        (data / "latest").symlink_to(target)  # a followed folder link
        (data / "alias.csv").symlink_to(f"{target}/a.csv")  # a followed file link
        result = api.fingerprint(datasets=[data], policy=PathPolicy(LinkPolicy.FOLLOW))
        written = result.manifest.to_json()
    read = LineageManifest.from_json(written)
    assert read.root == result.manifest.root
    t = unicodedata.normalize("NFC", target)
    assert {leaf["path"]: leaf.get("link") for leaf in read.dataset_leaves()} == {
        f"data/{t}/a.csv": None,
        f"data/{t}/sub/b.csv": None,
        "data/latest/a.csv": f"{t}/a.csv",
        "data/latest/sub/b.csv": f"{t}/sub/b.csv",
        "data/alias.csv": f"{t}/a.csv",
    }
