"""Who is a rep, a manager or a marketer: the policy's ``[roles]``, resolved.

A role is either a list of user ids in the policy or a Slack user group (``S…``), so HR can
move people without a config change. Group members are asked of Slack
(``usergroups.users.list``) and cached for a few minutes of the injected clock: an
authorization check runs on every button press and must not cost a Slack call each time.
When Slack cannot answer, the last known members keep working (with a warning in the log)
rather than locking everyone out; a group never resolved counts as empty, so nobody gains a
role by an outage.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.clock import Clock
from bot.policy import Policy

__all__ = ["CACHE_FOR", "RETRY_AFTER_ERROR", "ROLES", "SIDES", "Directory", "Role", "Side"]

Role = Literal["reps", "managers", "marketers"]
ROLES: tuple[Role, ...] = get_args(Role)
#: the two parties to the agreement, each with its approvers (``[governance]``, SPEC 9)
Side = Literal["marketing", "sales"]
SIDES: tuple[Side, ...] = get_args(Side)
#: how long a group's members are trusted before Slack is asked again
CACHE_FOR = timedelta(minutes=5)
#: after a failed lookup, how long the last known members are used before asking again, so an
#: outage does not turn every request into a slow failing Slack call
RETRY_AFTER_ERROR = timedelta(seconds=30)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Entry:
    members: frozenset[str]
    refresh_at: datetime


class Directory:
    """Role membership for one policy; thread-safe, one instance per process (on ``Services``)."""

    def __init__(
        self,
        policy: Policy,
        client: WebClient,
        clock: Clock,
        *,
        cache_for: timedelta = CACHE_FOR,
        retry_after_error: timedelta = RETRY_AFTER_ERROR,
    ) -> None:
        self.policy = policy
        self.client = client
        self.clock = clock
        self.cache_for = cache_for
        self.retry_after_error = retry_after_error
        self._entries: dict[str, _Entry] = {}
        self._known: dict[str, frozenset[str]] = {}  # last members Slack gave, kept on errors
        self._lock = threading.Lock()
        self._away: dict[str, tuple[bool, datetime]] = {}  # user -> (away, look again at)
        # One lock per group: concurrent requests wait for one lookup instead of each calling.
        self._group_locks: dict[str, threading.Lock] = {}

    def members(self, role: Role) -> frozenset[str]:
        """The user ids holding ``role`` now."""
        people = self._people(role)
        if isinstance(people, str):
            return self._group_members(people)
        return frozenset(people)

    def has_role(self, user_id: str, *roles: Role) -> bool:
        """True when ``user_id`` holds any of ``roles``; listed roles are checked before groups."""
        ordered = sorted(roles, key=lambda role: isinstance(self._people(role), str))
        return any(user_id in self.members(role) for role in ordered)

    def approvers(self, side: Side) -> frozenset[str]:
        """Who may approve a change to the agreement for ``side`` (a list, or a user group
        resolved and cached like a role's)."""
        if side not in SIDES:
            raise ValueError(f"unknown side {side!r}; expected one of {SIDES}")
        people: tuple[str, ...] | str = getattr(self.policy.governance, f"{side}_approvers")
        if isinstance(people, str):
            return self._group_members(people)
        return frozenset(people)

    def approver_sides(self, user_id: str) -> tuple[Side, ...]:
        """The sides ``user_id`` approves for, now (none: not an approver)."""
        return tuple(side for side in SIDES if user_id in self.approvers(side))

    def is_away(self, user_id: str, *, cached_only: bool = False) -> bool:
        """Whether reminders should skip ``user_id``: listed as away in the policy, or their
        Slack status says they are out of office (an OOO emoji or words, not yet expired).

        The status is looked up at most every ``cache_for``; ``cached_only`` never calls Slack
        (for callers holding database locks, after a ``refresh_away`` outside them). A failed
        lookup counts as present: a reminder too many beats a breach nobody heard about.
        """
        if user_id in self.policy.roles.away:
            return True
        with self._lock:
            entry = self._away.get(user_id)
        if entry is not None and (cached_only or self.clock.now() < entry[1]):
            return entry[0]
        if cached_only:
            return False
        return self._look_up_away(user_id)

    def refresh_away(self, user_ids: set[str]) -> None:
        """Warm the out-of-office cache for ``user_ids`` (call before taking locks)."""
        for user_id in sorted(user_ids):
            self.is_away(user_id)

    def _look_up_away(self, user_id: str) -> bool:
        away = False
        try:
            profile = self.client.users_profile_get(user=user_id).get("profile") or {}
            away = status_says_away(profile, self.clock.now())
        except (SlackApiError, SlackClientError, OSError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
            log.warning("could not read the status of %s (%s); counting them present",
                        user_id, error)
        with self._lock:
            self._away[user_id] = (away, self.clock.now() + self.cache_for)
        return away

    def _people(self, role: Role) -> tuple[str, ...] | str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
        people: tuple[str, ...] | str = getattr(self.policy.roles, role)
        return people

    def _group_members(self, group_id: str) -> frozenset[str]:
        entry = self._fresh(group_id)
        if entry is not None:
            return entry.members
        with self._lock:
            group_lock = self._group_locks.setdefault(group_id, threading.Lock())
        with group_lock:
            entry = self._fresh(group_id)  # another thread may have looked it up meanwhile
            if entry is not None:
                return entry.members
            return self._look_up(group_id)

    def _fresh(self, group_id: str) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(group_id)
        if entry is not None and self.clock.now() < entry.refresh_at:
            return entry
        return None

    def _look_up(self, group_id: str) -> frozenset[str]:
        try:
            response = self.client.usergroups_users_list(usergroup=group_id)
            members = frozenset(str(u) for u in response.get("users") or [])
        except (SlackApiError, SlackClientError, OSError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
            with self._lock:
                known = self._known.get(group_id)
                members = known if known is not None else frozenset()
                retry_at = self.clock.now() + self.retry_after_error
                self._entries[group_id] = _Entry(members, retry_at)
            log.warning(
                "could not list user group %s (%s); using %s",
                group_id,
                error,
                f"the last known {len(members)} members" if known is not None else "no members",
            )
            return members
        with self._lock:
            self._known[group_id] = members
            self._entries[group_id] = _Entry(members, self.clock.now() + self.cache_for)
        return members


#: status emoji that mean "out of office" (Slack's own suggestions and common ones)
AWAY_EMOJI = frozenset({":palm_tree:", ":airplane:", ":face_with_thermometer:", ":sick:",
                        ":beach_with_umbrella:", ":house_with_garden:", ":no_entry:"})
#: words in a status text that mean "out of office", in English and Japanese
AWAY_WORDS = ("out of office", "ooo", "vacation", "holiday", "on leave", "sick",
              "休暇", "休み", "不在", "有給", "出張")


def status_says_away(profile: dict[str, object], now: datetime) -> bool:
    """Whether a Slack profile's current status reads as out of office."""
    expiration = profile.get("status_expiration")
    if isinstance(expiration, int) and expiration and expiration <= now.timestamp():
        return False
    emoji = str(profile.get("status_emoji") or "")
    text = str(profile.get("status_text") or "").lower()
    return emoji in AWAY_EMOJI or any(word in text for word in AWAY_WORDS)
