"""Whether a plan touches too much of the workspace to apply without `--force`."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.core.model import Plan
from reconciler.kinds.known import BY_YAML_KEY


@dataclass(frozen=True)
class SafetyPolicy:
    max_change_share: float = 0.3
    min_managed: int = 10


def unsafe_reason(plan: Plan, policy: SafetyPolicy) -> str | None:
    """Why this plan of one kind touches too much of the workspace, or None. "Managed" is every
    remote item of the kind in scope: the ones this plan could update or delete."""
    managed = len(plan.remote_ids) - len(plan.undeclarable)
    touched = plan.summary["update"] + plan.summary["delete"] + plan.summary["replace"]
    if managed < policy.min_managed or touched <= policy.max_change_share * managed:
        return None
    return (
        f"this plan updates {plan.summary['update']} and deletes {plan.summary['delete']} of {managed} managed "
        f"{_nouns(plan.kind)} ({touched / managed:.0%}, more than the {policy.max_change_share:.0%} allowed); "
        "check it, then apply with --force"
    )


def _nouns(yaml_key: str) -> str:
    kind = BY_YAML_KEY.get(yaml_key)
    return f"{kind.noun}s" if kind else yaml_key
