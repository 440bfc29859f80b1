"""`python -m reconciler.sandbox`: the `sandbox` command, run on its own."""

from reconciler.sandbox.command import sandbox

sandbox()
