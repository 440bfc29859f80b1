"""Draw docs/plan-comment.png: a plan comment as GitHub shows it, made from the real CLI's output.

    .venv/bin/python scripts/plan_picture.py [--out docs/plan-comment.png] [--keep-html DIR]

What it does, so the README's picture stays true to what the tool prints:
1. starts the sandbox in-process (seed "example") and, in a temporary git repository, applies a copy
   of schedules/ to it (the workspace then matches the YAML), commits that as the base;
2. makes a small change set as a pull request would (one entry's recipients and cron changed, one
   entry added, one removed), commits it, and runs the CLI (`python -m reconciler`, what
   `holistics-schedules` runs): `plan --format markdown --prune-since HEAD~1`, with NO_COLOR=1;
3. renders that markdown with cmark-gfm (the `cmarkgfm` package, GitHub's own renderer), then does
   what GitHub does after cmark-gfm and cmark-gfm cannot: `> [!WARNING]`-style blockquotes become
   GitHub's alerts (with Primer's octicons) and ```diff blocks get GitHub's +/- line colours;
   the first two <details> are opened so the picture shows a diff;
4. lays it out in a comment frame styled by the `github-markdown-css` package (light theme) and
   screenshots it with headless Chromium, sized to the content.

Requirements (none of them is needed by the tool or its tests, and CI does not install them):
- the project's venv (`pip install -e '.[dev]'`: cmarkgfm, ruamel.yaml);
- Chromium: `apt-get install chromium` (or CHROMIUM=/path/to/chrome);
- npm, which installs `github-markdown-css` and `@primer/octicons` into the temporary directory;
- git; and for GitHub's look, the fonts of its stack or metric-compatible ones (Debian's
  fonts-liberation, which Chromium's package pulls in).

Nothing is written outside the temporary directory but the output file: npm's cache and Chromium's
profile are pointed into it, and git runs without the user's configuration.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NPM_PACKAGES = ("github-markdown-css@5.9.0", "@primer/octicons@19.42.0")  # pinned: the same picture from the same plan
WIDTH = 900  # the window; the comment itself is 780 px wide, as in a pull request's timeline
# device pixels per CSS pixel: 2 is sharp on the high-density screens most READMEs are read on; a
# lower one is used only if the picture would be too heavy for a README
SCALES = (2.0, 1.5, 1.0)
MAX_BYTES = 300 * 1024
ALERTS = {  # GitHub's alert types, their titles and octicons
    "NOTE": ("Note", "info"),
    "TIP": ("Tip", "light-bulb"),
    "IMPORTANT": ("Important", "report"),
    "WARNING": ("Warning", "alert"),
    "CAUTION": ("Caution", "stop"),
}


class Missing(SystemExit):
    """A tool this script needs is not installed: say which, and how to get it."""

    def __init__(self, what: str) -> None:
        super().__init__(f"plan_picture: {what}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "plan-comment.png")
    parser.add_argument("--keep-html", type=Path, metavar="DIR", help="also write the page and its markdown here")
    args = parser.parse_args(argv)
    chromium, npm = _tools()
    with tempfile.TemporaryDirectory(prefix="plan-picture-") as tmp_name:
        tmp = Path(tmp_name)
        modules = _npm_install(npm, tmp)
        markdown = _plan_markdown(tmp / "repo")
        page = tmp / "page.html"
        page.write_text(_page(_github_html(markdown), modules), encoding="utf-8")
        if args.keep_html:
            args.keep_html.mkdir(parents=True, exist_ok=True)
            (args.keep_html / "plan.md").write_text(markdown, encoding="utf-8")
            shutil.copy(page, args.keep_html / "page.html")
        window = _window_height(chromium, page, tmp)
        shot = tmp / "shot.png"
        for scale in SCALES:  # the sharpest that stays small enough for a README
            _chromium(chromium, tmp, scale, f"--window-size={WIDTH},{window}", f"--screenshot={shot}", page.as_uri())
            if not shot.is_file():
                raise SystemExit("plan_picture: Chromium ran but wrote no screenshot")
            if shot.stat().st_size <= MAX_BYTES:
                break
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, args.out)
    size = args.out.stat().st_size // 1024
    print(f"wrote {args.out} ({WIDTH}x{window} CSS px at {scale}x, {size} KB)")
    if size * 1024 > MAX_BYTES:
        print(f"plan_picture: over {MAX_BYTES // 1024} KB even at {scale}x: shorten the change set", file=sys.stderr)
        return 1
    return 0


def _tools() -> tuple[str, str]:
    """Chromium and npm, or a clear exit naming the one to install (checked before any work)."""
    chosen = os.environ.get("CHROMIUM")
    names = [chosen] if chosen else ["chromium", "chromium-browser", "google-chrome"]
    chromium = next(filter(None, map(shutil.which, names)), None)
    if chosen and not chromium:
        raise Missing(f"CHROMIUM={chosen} is not an executable Chromium or Chrome")
    if not chromium:
        raise Missing("needs Chromium for the screenshot: apt-get install chromium (or set CHROMIUM=/path/to/chrome)")
    npm = shutil.which("npm")
    if not npm:
        raise Missing("needs npm to fetch github-markdown-css and @primer/octicons: apt-get install npm")
    if not shutil.which("git"):
        raise Missing("needs git for `plan --prune-since`: apt-get install git")
    try:
        import cmarkgfm  # type: ignore[import-untyped]  # noqa: F401
        import ruamel.yaml  # noqa: F401

        import reconciler  # noqa: F401
    except ImportError as exc:
        raise Missing(f"needs {exc.name}: run it with the project's venv (pip install -e '.[dev]')") from None
    return chromium, npm


def _run(cmd: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(list(cmd), cwd=cwd, env=dict(env) if env else None, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"plan_picture: `{' '.join(cmd)}` failed (exit {done.returncode}):\n{done.stdout}{done.stderr}".rstrip()
        )
    return done.stdout


def _npm_install(npm: str, tmp: Path) -> Path:
    prefix = tmp / "npm"
    prefix.mkdir()
    env = {**os.environ, "npm_config_cache": str(tmp / "npm-cache"), "npm_config_update_notifier": "false"}
    _run(
        [npm, "install", "--prefix", str(prefix), "--no-save", "--no-audit", "--no-fund", "--silent", *NPM_PACKAGES],
        env=env,
    )
    return prefix / "node_modules"


# --- the plan ---------------------------------------------------------------------------------------


def _plan_markdown(repo: Path) -> str:
    from reconciler.sandbox import Sandbox

    shutil.copytree(ROOT / "schedules", repo / "schedules")
    git_env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Ana Analyst",
        "GIT_AUTHOR_EMAIL": "ana@example.com",
        "GIT_COMMITTER_NAME": "Ana Analyst",
        "GIT_COMMITTER_EMAIL": "ana@example.com",
        # fixed dates: the removing commit's hash, shown in the plan, is the same on every run
        "GIT_AUTHOR_DATE": "2025-01-06T09:00:00Z",
        "GIT_COMMITTER_DATE": "2025-01-06T09:00:00Z",
    }

    def git(*args: str) -> None:
        _run(["git", "-c", "init.defaultBranch=main", *args], cwd=repo, env=git_env)

    with Sandbox(seed="example") as sandbox:
        env = {
            **os.environ,
            "HOLISTICS_BASE_URL": sandbox.base_url,
            "HOLISTICS_API_KEY": sandbox.key,
            "HOLISTICS_RATE_LIMIT": "none",
            "NO_COLOR": "1",
            "COLUMNS": "120",
            "TMPDIR": str(repo.parent),  # apply's lock file goes there, not into the system's /tmp
        }
        env.pop("HOLISTICS_REGION", None)
        cli = [sys.executable, "-m", "reconciler"]
        # the base: the workspace as the YAML on main says (apply writes the new ids into the files;
        # one request at a time, so the ids, and the commit hash the plan names, are the same each run)
        _run([*cli, "apply", "--auto-approve", "--parallelism", "1"], cwd=repo, env=env)
        git("init", "--quiet")
        git("add", "-A")
        git("commit", "--quiet", "-m", "schedules as on main")
        _change(repo / "schedules")
        git("commit", "--quiet", "-am", "ops: split the digest by warehouse, pipeline to Slack, drop the sheet")
        markdown = _run([*cli, "plan", "--format", "markdown", "--prune-since", "HEAD~1"], cwd=repo, env=env)
    if "| 1 | 1 | 1 |" not in markdown:  # create | update | delete
        raise SystemExit(
            "plan_picture: the change set no longer plans as one create, one update and one delete "
            f"(has schedules/ changed? adjust _change() in {Path(__file__).name}):\n{markdown}"
        )
    return markdown


def _change(schedules: Path) -> None:
    """What a pull request might do: the ops digest moves to weekdays at 06:30 and goes to each
    warehouse's leads; the sales pipeline gets a Monday Slack post; the inventory sheet goes."""
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096

    def edit(name: str, key: str) -> tuple[Path, Any, Any]:
        path = schedules / name
        data = yaml.load(path)
        entries = data["schedules"]
        if key not in entries:
            raise SystemExit(f"plan_picture: schedules/{name} has no entry {key!r}: adjust _change()")
        return path, data, entries

    path, data, entries = edit("ops.yml", "ops-daily-digest")
    digest = entries["ops-daily-digest"]
    digest["schedule"]["repeat"] = DoubleQuotedScalarString("30 6 * * 1-5")
    recipients = digest["dest"]["recipients"]
    recipients.clear()
    recipients.extend(["ops@example.com", "north-warehouse@example.com", "south-warehouse@example.com"])
    del entries["inventory-snapshot-sheet"]
    yaml.dump(data, path)

    path, data, entries = edit("sales.yml", "weekly-sales-email")
    entries["pipeline-review-slack"] = {
        "title": "Pipeline review to Slack",
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": DoubleQuotedScalarString("0 9 * * 1"), "paused": False},
        "dest": {
            "type": "SlackDest",
            "slack_channels": [{"id": "C04SALES02", "name": "sales-leads", "type": "public_channel"}],
            "title": "Pipeline review",
            "message": "This week's pipeline, before the Monday review",
        },
    }
    yaml.dump(data, path)


# --- GitHub's rendering -----------------------------------------------------------------------------


def _github_html(markdown: str) -> str:
    """cmark-gfm's HTML, finished as GitHub finishes it: alerts, highlighted diffs, two sections open."""
    import cmarkgfm
    from cmarkgfm.cmark import Options  # type: ignore[import-untyped]

    body = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    body = re.sub(r"<blockquote>\s*<p>\[!(\w+)\]\s*(.*?)</blockquote>", _alert, body, flags=re.DOTALL)
    diff = r'<pre(?: lang="diff"><code>|><code class="language-diff">)(.*?)</code></pre>'
    body = re.sub(diff, _diff, body, flags=re.DOTALL)
    return body.replace("<details>", "<details open>", 2)


def _alert(match: re.Match[str]) -> str:
    kind = match.group(1).upper()
    if kind not in ALERTS:
        return match.group(0)
    title, icon = ALERTS[kind]
    return (
        f'<div class="markdown-alert markdown-alert-{kind.lower()}"><p class="markdown-alert-title">'
        f'<svg class="octicon octicon-{icon} mr-2" data-octicon="{icon}"></svg>{title}</p>'
        f"<p>{match.group(2)}</div>"
    )


def _diff(match: re.Match[str]) -> str:
    """GitHub highlights a diff block's lines by their first character (its `source.diff` grammar)."""
    lines = []
    for line in match.group(1).rstrip("\n").split("\n"):
        cls = {"+": "pl-mi1", "-": "pl-md"}.get(line[:1])
        lines.append(f'<span class="{cls}"><span class="{cls}">{line[0]}</span>{line[1:]}</span>' if cls else line)
    return '<div class="highlight highlight-source-diff"><pre>' + "\n".join(lines) + "</pre></div>"


def _octicons(body: str, modules: Path) -> str:
    """Inline the octicons the alerts name (from the @primer/octicons package, as GitHub draws them)."""

    def svg(match: re.Match[str]) -> str:
        source = (modules / "@primer" / "octicons" / "build" / "svg" / f"{match.group(2)}-16.svg").read_text()
        inner = source[source.index(">") + 1 : source.rindex("</svg>")]
        return (
            f'<svg class="{match.group(1)}" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">{inner}</svg>'
        )

    return re.sub(r'<svg class="([^"]*)" data-octicon="([\w-]+)"></svg>', svg, body)


def _page(body: str, modules: Path) -> str:
    # inlined, so that the page (and a --keep-html copy) stands alone
    css = (modules / "github-markdown-css" / "github-markdown-light.css").read_text(encoding="utf-8")
    avatar = _octicons('<svg class="octicon" data-octicon="play"></svg>', modules)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>plan comment</title>
<style>
{css}
  body {{ margin: 0; padding: 16px 16px 16px 16px; background: #fff;
         font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }}
  .timeline {{ display: flex; gap: 16px; align-items: flex-start; }}
  .avatar {{ flex: none; width: 40px; height: 40px; border-radius: 50%; background: #2088ff; color: #fff;
            display: flex; align-items: center; justify-content: center; }}
  .avatar svg {{ width: 20px; height: 20px; fill: currentColor; }}
  .comment {{ width: 780px; border: 1px solid #d1d9e0; border-radius: 6px; background: #fff; }}
  .comment-header {{ padding: 8px 16px; background: #f6f8fa; border-bottom: 1px solid #d1d9e0;
                    border-radius: 6px 6px 0 0; font-size: 14px; color: #59636e; }}
  .comment-header strong {{ color: #1f2328; font-weight: 600; }}
  .bot {{ margin: 0 4px; padding: 0 6px; border: 1px solid #d1d9e0; border-radius: 2em; font-size: 12px;
         font-weight: 500; line-height: 18px; display: inline-block; }}
  .markdown-body {{ padding: 16px; font-size: 14px; }}
</style></head>
<body><div class="timeline">
  <div class="avatar">{avatar}</div>
  <div class="comment">
    <div class="comment-header"><strong>github-actions</strong><span class="bot">bot</span> commented now</div>
    <div class="markdown-body">{_octicons(body, modules)}</div>
  </div>
</div>
<script>
  document.body.dataset.height = Math.ceil(document.documentElement.getBoundingClientRect().height);
</script>
</body></html>
"""


# --- Chromium ---------------------------------------------------------------------------------------


def _chromium(chromium: str, tmp: Path, scale: float, *args: str) -> str:
    """Headless Chromium with its profile, cache and crash dumps in the temporary directory."""
    env = {
        **os.environ,
        "HOME": str(tmp / "home"),
        "XDG_CONFIG_HOME": str(tmp / "home" / ".config"),
        "XDG_CACHE_HOME": str(tmp / "home" / ".cache"),
        "TMPDIR": str(tmp),
    }
    return _run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={tmp / 'profile'}",
            f"--force-device-scale-factor={scale:g}",
            *args,
        ],
        env=env,
    )


def _window_height(chromium: str, page: Path, tmp: Path) -> int:
    """The page's height at the screenshot's width (its layout is fixed-width, so the probe window's
    height does not change it): the page's script writes it into the DOM, which --dump-dom prints.
    A --screenshot is exactly the window's size."""
    dom = _chromium(chromium, tmp, 1, f"--window-size={WIDTH},1000", "--dump-dom", page.as_uri())
    found = re.search(r'<body data-height="(\d+)"', dom)
    if not found:
        raise SystemExit("plan_picture: could not measure the page (Chromium's --dump-dom had no height)")
    return int(found.group(1))


if __name__ == "__main__":
    raise SystemExit(main())
