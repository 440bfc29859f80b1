"""holistics-schedules: Holistics data schedules as code.

`__version__` is the one place the version is written: setuptools reads it (pyproject's
`dynamic = ["version"]`) into the wheel's metadata, and the tool reads it for `--version` and its
User-Agent, so a checkout, an editable install and a wheel all say the same. It stays a plain
literal so setuptools can read it without importing the package. A `.devN` suffix means
unreleased; a release sets it to `X.Y.Z`, dates CHANGELOG.md's section and tags `vX.Y.Z`
(tests/e2e/test_release.py checks all three agree).
"""

__version__ = "0.2.0.dev0"
