"""The Smart City Quiz in a private chat (/quiz, its buttons, /leaderboard), the organisers' /quiz_open and
/quiz_close, and group mode (/quiz_group in a group, poll answers), which `handlers/groups.py` adds to the
group router. The use cases and the quiz message's text are in services/quiz.py.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, PollAnswer
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from domain.clock import Clock
from domain.event import Event
from domain.quiz import Outcome
from domain.registration import Profile
from domain.timezones import fmt_when
from handlers.ui import ButtonData, Index, esc, on_a_message, refuse_non_organiser
from services import quiz as uc
from services.errors import ServiceError
from services.ports import UnitOfWork


class QuizCb(ButtonData, prefix="qz"):
    """An answer: question `i` of the person's plan, its id `q`, the option shown at position `c`."""

    i: Index
    q: str
    c: Index


class QuizStartCb(ButtonData, prefix="qzgo"):
    """"Start the quiz" on the announcement."""

    v: Index = 1


def _markup(v: uc.View) -> InlineKeyboardMarkup | None:
    if not v.buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=b.text, callback_data=b.callback_data)
                                                  for b in row] for row in v.buttons])


def _zone(profile: Profile | None, conf: Event) -> str:
    return profile.timezone if profile is not None else str(conf.timezone)


def _refusal(err: ServiceError, conf: Event, lang: str, profile: Profile | None, now: datetime) -> str:
    params = dict(err.params)
    if isinstance(params.get("at"), datetime):
        zone = _zone(profile, conf)
        params["at"] = fmt_when(params["at"], zone, lang, now, zone)
    return _(err.message).format(**params)


async def _show(message: Message, step: uc.Step, uow: UnitOfWork, i18n: I18n, lang: str, conf: Event, *,
                edit: bool) -> None:
    """Show the quiz message: edit `message` in place, or send a new one; remember it for the time-outs."""
    v = uc.view(i18n, lang, conf, step)
    shown = message
    if edit:
        with contextlib.suppress(TelegramBadRequest):  # "message is not modified"
            await message.edit_text(v.text, reply_markup=_markup(v))
    else:
        shown = await message.answer(v.text, reply_markup=_markup(v))
    if not step.finished and step.message_id != shown.message_id:
        await uc.remember_message(uow, step.user_id, shown.message_id)


async def on_quiz(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, i18n: I18n, lang: str,
                  profile: Profile | None) -> None:
    """/quiz: the first question (in one message edited in place), or where the person's attempt stands;
    outside the window, when it opens in the reader's time."""
    assert message.from_user is not None
    now = clock.now()
    try:
        step = await uc.start(uow, conf, message.from_user.id, name=message.from_user.full_name, lang=lang,
                              now=now)
    except ServiceError as err:
        await message.answer(_refusal(err, conf, lang, profile, now))
        return
    await _show(message, step, uow, i18n, lang, conf, edit=False)


async def on_start_button(query: CallbackQuery, uow: UnitOfWork, conf: Event, clock: Clock, i18n: I18n,
                          lang: str, profile: Profile | None) -> None:
    """"Start the quiz" on the announcement: the announcement becomes the quiz message."""
    now = clock.now()
    try:
        step = await uc.start(uow, conf, query.from_user.id, name=query.from_user.full_name, lang=lang, now=now)
    except ServiceError as err:
        await query.answer(_refusal(err, conf, lang, profile, now), show_alert=True)
        return
    await query.answer()
    assert isinstance(query.message, Message)
    await _show(query.message, step, uow, i18n, lang, conf, edit=not step.finished)


def _unchanged(outcome: Outcome | None, finished: bool) -> str:
    if finished and outcome is Outcome.STALE:
        return _("Your quiz is finished. Send /leaderboard to see where you stand.")
    if outcome is Outcome.DUPLICATE:
        return _("You answered this question already.")
    if outcome is Outcome.STALE:
        return _("This question is over. Your quiz goes on in its newest message.")
    if outcome is Outcome.LATE:
        return _("Too late for this question: its time was up.")
    return _("This button is not part of your quiz.")


async def on_answer(query: CallbackQuery, callback_data: QuizCb, uow: UnitOfWork, conf: Event, clock: Clock,
                    i18n: I18n, lang: str, arrived_at: datetime | None = None) -> None:
    """A press on an answer: scored by when the press arrived, then feedback and the next question in the same
    message. A second press, an old or forged button: a polite line, nothing changes."""
    now = clock.now()
    try:
        step = await uc.answer(uow, conf, query.from_user.id, index=callback_data.i, question_id=callback_data.q,
                               choice=callback_data.c, arrived_at=arrived_at or now, now=now)
    except ServiceError as err:
        await query.answer(_(err.message).format(**err.params), show_alert=True)
        return
    if not step.changed:
        await query.answer(_unchanged(step.outcome, step.finished))
        return
    record = step.record
    if record is not None and record.right:
        await query.answer(_("✅ +{points}").format(points=record.points))
    else:
        await query.answer()
    assert isinstance(query.message, Message)
    await _show(query.message, step, uow, i18n, lang, conf, edit=True)


async def on_leaderboard(message: Message, uow: UnitOfWork, i18n: I18n, lang: str) -> None:
    """/leaderboard: the top 10 (name, city) and the reader's own place."""
    assert message.from_user is not None
    board = await uc.leaderboard(uow, message.from_user.id)
    if not board.top:
        await message.answer(_("Nobody has played the Smart City Quiz yet."))
        return
    lines = [_("🏆 <b>Smart City Quiz: leaderboard</b> ({count} participants)").format(count=board.count), ""]
    lines += [uc.standing_line(i18n, lang, s) for s in board.top]
    lines.append("")
    if board.mine is None:
        lines.append(_("You have not played yet: send /quiz while the quiz is open."))
    else:
        lines.append(_("Your place: <b>{rank}</b> of {count}, {score} points ({right} right).").format(
            rank=board.mine.rank, count=board.count, score=board.mine.score, right=board.mine.right))
    await message.answer("\n".join(lines))


async def on_quiz_open(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, is_admin: bool) -> None:
    """/quiz_open (organisers): open the quiz now; the announcement goes out if it has not."""
    if not is_admin:
        await refuse_non_organiser(message)
        return
    assert message.from_user is not None
    try:
        done = await uc.open_quiz(uow, conf, by=message.from_user.id, now=clock.now())
    except ServiceError as err:
        await message.answer(_(err.message).format(**err.params))
        return
    if not done.changed:
        await message.answer(_(uc.ALREADY_OPEN))
        return
    await message.answer(_("The quiz is open. Announcements queued: {n}.").format(n=done.announced))


async def on_quiz_close(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, is_admin: bool,
                        profile: Profile | None, lang: str) -> None:
    """/quiz_close (organisers): no new questions; final results once the running ones are over."""
    if not is_admin:
        await refuse_non_organiser(message)
        return
    assert message.from_user is not None
    now = clock.now()
    try:
        done = await uc.close_quiz(uow, conf, by=message.from_user.id, now=now)
    except ServiceError as err:
        await message.answer(_(err.message).format(**err.params))
        return
    if not done.changed or done.results_at is None:
        await message.answer(_(uc.ALREADY_CLOSED))
        return
    zone = _zone(profile, conf)
    await message.answer(_("The quiz is closed: no new questions are asked. Final results, the winners and the "
                           "CSV go out within a minute after {at}.").format(
        at=fmt_when(done.results_at, zone, lang, now, zone)))


# -- group mode -------------------------------------------------------------------------------------

async def on_quiz_group(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, is_admin: bool,
                        lang: str) -> None:
    """/quiz_group in a group (organisers): the quiz as quiz polls, one after another."""
    if not is_admin:
        await message.reply(_("This command is for the organisers."))
        return
    now = clock.now()
    try:
        run = await uc.start_group(uow, conf, message.chat.id, lang=lang, now=now)
    except ServiceError as err:
        params = dict(err.params)
        if isinstance(params.get("at"), datetime):
            zone = str(conf.timezone)
            params["at"] = f"{fmt_when(params['at'], zone, lang, now, zone)} {esc(conf.tz_label)}"
        await message.reply(_(err.message).format(**params))
        return
    await message.answer(_("🧠 <b>The Smart City Quiz starts now</b>: {n} questions as quiz polls, {seconds} "
                           "seconds each. Your answers count in the quiz's leaderboard (one try each).").format(
        n=run.questions, seconds=run.seconds))


async def on_poll_answer(poll_answer: PollAnswer, uow: UnitOfWork, conf: Event, clock: Clock, lang: str,
                         arrived_at: datetime | None = None) -> None:
    """A vote on a quiz poll (group mode): scored into the same leaderboard; nothing is said."""
    user = poll_answer.user
    if user is None:  # a vote on behalf of a chat: nobody to score
        return
    now = clock.now()
    await uc.poll_answer(uow, conf, poll_id=poll_answer.poll_id, user_id=user.id, name=user.full_name, lang=lang,
                         option_ids=list(poll_answer.option_ids), arrived_at=arrived_at or now, now=now)


def add_group_handlers(router: Router) -> None:
    """Group mode, in the group router before its catch-alls (handlers/groups.py)."""
    router.message.register(on_quiz_group, Command("quiz_group"))
    router.poll_answer.register(on_poll_answer)


def make_router() -> Router:
    """The private chat's quiz (bot/app.py makes it private-only)."""
    router = Router(name="quiz")
    router.message.register(on_quiz, Command("quiz"))
    router.message.register(on_leaderboard, Command("leaderboard"))
    router.message.register(on_quiz_open, Command("quiz_open"))
    router.message.register(on_quiz_close, Command("quiz_close"))
    router.callback_query.register(on_start_button, QuizStartCb.filter(), on_a_message)
    router.callback_query.register(on_answer, QuizCb.filter(), on_a_message)
    return router
