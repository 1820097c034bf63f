"""/reminders: what a delegate follows, the lead time, follow the whole program, reminders on or off."""

from __future__ import annotations

import contextlib

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from domain import timezones as tzs
from domain.clock import Clock
from domain.event import Event
from domain.registration import Profile
from handlers.ui import ButtonData, button, esc, grid
from services import preferences as prefs
from services import reminders as rem
from services.ports import UnitOfWork
from services.preferences import Preferences


class RemCb(ButtonData, prefix="rem"):
    """A button of the reminder settings (and "Reminder settings" under a reminder)."""

    # open | lead | all | on | unf (unfollow an item) | reg (follow everything, from the registration's end)
    action: str
    value: str = ""


def follow_all_markup() -> InlineKeyboardMarkup:
    """The offer at the end of registration: be reminded of the whole program."""
    return InlineKeyboardMarkup(inline_keyboard=grid([button(_("🔔 Remind me before every session"),
                                                             RemCb(action="reg", value="1"))], 1))


def panel_text(conf: Event, profile: Profile, settings: Preferences, clock: Clock) -> str:
    lang, zone = profile.language, profile.timezone
    now = clock.now()
    lines = ["<b>" + _("Your reminders") + "</b>", ""]
    if settings.on:
        lines.append(ngettext("🔔 On: {n} minute before each session you follow.",
                              "🔔 On: {n} minutes before each session you follow.",
                              settings.lead).format(n=settings.lead))
    else:
        lines.append(_("🔕 Off: I will not remind you. What you follow is kept."))
    items = [i for i in rem.followed_items(conf, settings.explicit, follow_all=settings.follow_all,
                                           member=profile.is_member, matchmaking=profile.matchmaking)
             if i.ends > now]
    lines.append("")
    if settings.follow_all:
        lines.append(_("You follow the whole program."))
    elif items:
        lines.append(_("You follow:"))
        lines += [f"• {rem.when(conf, i.starts, zone, lang)} — {esc(i.title.get(lang))}" for i in items]
    else:
        lines.append(_("You follow no sessions yet. Press “Remind me” on a session in /program, or follow the "
                       "whole program with the button below."))
    lines += ["", _("Times are in your time zone: {zone}.").format(zone=esc(tzs.zone_name(zone, lang, now)))]
    return "\n".join(lines)


def panel_markup(conf: Event, profile: Profile, settings: Preferences) -> InlineKeyboardMarkup:
    leads = [button(("✓ " if n == settings.lead else "") + _("{n} min").format(n=n), RemCb(action="lead", value=str(n)))
             for n in rem.LEADS]
    if settings.follow_all:
        everything = button(_("📋 Only the sessions I chose"), RemCb(action="all", value="0"))
    else:
        everything = button(_("📋 Follow the whole program"), RemCb(action="all", value="1"))
    if settings.on:
        switch = button(_("🔕 Turn reminders off"), RemCb(action="on", value="0"))
    else:
        switch = button(_("🔔 Turn reminders on"), RemCb(action="on", value="1"))
    unfollow = [button("✖ " + item.title.get(profile.language), RemCb(action="unf", value=item.id))
                for item in conf.program if item.id in settings.explicit]
    return InlineKeyboardMarkup(inline_keyboard=[*grid(leads, len(leads)), *grid([everything, switch, *unfollow], 1)])


async def _panel(uow: UnitOfWork, conf: Event, profile: Profile, clock: Clock
                 ) -> tuple[str, InlineKeyboardMarkup] | None:
    settings = await prefs.preferences(uow, profile.user_id)
    if settings is None:
        return None
    return panel_text(conf, profile, settings, clock), panel_markup(conf, profile, settings)


async def on_reminders(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, profile: Profile | None,
                       guest: Profile | None = None) -> None:
    """/reminders: what the person follows and how they are reminded, with buttons to change it."""
    profile = profile or guest
    panel = await _panel(uow, conf, profile, clock) if profile else None
    if panel is None:
        if not conf.registration_open(clock.now()):  # they cannot register: they can still follow sessions
            await message.answer(_("You follow no sessions yet. Open /program, tap a session and press “Remind "
                                   "me”. Send /timezone to have the times in your own time zone."))
            return
        await message.answer(_("Reminders are for registered delegates. Send /start to register."))
        return
    text, markup = panel
    await message.answer(text, reply_markup=markup)


def _notice(conf: Event, profile: Profile, action: str, value: str) -> str | None:
    """What a changed setting means, said in the button's answer."""
    if action == "lead":
        return ngettext("I will remind you {n} minute before.", "I will remind you {n} minutes before.",
                        int(value)).format(n=int(value))
    if action in ("all", "reg"):
        return _("You follow the whole program.") if value == "1" else _("You follow only the sessions you chose.")
    if action == "on":
        return _("Reminders are on.") if value == "1" else _("Reminders are off.")
    if action == "unf" and (item := conf.item(value)) is not None:
        return _("You no longer follow {title}.").format(title=item.title.get(profile.language))
    return None


async def on_button(query: CallbackQuery, callback_data: RemCb, uow: UnitOfWork, conf: Event, clock: Clock,
                    profile: Profile | None, guest: Profile | None = None) -> None:
    """A reminder-settings button: change the setting and show the panel again."""
    profile = profile or guest
    if profile is None or not isinstance(query.message, Message):
        await query.answer(_("Reminders are for registered delegates. Send /start to register."), show_alert=True)
        return
    action, value = callback_data.action, callback_data.value
    if not await prefs.change(uow, conf, profile.user_id, action, value, clock.now()):
        await query.answer(_("This button is no longer active."))
        return
    panel = await _panel(uow, conf, profile, clock)
    assert panel is not None
    text, markup = panel
    await query.answer(_notice(conf, profile, action, value))
    if action in ("open", "reg"):
        # Under a reminder or the registration message: keep that message, answer with the panel.
        if action == "reg":
            with contextlib.suppress(TelegramBadRequest):
                await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(text, reply_markup=markup)
        return
    with contextlib.suppress(TelegramBadRequest):  # "message is not modified" after a double tap
        await query.message.edit_text(text, reply_markup=markup)


def make_router() -> Router:
    router = Router(name="reminders")
    router.message.register(on_reminders, Command("reminders"))
    router.callback_query.register(on_button, RemCb.filter())
    return router
