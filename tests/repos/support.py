"""Building fixture repositories with real git, for the repository tool tests."""

import os
import subprocess
from pathlib import Path

PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
BIG_LINES = 3000
LONG_LINE_CHARS = 5000


def git(*args: str, cwd: Path) -> str:
    """Run git in `cwd` as the tests' fixed author; the output, or CalledProcessError."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Fixture",
        "GIT_AUTHOR_EMAIL": "fixture@example.com",
        "GIT_COMMITTER_NAME": "Fixture",
        "GIT_COMMITTER_EMAIL": "fixture@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def write(root: Path, rel: str, content: str | bytes) -> Path:
    """Write a file under `root`, making its folders."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def make_upstream(root: Path, outside: Path) -> Path:
    """A repository with ordinary files, ignored files, secrets, a binary, big files and
    symlinks, committed on `main`; `outside` gets a file the symlinks point at."""
    write(outside, "notes.txt", "hello from outside the repository\n")
    root.mkdir(parents=True)
    git("init", "--quiet", "--initial-branch=main", cwd=root)
    files: dict[str, str | bytes] = {
        "README.md": "# Demo\n\nhello from the demo repository.\n",
        "src/app.py": (
            "from src.util.strings import shout\n\n\n"
            "def main() -> str:\n    return greet('world')\n\n\n"
            "def greet(name: str) -> str:\n    return shout(f'hello {name}')\n"
        ),
        "src/util/strings.py": "def shout(text: str) -> str:\n    return text.upper()  # hello\n",
        "src/.gitignore": "generated/\n!keep.log\n",
        "src/keep.log": "hello, kept by a negation in src/.gitignore\n",
        "src/generated/schema.py": "HELLO = 'generated, and ignored'\n",
        "docs/guide.md": "# Guide\n\nSay hello.\n",
        ".github/workflows/ci.yml": "name: ci  # hello\n",
        ".gitignore": "*.log\nbuild/\n",
        "debug.log": "hello from an ignored log\n",
        "build/out.txt": "hello from an ignored folder\n",
        ".env": "API_KEY=sk-live-hello\n",
        ".env.production": "API_KEY=sk-prod-hello\n",
        "config/credentials.json": '{"token": "hello"}\n',
        "config/settings.toml": "greeting = 'hello'\n",
        "secrets/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\nhello\n",
        "certs/server.pem": "-----BEGIN CERTIFICATE-----\nhello\n",
        "deploy/id_ed25519.pub": "ssh-ed25519 AAAA hello\n",
        "logo.png": PNG_BYTES,
        "big.txt": "".join(f"line {n} of a big file\n" for n in range(1, BIG_LINES + 1)),
        "long_line.txt": "hello " + "x" * (LONG_LINE_CHARS - 6) + "\nshort\n",
        "crlf.txt": "hello\r\nworld\r\n",
    }
    for rel, content in files.items():
        write(root, rel, content)
    (root / "outside_link.txt").symlink_to(outside / "notes.txt")
    (root / "outside_dir").symlink_to(outside, target_is_directory=True)
    (root / "parent_link").symlink_to("..", target_is_directory=True)
    (root / "readme_link.md").symlink_to("README.md")
    (root / "env_link").symlink_to(".env")
    git("add", "--all", cwd=root)
    git("add", "--force", "debug.log", "build/out.txt", "src/generated/schema.py", cwd=root)
    git("commit", "--quiet", "-m", "Initial commit", cwd=root)
    return root


def commit_file(root: Path, rel: str, content: str, message: str) -> str:
    """Add or change one file upstream and commit it; the new commit's sha."""
    write(root, rel, content)
    git("add", rel, cwd=root)
    git("commit", "--quiet", "-m", message, cwd=root)
    return git("rev-parse", "HEAD", cwd=root)
