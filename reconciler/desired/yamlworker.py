"""A worker of `reconciler.desired.yamlpool`: `python -m reconciler.desired.yamlworker`.

Reads from stdin, pickled, (module, function name, [(file name, bytes), ...]); writes to stdout, pickled,
one answer per file as soon as it is read: ("ok", the function's result) or ("error", what it raised).
"""

from __future__ import annotations

import gc
import importlib
import pickle
import signal
import sys


def serve() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to say
    gc.disable()  # as `yamlread.gc_paused`: hundreds of thousands of nodes, none in a cycle
    module, name, files = pickle.load(sys.stdin.buffer)  # from the parent process, through its pipe
    read_file = getattr(importlib.import_module(module), name)
    out = sys.stdout.buffer
    for file_name, raw in files:
        try:
            answer = ("ok", read_file(file_name, raw))
        except Exception as exc:  # raised in the parent, as it would have been there
            answer = ("error", exc)
        pickle.dump(answer, out, pickle.HIGHEST_PROTOCOL)
        out.flush()


if __name__ == "__main__":
    serve()
