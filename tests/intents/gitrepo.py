"""A Git repository on disk for the GitOps tests: a bare 'server' and a work tree that
commits and pushes to it, as an operator's clone would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class GitRepo:
    """A bare repository (``url``) and a clone that commits to its ``main`` branch."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bare = root / "intents.git"
        self.work = root / "work"
        self.env = {
            **os.environ,
            "HOME": str(root),  # no user or system configuration leaks in
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Ana Operator",
            "GIT_AUTHOR_EMAIL": "ana@example.org",
            "GIT_COMMITTER_NAME": "Ana Operator",
            "GIT_COMMITTER_EMAIL": "ana@example.org",
        }
        self.git("init", "--quiet", "--bare", "-b", "main", str(self.bare))
        self.git("init", "--quiet", "-b", "main", str(self.work))
        self.git("-C", str(self.work), "remote", "add", "origin", str(self.bare))

    @property
    def url(self) -> str:
        return str(self.bare)

    def git(self, *args: str) -> str:
        completed = subprocess.run(
            ["git", *args], env=self.env, capture_output=True, text=True, check=False
        )
        assert completed.returncode == 0, completed.stderr
        return completed.stdout.strip()

    def commit(self, files: dict[str, str | None], message: str, *, branch: str = "main") -> str:
        """Write (or, for None, delete) files, commit and push; returns the commit id."""
        self.git("-C", str(self.work), "checkout", "--quiet", "-B", branch)
        for name, text in files.items():
            path = self.work / name
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        self.git("-C", str(self.work), "add", "--all")
        self.git("-C", str(self.work), "commit", "--quiet", "--allow-empty", "-m", message)
        self.git("-C", str(self.work), "push", "--quiet", "--force", "origin", f"HEAD:{branch}")
        return self.git("-C", str(self.work), "rev-parse", "HEAD")
