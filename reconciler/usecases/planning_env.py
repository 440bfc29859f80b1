"""Values from the environment in a plan: resolved when the plan is made, kept out of every output,
fingerprinted in a saved plan, and checked again when that plan is applied.

A saved plan holds each such value as its `${NAME}` expression and, per variable, a keyed hash of
its value (`desired.envvalues.fingerprint` under a key derived from the API key: a hash anyone could
recompute would let a short secret be guessed from the plan file). `apply` of the saved plan reads
the variables again, refuses a plan whose variable is now unset or holds another value (naming the
variable, never the value), and sends the values it read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from reconciler.errors import CommandFailed
from reconciler.kinds.entries import DesiredEntry
from reconciler.remote.client.redact import hide_value

# how the key that fingerprints values is had: called only when a plan holds some (it needs the API key)
EnvKey = Callable[[], bytes | None]

# `${NAME}`, with `$$` a literal `$` (matched first, so `$${NAME}` names no variable)
_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def variables(expressions: Iterable[str]) -> list[str]:
    """The variables the expressions name, sorted, each once."""
    return sorted({m.group(1) for text in expressions for m in _REFERENCE.finditer(text) if m.group(1)})


def resolved(desired: Sequence[DesiredEntry], environ: Mapping[str, str] | None = None) -> list[DesiredEntry]:
    """The entries with each `${NAME}` taken from the environment (`desired.envvalues.resolve`: an
    unset variable is a problem at its file and line), each value registered to be redacted from
    whatever the client says. Entries without such a value are returned as they are, and then the
    resolver is not even imported."""
    if not any(e.env for e in desired):
        return list(desired)
    from reconciler.desired import envvalues

    environ = os.environ if environ is None else environ
    out = list(envvalues.resolve(desired, environ))
    for name in variables(e for entry in out for e in entry.env.values()):
        value = environ.get(name)
        if value:
            hide_value(value)
    return out


def fingerprints(
    desired: Sequence[DesiredEntry], env_key: EnvKey, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Per variable the entries use, the keyed fingerprint of its value (what a saved plan records)."""
    names = variables(e for entry in desired for e in entry.env.values())
    if not names:
        return {}
    key = env_key()
    if key is None:
        raise CommandFailed("a plan with values from the environment needs the API key to fingerprint them")
    from reconciler.desired import envvalues

    environ = os.environ if environ is None else environ
    return {name: envvalues.fingerprint(environ.get(name, ""), key) for name in names}


def refuse_another_key(key_check: str | None, env_key: EnvKey | None, path: str) -> bytes | None:
    """The key of a saved plan's keyed fingerprints, when it has some, after checking it is the one the
    plan was made with: under another API key every fingerprint would differ, and say so wrongly."""
    if key_check is None:
        return None
    key = env_key() if env_key is not None else None
    if key is None:
        raise CommandFailed(f"the saved plan {path} holds values from the environment; apply needs the API key")
    from reconciler.views.savedplan import key_check as check_of

    if check_of(key) != key_check:
        raise CommandFailed(
            f"the saved plan {path} was made with another API key than this one; a plan that takes values from "
            "the environment applies only with the key that made it: apply with that key, or run plan again"
        )
    return key


def refuse_changed_variables(
    saved: Mapping[str, str], env_key: EnvKey | None, path: str, environ: Mapping[str, str] | None = None
) -> None:
    """A saved plan applies only with the environment it was made with: each variable still set, and
    to the value planned (compared by keyed fingerprint)."""
    if not saved:
        return
    key = env_key() if env_key is not None else None
    if key is None:
        raise CommandFailed(f"the saved plan {path} holds values from the environment; apply needs the API key")
    from reconciler.desired import envvalues

    environ = os.environ if environ is None else environ
    unset = [name for name in sorted(saved) if name not in environ]
    if unset:
        raise CommandFailed(
            f"the saved plan {path} takes {', '.join(f'${{{n}}}' for n in unset)} from the environment, and "
            f"{'it is' if len(unset) == 1 else 'they are'} not set; nothing was sent: set "
            f"{'it' if len(unset) == 1 else 'them'} as when the plan was made"
        )
    changed = [n for n in sorted(saved) if envvalues.fingerprint(environ[n], key) != saved[n]]
    if changed:
        raise CommandFailed(
            f"the saved plan {path} was made with another value of "
            f"{', '.join(f'${{{n}}}' for n in changed)} than the environment holds now; nothing was sent: run "
            "plan again"
        )
