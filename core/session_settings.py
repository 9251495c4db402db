"""How long a server-side session lives: the idle timeout and the absolute lifetime.

Both are settings of the deployment, read from the environment at first use:

- SOLVEREIGN_SESSION_IDLE_MINUTES: a session not used for this many minutes
  ends (default 30);
- SOLVEREIGN_SESSION_ABSOLUTE_HOURS: a session ends this many hours after
  sign-in, however busy it was (default 12).

Each value must be a whole number from 1 upwards, and the idle timeout must
not be longer than the absolute lifetime. A wrong value raises ValueError
naming the variable and the value, so the workbench stops at start with
that message instead of running with a guessed limit.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

IDLE_MINUTES_VARIABLE = "SOLVEREIGN_SESSION_IDLE_MINUTES"
ABSOLUTE_HOURS_VARIABLE = "SOLVEREIGN_SESSION_ABSOLUTE_HOURS"

DEFAULT_IDLE_TIMEOUT = timedelta(minutes=30)
DEFAULT_ABSOLUTE_TIMEOUT = timedelta(hours=12)


@dataclass(frozen=True)
class SessionLimits:
    """The idle timeout and the absolute lifetime of every session."""

    idle_timeout: timedelta = DEFAULT_IDLE_TIMEOUT
    absolute_timeout: timedelta = DEFAULT_ABSOLUTE_TIMEOUT

    def __post_init__(self) -> None:
        if self.idle_timeout <= timedelta(0):
            raise ValueError(
                f"session idle timeout is {self.idle_timeout}; it must be positive"
            )
        if self.absolute_timeout <= timedelta(0):
            raise ValueError(
                f"session absolute lifetime is {self.absolute_timeout}; it must be"
                " positive"
            )
        if self.idle_timeout > self.absolute_timeout:
            raise ValueError(
                f"session idle timeout {self.idle_timeout} is longer than the"
                f" absolute lifetime {self.absolute_timeout}; lower"
                f" {IDLE_MINUTES_VARIABLE} or raise {ABSOLUTE_HOURS_VARIABLE}"
            )

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> SessionLimits:
        """Read the limits from the variables, using the default for a missing one.

        Raises ValueError for a value that is no whole number from 1 upwards,
        and for an idle timeout longer than the absolute lifetime.
        """
        idle_minutes = _whole_number(environment, IDLE_MINUTES_VARIABLE, "minutes")
        absolute_hours = _whole_number(environment, ABSOLUTE_HOURS_VARIABLE, "hours")
        return cls(
            idle_timeout=DEFAULT_IDLE_TIMEOUT
            if idle_minutes is None
            else timedelta(minutes=idle_minutes),
            absolute_timeout=DEFAULT_ABSOLUTE_TIMEOUT
            if absolute_hours is None
            else timedelta(hours=absolute_hours),
        )


def _whole_number(
    environment: Mapping[str, str], variable: str, unit: str
) -> int | None:
    """Return the variable's value as a positive integer, or None when it is unset."""
    text = environment.get(variable, "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ValueError(
            f"{variable} is {text!r}; expected a whole number of {unit} from 1"
            " upwards, or leave it unset for the default"
        )
    return int(text)


_lock = threading.Lock()
_session_limits: SessionLimits | None = None


def session_limits() -> SessionLimits:
    """Return the limits of this process, read from the environment at first use."""
    global _session_limits
    with _lock:
        if _session_limits is None:
            _session_limits = SessionLimits.from_environment(os.environ)
        return _session_limits


def configure_session_limits(limits: SessionLimits | None) -> None:
    """Make the services use these limits; None reads them from the environment again."""
    global _session_limits
    with _lock:
        _session_limits = limits
