"""What the README tells a new user to run: the release it installs, the version it then prints, and
the adoption steps, against what the package and CHANGELOG.md say (a fresh clone followed them)."""

from __future__ import annotations

import re

from packaging.version import Version

import reconciler
from reconciler.usecases import importing
from tests.helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def released() -> list[str]:
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    return re.findall(r"^## \[(\d[^\]]*)\] - \d{4}-\d{2}-\d{2}$", text, flags=re.M)


def test_the_install_section_installs_a_release_and_says_what_it_prints() -> None:
    section = README.split("## Install and connect", 1)[1].split("\n## ", 1)[0]
    tags = set(re.findall(r"@v(\d+\.\d+\.\d+)\"", section))
    newest = released()[0]
    assert tags == {newest}, f"the README installs {tags}; the newest release in CHANGELOG.md is {newest}"
    (printed,) = re.findall(r"--version +# (.*)", section)
    assert printed.startswith(f"holistics-schedules, version {newest}")
    if Version(reconciler.__version__).is_devrelease:  # a checkout says more than the release it follows
        assert reconciler.__version__ in printed and reconciler.__version__ in section.split("```")[0]


def test_the_adoption_path_makes_the_schema_the_imported_files_name() -> None:
    section = README.split("## Adopt it in ten lines", 1)[1].split("\n## ", 1)[0]
    steps = [line.split("#")[0].strip() for line in section.split("```bash", 1)[1].split("```")[0].splitlines()]
    schema = f"holistics-schedules schema > {importing.SCHEMA_FILE}"
    assert "holistics-schedules import" in steps and schema in steps
    assert steps.index("holistics-schedules import") < steps.index(schema)
