"""Incident priority: rises with severity, the number of reports and age against the SLA."""

import math
from datetime import datetime


def priority_score(*, severity: int, report_count: int, first_reported_at: datetime,
                   sla_hours: int, now: datetime, reopened: bool = False,
                   emergency_bonus: float = 0.0) -> float:
    """A score from 0 to 100.

    severity 1–5 gives 12–60; more reports add up to 20 (log-scaled: the tenth report matters
    less than the second); age against the SLA adds up to 20, and a breached SLA 10 more.
    `emergency_bonus` is what an active storm mode adds to its hazard's categories
    (crews.selectors_storm.storm_priority_bonus).
    """
    severity_part = 12.0 * max(1, min(5, severity))
    reports_part = min(20.0, 6.0 * math.log2(max(1, report_count)))
    age_hours = max(0.0, (now - first_reported_at).total_seconds() / 3600)
    sla_fraction = age_hours / max(1, sla_hours)
    sla_part = 20.0 * min(1.0, sla_fraction) + (10.0 if sla_fraction > 1 else 0.0)
    bonus = (10.0 if reopened else 0.0) + max(0.0, emergency_bonus)
    return round(min(100.0, severity_part + reports_part + sla_part + bonus), 2)
