"""Durable deadlines: rows with a kind, a due time and a status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TimerKind(StrEnum):
    TAKE_DEADLINE = "take-deadline"  # remind the admins nobody took the case
    ESCALATION = "escalation"  # page the backup admins
    STEP_DEADLINE = "step-deadline"  # remind: no first step yet
    SUSPENSION_ENDS = "suspension-ends"  # restore the account, then welcome back
    RUN_STEP = "run-step"  # carry out (or retry) a recorded step
    PEER_WAIT = "peer-wait"  # the nudge's grace time is over
    MANUAL_REMINDER = "manual-reminder"  # a manual task is still not marked done
    DELIVER_NOTICE = "deliver-notice"  # (try again to) deliver a notice; step_id: its id
    APPEAL_DEADLINE = "appeal-deadline"  # remind: an appeal waits for a decision
    NOOP = "noop"  # does nothing; for benchmarks and health checks


class TimerStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Timer:
    kind: TimerKind
    due_at: datetime
    case_id: int | None = None
    step_id: int | None = None
    attempts: int = 0
    status: TimerStatus = TimerStatus.PENDING
    id: int | None = None
