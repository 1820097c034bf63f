"""The reminders' scheduled work, plugged into the delivery engine at wiring time (`register`).

One job per start instant and lead time fans out the reminders of the items starting then (parallel tracks
share it; its cost grows with the number of sessions, the sending with the number of readers); one job per
distinct 18:00 instant sends the evening-before notes; at start-up, items moved in the event file get a "time
changed" notice. Every bot-minute the engine's sync catches up on fan-outs whose instant passed while their
items have not started (late followers, a restart) and adds day-before jobs for new time zones.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.event import Event
from services import reminders

if TYPE_CHECKING:
    from delivery.jobs import Jobs

log = logging.getLogger(__name__)

NAME = "reminders"


class ReminderPlanner:
    name = NAME

    def __init__(self, jobs: Jobs, event: Event) -> None:
        self.jobs = jobs
        self.event = event

    async def plan(self, jobs: Jobs) -> None:
        """Notices for moved items, then one job per start instant and lead time ahead."""
        now = jobs.now()
        async with jobs.uows() as uow:
            notices = await reminders.notify_moves(uow, self.event, now)
            await uow.commit()
        if notices:
            log.info("the program changed since the last start: %s time-change notices queued", notices)
            jobs.wake()
        for fan in reminders.fan_outs(self.event):
            if fan.at > now:
                jobs.at(fan.job_id, fan.at, self.run_reminder, fan.item_id, fan.lead)

    async def sync(self, jobs: Jobs) -> None:
        """Catch up on reminders due but not fanned out, and add the day-before jobs of new time zones."""
        for fan in reminders.catch_up(self.event, jobs.now()):
            await self.run_reminder(fan.item_id, fan.lead)
        await self.schedule_day_before()

    async def schedule_day_before(self) -> None:
        async with self.jobs.uows() as uow:
            zones = await uow.reminders.zones()
        now = self.jobs.now()
        for at in reminders.day_before_groups(self.event, zones):
            job_id = reminders.day_before_job_id(at)
            if at > now and not self.jobs.is_planned(job_id):
                self.jobs.at(job_id, at, self.run_day_before, at)

    # -- jobs ------------------------------------------------------------------------------------------------

    async def run_reminder(self, item_id: str, lead: int) -> int:
        """Fan out the reminders of the items starting with `item_id`, at one lead time."""
        async with self.jobs.uows() as uow:
            created = await reminders.fan_out_reminder(uow, self.event, item_id, lead, self.jobs.now())
            await uow.commit()
        if created:
            log.info("reminder %s:%s: %s messages queued", item_id, lead, created)
            self.jobs.wake()
        return created

    async def run_day_before(self, at: datetime) -> int:
        """Fan out the evening-before notes of the zones whose 18:00 is `at`."""
        async with self.jobs.uows() as uow:
            zones = reminders.day_before_groups(self.event, await uow.reminders.zones()).get(at, [])
            created = await reminders.fan_out_day_before(uow, self.event, zones, self.jobs.now()) if zones else 0
            await uow.commit()
        if created:
            log.info("day-before notes for %s: %s messages queued", ", ".join(zones), created)
            self.jobs.wake()
        return created


def register(delivery: Any) -> None:
    """Wiring (bot/app.py): the reminders' message kinds and their planner."""
    reminders.register_renderers(delivery.renderers)
    delivery.add_planner(ReminderPlanner(delivery, delivery.event))


def planner(delivery: Any) -> ReminderPlanner:
    """The reminders' planner of a wired engine (tests and benchmarks run its jobs directly)."""
    found = delivery.planners[NAME]
    assert isinstance(found, ReminderPlanner)
    return found
