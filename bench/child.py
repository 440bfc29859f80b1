"""Run the real CLI in this process with timers around its phases: `python -m bench.child OUT.json -- ARGV...`.

The wrappers only time the calls they wrap (the CLI's own functions, unchanged) and write to OUT.json:
each phase's wall time, the process's peak RSS at the end of the command, the CLI's exit code, and the CPU
time of the pure diff, `reconciler.core.build.plan(desired, remote, kind=...)`, re-run on the inputs the CLI
planned from.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class AfterImport(importlib.abc.MetaPathFinder):
    """Calls `then(module)` once each of `names` has been imported (by whoever imports it first)."""

    def __init__(self, names: set[str], then: Callable[[Any], None]) -> None:
        self.names, self.then = names, then

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name not in self.names:
            return None
        self.names.discard(name)  # the real finders find it; this one only wraps its loader
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader, then = spec.loader, self.then

        class Wrapped(importlib.abc.Loader):
            def create_module(self, spec: Any) -> Any:
                return loader.create_module(spec)

            def exec_module(self, module: Any) -> None:
                loader.exec_module(module)
                then(module)

        spec.loader = Wrapped()
        return spec


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    out_path, cli_argv = Path(argv[0]), argv[argv.index("--") + 1 :]

    # Only what the command itself loads first: `plan` starts its reads before the rest of its code
    # loads (`usecases.plan_start`), so the timers below go on each module as it is imported.
    import reconciler.cli

    imported = time.perf_counter()
    phases: dict[str, float] = {}
    captured: dict[str, Any] = {}

    def timed(name: str, func: F, capture: bool = False) -> F:
        # the listing's thread's own CPU (it runs beside the main thread); elsewhere the process's,
        # which counts apply's workers too
        clock = time.thread_time if name == "listing" else time.process_time

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            c0 = clock()
            try:
                result = func(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0
                phases[name + "_cpu"] = phases.get(name + "_cpu", 0.0) + clock() - c0
                phases[name + "_end"] = time.perf_counter() - started
            if capture:
                captured[name] = (args, kwargs)
            return result

        return wrapper  # type: ignore[return-value]

    targets: dict[str, list[tuple[str, str, str]]] = {  # module -> (attribute path, function, label)
        "reconciler.usecases.planning": [("", "load_desired", "load_yaml"), ("", "plan", "diff")],
        # the listing runs in its own thread from the start; `remote` is the main thread waiting for it
        "reconciler.remote.listings": [
            ("Reads", "_list", "listing"),
            ("Reads", "remote", "wait_remote"),
            ("Reads", "sources", "wait_sources"),
        ],
        "reconciler.usecases.applying": [("", "apply", "apply")],  # the CLI calls it as `applying.apply`
    }

    def patch(module: Any) -> None:
        for owner_name, name, label in targets.get(module.__name__, []):
            owner = getattr(module, owner_name) if owner_name else module
            setattr(owner, name, timed(label, getattr(owner, name), capture=label == "diff"))

    sys.meta_path.insert(0, AfterImport(set(targets), patch))

    code: int | str | None = 0
    cli_started = time.perf_counter()
    try:
        reconciler.cli.main(cli_argv)
    except SystemExit as exc:
        code = exc.code
    finished = time.perf_counter()
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    post_started = time.perf_counter()
    pure_cpu = None
    if "diff" in captured:
        import reconciler.core.build

        args, kwargs = captured["diff"]
        desired, remote = args[0], args[1]
        runs = []
        for _ in range(3):
            c0 = time.process_time()
            reconciler.core.build.plan(desired, remote, kind=kwargs["kind"])
            runs.append(time.process_time() - c0)
        pure_cpu = min(runs)

    result = {
        "exit_code": code if isinstance(code, int) else 1,
        "import_s": imported - started,
        "cli_s": finished - cli_started,
        "phases": phases,
        "maxrss_mib": maxrss_kib / 1024,
        "post_s": time.perf_counter() - post_started,  # the re-runs below: not part of the CLI's time
        "pure_diff_cpu_s": pure_cpu,
    }
    out_path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
