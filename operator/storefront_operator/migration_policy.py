"""May a migration plan run? Small pure checks evaluated in order; the first with an opinion
decides (a policy chain). The plan is what the migration Job reported (`app.cli migrate --plan`,
docs/operator.md): revision by revision, with its destructive and locking operations.

- nothing serves yet (first install): nothing can break, the plan runs;
- ``Allow``: every plan runs;
- ``RequireApproval``: every pending revision, safe or not, runs only once it is listed in
  ``spec.migrations.approvedRevisions``;
- ``Refuse`` (the default): a revision with a locking operation, or a destructive one that is
  not marked post-deployment, runs only once approved; safe revisions run. A post-deployment
  revision runs after the old version is gone, so what it removes is used by no running pod:
  its destructive operations need no approval (its locking ones still do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ALLOW, REQUIRE_APPROVAL, REFUSE = "Allow", "RequireApproval", "Refuse"
POLICIES = (REFUSE, REQUIRE_APPROVAL, ALLOW)
NEEDS_APPROVAL = "MigrationNeedsApproval"


@dataclass(frozen=True)
class PolicyInput:
    policy: str
    approved: frozenset[str]
    plan: dict[str, Any]
    serving: bool  # a version serves now, so the pending revisions could break it


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    message: str


def flagged_operations(revision: dict[str, Any]) -> list[str]:
    """What makes a revision need approval under Refuse, as "kind: operation" lines."""
    ops = [f"locking: {op}" for op in revision.get("locking") or []]
    if not revision.get("postDeployment"):
        ops = [f"destructive: {op}" for op in revision.get("destructive") or []] + ops
    return ops


def _hold(waiting: list[tuple[str, list[str]]], how: str) -> Decision:
    parts = [f"{rev} ({'; '.join(ops)})" if ops else rev for rev, ops in waiting]
    names = ", ".join(rev for rev, _ in waiting)
    return Decision(False, NEEDS_APPROVAL,
                    f"revision{'s' if len(waiting) > 1 else ''} {'; '.join(parts)} {'need' if len(waiting) > 1 else 'needs'} "
                    f"approval ({how}); the running version keeps serving. Approve by adding {names} to "
                    "spec.migrations.approvedRevisions")


def nothing_serves(i: PolicyInput) -> Decision | None:
    if not i.serving:
        return Decision(True, "NothingServing", "no version serves yet: the plan cannot break a running one")
    return None


def policy_allows(i: PolicyInput) -> Decision | None:
    if i.policy == ALLOW:
        return Decision(True, "PolicyAllows", "spec.migrations.policy is Allow")
    return None


def every_revision_approved(i: PolicyInput) -> Decision | None:
    if i.policy != REQUIRE_APPROVAL:
        return None
    waiting = [(r["revision"], flagged_operations(r) or [f"{r.get('safety', 'safe')}"])
               for r in i.plan.get("revisions") or [] if r["revision"] not in i.approved]
    if waiting:
        return _hold(waiting, "policy RequireApproval")
    return None


def flagged_revisions_approved(i: PolicyInput) -> Decision | None:
    if i.policy != REFUSE:
        return None
    waiting = [(r["revision"], ops) for r in i.plan.get("revisions") or []
               if (ops := flagged_operations(r)) and r["revision"] not in i.approved]
    if waiting:
        return _hold(waiting, "policy Refuse: destructive or locking")
    return None


CHAIN: list[Callable[[PolicyInput], Decision | None]] = [
    nothing_serves, policy_allows, every_revision_approved, flagged_revisions_approved,
]


def decide(i: PolicyInput) -> Decision:
    for check in CHAIN:
        decision = check(i)
        if decision is not None:
            return decision
    count = len(i.plan.get("revisions") or [])
    return Decision(True, "PlanAllowed", f"{count} pending revision{'s' if count != 1 else ''}, none waiting for approval")
