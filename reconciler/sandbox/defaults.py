"""The sandbox command's defaults and the library's, in one place (a module of its own, so that the
server and the command need not import the package that loads them)."""

DEFAULT_KEY = "sandbox-key"
DEFAULT_PORT = 8765
