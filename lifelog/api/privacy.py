"""Forgetting for good and the audit log, for the front ends: build a :class:`ForgetRequest`,
show :meth:`lifelog.api.Memory.plan_forget`'s :class:`ForgetPlan` (counts) to the user, then
:meth:`lifelog.api.Memory.forget` it. See docs/privacy.md."""

from __future__ import annotations

from lifelog.api.memory import TrashEntry
from lifelog.privacy.forget import ForgetPlan, ForgetRequest, ForgetResult, Target
from lifelog.privacy.retention import RetentionPlan

__all__ = ["ForgetPlan", "ForgetRequest", "ForgetResult", "RetentionPlan", "Target", "TrashEntry"]
