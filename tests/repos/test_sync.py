"""Mirrors: clone, fetch a new commit, keep the last good checkout, tokens, local folders."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.repos import (
    RepoMirror,
    RepoSet,
    RepoSpec,
    RepoSyncError,
    RepoTools,
    RepoUnavailableError,
)
from tests.repos.git_http import GitHttpServer
from tests.repos.support import commit_file, git, write

TOKEN = "tok_9f8e7d6c5b4a-secret"


def test_first_sync_clones_the_default_branch(upstream: Path, tmp_path: Path) -> None:
    mirror = RepoMirror(RepoSpec(name="demo", url=upstream.as_uri()), tmp_path / "cache")
    snapshot = mirror.sync()

    assert snapshot.commit == git("rev-parse", "HEAD", cwd=upstream)
    assert mirror.commit() == snapshot.commit
    assert snapshot.branch == "main"
    assert mirror.root == (tmp_path / "cache" / "demo").resolve()
    assert (mirror.root / "src" / "app.py").is_file()
    assert mirror.synced_at is not None
    assert snapshot.header.startswith(f"repo demo @ {snapshot.commit[:12]} (main, fetched ")


def test_a_later_sync_fetches_the_new_commit_and_the_tools_see_it(
    mirror: RepoMirror, upstream: Path
) -> None:
    tools = RepoTools(RepoSet([mirror]))
    before = mirror.commit()
    assert tools.read_file(repo="demo", path="src/feature.py").is_error

    new = commit_file(
        upstream, "src/feature.py", "def feature_flag():\n    return True\n", "Add feature"
    )
    assert mirror.commit() == before  # nothing moves until the next sync
    mirror.sync()

    assert mirror.commit() == new != before
    read = tools.read_file(repo="demo", path="src/feature.py")
    assert not read.is_error
    assert read.text.startswith(f"repo demo @ {new[:12]}")
    assert "def feature_flag" in read.text
    assert "src/feature.py" in tools.list_files(repo="demo", pattern="*.py").files
    assert tools.search_code(repo="demo", pattern="feature_flag").files == ["src/feature.py"]


def test_sync_drops_files_that_are_not_in_the_commit(mirror: RepoMirror) -> None:
    stray = write(mirror.root, "stray.txt", "left behind\n")
    (mirror.root / "README.md").write_text("edited in the mirror\n", encoding="utf-8")
    mirror.sync()
    assert not stray.exists()
    assert "hello from the demo repository" in (mirror.root / "README.md").read_text()


def test_a_failed_fetch_keeps_the_last_good_checkout(
    mirror: RepoMirror, upstream: Path, tmp_path: Path
) -> None:
    good = mirror.commit()
    upstream.rename(tmp_path / "moved-away")

    with pytest.raises(RepoSyncError) as raised:
        mirror.sync()

    assert "couldn't fetch repo demo from file://" in str(raised.value)
    assert mirror.last_error == str(raised.value)
    assert mirror.commit() == good
    read = RepoTools(RepoSet([mirror])).read_file(repo="demo", path="README.md")
    assert not read.is_error and "hello from the demo repository" in read.text

    (tmp_path / "moved-away").rename(upstream)
    mirror.sync()
    assert mirror.last_error is None


def test_a_repository_never_fetched_is_unavailable(tmp_path: Path) -> None:
    missing = (tmp_path / "no-such-repo").as_uri()
    mirror = RepoMirror(RepoSpec(name="ghost", url=missing), tmp_path / "cache")
    with pytest.raises(RepoSyncError, match="check the URL"):
        mirror.sync()
    with pytest.raises(RepoUnavailableError), mirror.reading():
        pass
    assert mirror.commit() is None
    result = RepoTools(RepoSet([mirror])).list_files(repo="ghost")
    assert result.is_error
    assert "repo ghost has not been fetched" in result.text
    assert not (tmp_path / "cache" / "ghost").exists()
    left = [p.name for p in (tmp_path / "cache").iterdir()]
    assert left == [".locks"]  # the lock files, and no half-made clone


def test_a_named_branch_is_followed(upstream: Path, tmp_path: Path) -> None:
    git("checkout", "--quiet", "-b", "release", cwd=upstream)
    release = commit_file(upstream, "RELEASE.md", "release notes\n", "Release notes")
    git("checkout", "--quiet", "main", cwd=upstream)
    spec = RepoSpec(name="demo", url=upstream.as_uri(), branch="release")
    mirror = RepoMirror(spec, tmp_path / "cache")

    snapshot = mirror.sync()

    assert snapshot.commit == release
    assert snapshot.branch == "release"
    assert (mirror.root / "RELEASE.md").is_file()
    commit_file(upstream, "other.txt", "on main only\n", "Main moves on")
    assert mirror.sync().commit == release


def test_a_new_process_reads_the_mirror_before_its_first_fetch(
    mirror: RepoMirror, tmp_path: Path
) -> None:
    again = RepoMirror(mirror.spec, tmp_path / "cache")
    with again.reading() as snapshot:
        assert snapshot.commit == mirror.commit()
        assert snapshot.synced_at == mirror.synced_at
        assert snapshot.branch == "main"


def test_a_changed_url_is_cloned_afresh(mirror: RepoMirror, upstream: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git("clone", "--quiet", str(upstream), str(other), cwd=tmp_path)
    newer = commit_file(other, "OTHER.md", "another upstream\n", "Other")
    moved = RepoMirror(RepoSpec(name="demo", url=other.as_uri()), tmp_path / "cache")
    assert moved.sync().commit == newer
    assert git("config", "--get", "remote.origin.url", cwd=moved.root) == other.as_uri()


def test_reads_during_syncs_see_whole_commits(mirror: RepoMirror, upstream: Path) -> None:
    tools = RepoTools(RepoSet([mirror]))
    failures: list[str] = []
    done = threading.Event()

    def read_repeatedly() -> None:
        while not done.is_set():
            result = tools.read_file(repo="demo", path="src/app.py")
            if result.is_error or "def greet" not in result.text:
                failures.append(result.text)

    readers = [threading.Thread(target=read_repeatedly) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for number in range(3):
            commit_file(upstream, "counter.txt", f"{number}\n", f"Count {number}")
            mirror.sync()
    finally:
        done.set()
        for reader in readers:
            reader.join(timeout=30)
    assert failures == []
    assert (mirror.root / "counter.txt").read_text() == "2\n"


_HOLD_A_READ = """
import sys
from pathlib import Path
from bot.repos import RepoMirror, RepoSpec
mirror = RepoMirror(RepoSpec(name="demo", url=sys.argv[1]), Path(sys.argv[2]))
with mirror.reading() as snapshot:
    print(snapshot.commit, flush=True)
    sys.stdin.readline()
"""


def test_a_sync_waits_for_a_read_in_another_process(
    mirror: RepoMirror, upstream: Path, tmp_path: Path
) -> None:
    before = mirror.commit()
    reader = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_READ, str(mirror.spec.url), str(tmp_path / "cache")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdin is not None and reader.stdout is not None
    try:
        assert reader.stdout.readline().strip() == before  # the other process is reading
        newer = commit_file(upstream, "counter.txt", "1\n", "Count 1")
        syncing = threading.Thread(target=mirror.sync)
        syncing.start()
        syncing.join(timeout=1.5)
        assert syncing.is_alive()  # the tree is not moved under the other process's read
        assert mirror.commit() == before
        reader.stdin.write("done\n")
        reader.stdin.flush()
        syncing.join(timeout=30)
        assert not syncing.is_alive()
        assert mirror.commit() == newer
    finally:
        reader.kill()
        reader.wait()


# Local folders


def test_a_local_git_folder_is_read_in_place(upstream: Path) -> None:
    mirror = RepoMirror(RepoSpec(name="local", path=upstream), upstream.parent / "unused-cache")
    write(upstream, "notes.log", "an untracked, ignored file\n")
    snapshot = mirror.sync()
    assert snapshot.root == upstream.resolve()
    assert snapshot.commit == git("rev-parse", "HEAD", cwd=upstream)
    assert snapshot.header == f"repo local @ {snapshot.commit[:12]} (main, local folder)"
    assert not (upstream.parent / "unused-cache").exists()
    tools = RepoTools(RepoSet([mirror]))
    assert "notes.log" not in tools.list_files(repo="local").files
    assert tools.read_file(repo="local", path="notes.log").is_error


def test_a_plain_folder_has_no_commit(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    write(folder, "a.txt", "hello\n")
    mirror = RepoMirror(RepoSpec(name="plain", path=folder), tmp_path / "cache")
    assert mirror.commit() is None
    result = RepoTools(RepoSet([mirror])).read_file(repo="plain", path="a.txt")
    assert result.text.startswith("repo plain (local folder, not a git checkout)")


def test_a_missing_local_folder_is_reported(tmp_path: Path) -> None:
    mirror = RepoMirror(RepoSpec(name="gone", path=tmp_path / "gone"), tmp_path / "cache")
    with pytest.raises(RepoSyncError, match="does not exist"):
        mirror.sync()
    result = RepoTools(RepoSet([mirror])).read_file(repo="gone", path="a.txt")
    assert result.is_error and "does not exist" in result.text


def test_sync_all_reports_each_repository(mirror: RepoMirror, tmp_path: Path) -> None:
    broken = RepoMirror(
        RepoSpec(name="broken", url=(tmp_path / "nowhere").as_uri()), tmp_path / "cache"
    )
    outcome = RepoSet([mirror, broken]).sync_all()
    assert outcome["demo"] is None
    assert outcome["broken"] is not None and "couldn't fetch repo broken" in outcome["broken"]


# Tokens


@pytest.fixture
def git_server(upstream: Path, tmp_path: Path) -> GitHttpServer:
    served = tmp_path / "served"
    served.mkdir()
    git("clone", "--quiet", "--bare", str(upstream), str(served / "demo.git"), cwd=tmp_path)
    return GitHttpServer(served, credentials=f"x-access-token:{TOKEN}")


def test_a_token_from_the_environment_is_sent_but_never_stored(
    git_server: GitHttpServer, upstream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_REPO_TOKEN", TOKEN)
    with git_server.running():
        spec = RepoSpec(name="private", url=git_server.url("demo.git"), token_env="DEMO_REPO_TOKEN")
        mirror = RepoMirror(spec, tmp_path / "cache")
        assert mirror.sync().commit == git("rev-parse", "HEAD", cwd=upstream)
        commit_file(upstream, "later.txt", "later\n", "Later")
        git("push", "--quiet", str(git_server.project_root / "demo.git"), "main", cwd=upstream)
        assert mirror.sync().commit == git("rev-parse", "HEAD", cwd=upstream)

    assert git_server.authorizations and set(git_server.authorizations) == {git_server.expected}
    assert TOKEN not in (mirror.root / ".git" / "config").read_text()
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert TOKEN.encode() not in path.read_bytes(), path
            assert git_server.expected.split()[-1].encode() not in path.read_bytes(), path


def test_a_rejected_token_fails_without_showing_it(
    git_server: GitHttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "tok_wrong_0123456789"
    monkeypatch.setenv("DEMO_REPO_TOKEN", wrong)
    with git_server.running():
        spec = RepoSpec(name="private", url=git_server.url("demo.git"), token_env="DEMO_REPO_TOKEN")
        mirror = RepoMirror(spec, tmp_path / "cache")
        with pytest.raises(RepoSyncError) as raised:
            mirror.sync()
    message = str(raised.value)
    assert "refused access" in message and "DEMO_REPO_TOKEN" in message
    assert wrong not in message and TOKEN not in message
    assert mirror.last_error == message


def test_a_missing_token_variable_is_named(
    git_server: GitHttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEMO_REPO_TOKEN", raising=False)
    spec = RepoSpec(name="private", url=git_server.url("demo.git"), token_env="DEMO_REPO_TOKEN")
    with pytest.raises(RepoSyncError, match=r"DEMO_REPO_TOKEN .* is not set"):
        RepoMirror(spec, tmp_path / "cache").sync()


def test_without_a_token_a_private_server_refuses(
    git_server: GitHttpServer, tmp_path: Path
) -> None:
    with git_server.running():
        mirror = RepoMirror(
            RepoSpec(name="private", url=git_server.url("demo.git")), tmp_path / "c"
        )
        with pytest.raises(RepoSyncError, match="refused access"):
            mirror.sync()
    assert git_server.authorizations[0] is None


def test_tokens_can_come_from_a_mapping_other_than_the_environment(
    git_server: GitHttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEMO_REPO_TOKEN", raising=False)
    spec = RepoSpec(name="private", url=git_server.url("demo.git"), token_env="DEMO_REPO_TOKEN")
    repos = RepoSet.from_specs(
        [spec], cache_dir=tmp_path / "cache", environ={"DEMO_REPO_TOKEN": TOKEN}
    )
    with git_server.running():
        assert repos.sync_all() == {"private": None}
