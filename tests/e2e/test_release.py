"""The release as a user installs it: the wheel holds every file the package reads, one version
is written once and said the same everywhere, and the installed tool works away from the source tree.

The wheel is built by pip, with build isolation as any installer would, from a copy of the files git
knows (tracked, or new and not ignored) so that nothing else in this tree (a stale build/, a local
egg-info, a file left lying around) can reach it. It is then unpacked with `pip install --target`
(no dependencies: those are this venv's) and run with only that directory on PYTHONPATH, from an empty
working directory. `scripts/test.sh` adds what is slow or not pytest's: sdist first, `twine check`, a
fresh venv with its dependencies, and the demo from the console script.
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from packaging.version import Version

import reconciler
from reconciler.remote.client.api import DEFAULT_USER_AGENT
from tests.helpers import REPO

CHANGELOG = REPO / "CHANGELOG.md"


def project_files() -> list[str]:
    """What a git checkout of this tree would hold: tracked files and new files not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(name for name in set(listed.split("\0")) if name and (REPO / name).is_file())


@dataclass(frozen=True)
class Built:
    wheel: Path
    names: frozenset[str]
    metadata: Message
    installed: Path  # the wheel unpacked (pip install --target), to run from


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("release")
    source = root / "source"
    for name in project_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    out = root / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--wheel-dir", str(out), str(source)], check=True, capture_output=True, timeout=300
    )
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = frozenset(archive.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(meta_name))
    installed = root / "installed"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-compile", "--target", str(installed), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return Built(wheel, names, metadata, installed)


def run_installed(
    built: Built,
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m reconciler ARGS` with the unpacked wheel first on the path, from `cwd`: neither
    this source tree nor its editable install can stand in for a file the wheel lacks."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_") and k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env={**base, "PYTHONPATH": str(built.installed), "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- what the wheel holds ---------------------------------------------------------------------------


def test_the_wheel_holds_every_file_of_the_package_and_the_data_it_reads(built: Built) -> None:
    # everything under reconciler/ that git knows: modules of every subpackage and every data file,
    # so a new subpackage missing from pyproject's explicit list, or a new data file, fails here
    package = {name for name in project_files() if name.startswith("reconciler/")}
    assert package - built.names == set()
    # by name, the files read at run time (importlib.resources) and the typing marker
    for name in ("reconciler/spec_subset.json", "reconciler/sandbox/example.json", "reconciler/py.typed"):
        assert name in built.names
    # the demo's example: the repository's schedules/, shipped as reconciler/example/
    example = {f"reconciler/example/{p.name}" for p in (REPO / "schedules").iterdir() if p.suffix in (".yml", ".yaml")}
    assert example and example <= built.names
    # and nothing that is not the package's
    assert {n.split("/")[0] for n in built.names} == {
        "reconciler",
        built.wheel.name.split("-")[0] + "-" + built.metadata["Version"] + ".dist-info",
    }


def test_the_packaged_example_is_the_repositorys_schedules_byte_for_byte(built: Built) -> None:
    for path in (REPO / "schedules").glob("*.y*ml"):
        assert (built.installed / "reconciler" / "example" / path.name).read_bytes() == path.read_bytes()


def test_the_readme_is_the_long_description_and_renders(built: Built) -> None:
    import readme_renderer.markdown

    assert built.metadata["Description-Content-Type"] == "text/markdown"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    body = built.metadata.get_payload(decode=True)
    assert isinstance(body, bytes) and body.decode("utf-8").strip() == readme.strip()
    html = readme_renderer.markdown.render(readme)  # what twine check and the index render it with
    assert html is not None and re.search(r"<h2[^>]*>Install", html) and "<table>" in html


def test_the_wheel_declares_the_console_script_and_python(built: Built) -> None:
    (entry_points,) = [n for n in built.names if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(built.wheel) as archive:
        text = archive.read(entry_points).decode()
    assert "holistics-schedules = reconciler.entry:main" in text
    assert built.metadata["Requires-Python"] == ">=3.11"
    assert built.metadata["License-Expression"] == "MIT"


# --- one version --------------------------------------------------------------------------------------


def test_the_version_is_written_once_in_the_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "reconciler.__version__"}
    Version(reconciler.__version__)  # PEP 440, or this raises


def test_the_wheel_the_cli_and_the_user_agent_say_the_same_version(built: Built, tmp_path: Path) -> None:
    version = built.metadata["Version"]
    assert version == reconciler.__version__
    assert built.wheel.name.startswith(f"holistics_schedules-{version}-")
    printed = run_installed(built, "--version", cwd=tmp_path)
    assert (printed.returncode, printed.stdout) == (0, f"holistics-schedules, version {version}\n")
    assert DEFAULT_USER_AGENT.split("/") == ["holistics-schedules", version]


class _Recorder(BaseHTTPRequestHandler):
    agents: ClassVar[list[str]] = []  # each fixture's subclass has its own

    def do_GET(self) -> None:
        type(self).agents.append(self.headers.get("User-Agent", ""))
        body = json.dumps({"type": "AuthError", "message": "bad key"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    agents: ClassVar[list[str]] = []  # each fixture's subclass has its own
    handler = type("Handler", (_Recorder,), {"agents": agents})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v2", agents
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_installed_tool_sends_its_version_as_user_agent(
    built: Built, tmp_path: Path, recorder: tuple[str, list[str]]
) -> None:
    url, agents = recorder
    shutil.copytree(REPO / "schedules", tmp_path / "schedules")
    result = run_installed(
        built, "plan", cwd=tmp_path, env={"HOLISTICS_BASE_URL": url, "HOLISTICS_API_KEY": "k-release-test"}
    )
    assert result.returncode == 1 and "k-release-test" not in result.stdout + result.stderr
    assert agents and set(agents) == {f"holistics-schedules/{built.metadata['Version']}"}


def test_the_changelog_has_the_versions_section() -> None:
    text = CHANGELOG.read_text(encoding="utf-8")
    sections = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, flags=re.M)
    assert sections, "CHANGELOG.md has no '## [version] - date' sections"
    version = Version(reconciler.__version__)
    released = [(name, date) for name, date in sections if name != "Unreleased"]
    assert all(date for _, date in released), "every released section is dated"
    if version.is_devrelease or version.is_prerelease:
        assert sections[0][0] == "Unreleased", "a development version collects its changes under Unreleased"
        assert Version(released[0][0]) < version
    else:
        assert released[0][0] == str(version), f"CHANGELOG.md's newest release is not {version}"


def test_a_tagged_commit_is_the_release_of_its_tag() -> None:
    tags = subprocess.run(
        ["git", "tag", "--points-at", "HEAD", "--list", "v*"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for tag in tags:  # none on an ordinary commit; on a release, git+https installs of @tag must match
        assert tag == f"v{reconciler.__version__}", f"HEAD is tagged {tag}; the package says {reconciler.__version__}"


# --- installed, away from the source tree ---------------------------------------------------------


def test_the_installed_demo_runs_its_packaged_example_from_anywhere(built: Built, tmp_path: Path) -> None:
    # an empty directory: no schedules/ and no reconciler/ to fall back on
    result = run_installed(built, "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"({built.installed / 'reconciler' / 'example'}/)" in result.stdout
    assert (
        "Plan: 5 to create, 3 to update, 0 to delete. (schedules: 4 to create, 3 to update, 0 to delete;"
        " alerts: 1 to create, 0 to update, 0 to delete)"
    ) in result.stdout
    assert "No changes. The workspace matches the YAML." in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_the_demo_ignores_the_project_config_and_settings_where_it_is_run(tmp_path: Path) -> None:
    # run inside someone's repository: their config's scope and safety, their region and pacing
    (tmp_path / "holistics-schedules.yml").write_text(
        "scope:\n  dashboards: [1]\nsafety:\n  max_change_share: 0.01\n  min_managed: 0\n"
        "connection:\n  region: eu\n  rate_limit: 1/60\n"
    )
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "mine.yml").write_text("schedules: {}\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")},
        "NO_COLOR": "1",
        "HOLISTICS_REGION": "us",
        "HOLISTICS_RATE_LIMIT": "1/60",
    }
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "Plan: 5 to create, 3 to update, 0 to delete. (schedules: 4 to create, 3 to update, 0 to delete;"
        " alerts: 1 to create, 0 to update, 0 to delete)"
    ) in result.stdout
    assert (tmp_path / "schedules" / "mine.yml").read_text() == "schedules: {}\n"
