"""The states of an e站 (see workflow.py for how they change)."""

import enum


class State(enum.StrEnum):
    APPLIED = "applied"
    COUNTY_APPROVED = "county_approved"
    RETURNED = "returned"
    REJECTED = "rejected"
    RECOGNISED = "recognised"
    RECTIFYING = "rectifying"
    REVOKED = "revoked"

    @property
    def label(self):
        return STATE_LABELS[self]


STATE_LABELS = {
    State.APPLIED: "待县级审核",
    State.COUNTY_APPROVED: "待市级复核",
    State.RETURNED: "退回修改",
    State.REJECTED: "未通过",
    State.RECOGNISED: "已认定",
    State.RECTIFYING: "整改中",
    State.REVOKED: "已撤销",
}

#: 纳入统计序列: the states in which a station counts in statistics.
RECOGNISED_STATES = frozenset({State.RECOGNISED, State.RECTIFYING})
#: States in which the applicant may edit the application (and then resubmit it).
EDITABLE_STATES = frozenset({State.RETURNED, State.REJECTED, State.REVOKED})
