"""The Smart City Quiz in a private chat (/quiz, its buttons, /leaderboard), the organisers' /quiz_open and
/quiz_close, and group mode (/quiz_group in a group, poll answers), which `handlers/groups.py` adds to the
group router. The use cases and the quiz message's text are in services/quiz.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, PollAnswer
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _

from domain.clock import Clock
from domain.event import Event
from domain.quiz import Outcome, ShownAs
from domain.registration import Profile
from domain.timezones import fmt_when, reader_zone
from handlers.ui import ORGANISER_ONLY, ButtonData, Index, esc, on_a_message, refusal
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


class QuizNameCb(ButtonData, prefix="qzname"):
    """How the leaderboard shows the player (domain.quiz.ShownAs), chosen before the first question."""

    s: ShownAs


# Handlers get `quiz_capacity` (players at once in private chats, bot/app.py: QUIZ_CAPACITY, else from SEND_RATE),
# `sent_at` (when the reply just made went out: delivery.limiter.SentClock) and `reply_turn` (a reply's turn at
# the send limiter taken before the reply is made, yielding when it goes out: delivery.limiter.ReplyTurn) from
# the Dispatcher.
SentAt = Callable[[], datetime]
ReplyTurn = Callable[[Any, int], contextlib.AbstractAsyncContextManager[datetime]]


@contextlib.asynccontextmanager
async def _now(clock: Clock) -> AsyncIterator[datetime]:
    yield clock.now()


def _markup(v: uc.View) -> InlineKeyboardMarkup | None:
    if not v.buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=b.text, callback_data=b.callback_data)
                                                  for b in row] for row in v.buttons])


def _refusal(err: ServiceError, conf: Event, lang: str, profile: Profile | None, now: datetime) -> str:
    at = err.params.get("at")
    if isinstance(at, datetime):
        zone = reader_zone(profile, conf)
        return refusal(err, shown={"at": fmt_when(at, zone, lang, now, zone)})
    return refusal(err)


async def _show(message: Message, step: uc.Step, uow: UnitOfWork, i18n: I18n, lang: str, conf: Event,
                sent_at: SentAt | None, clock: Clock, *, edit: bool, zone: str,
                reply_turn: ReplyTurn | None = None) -> None:
    """Show the quiz message: edit `message` in place, or send a new one; remember it for the time-outs; the
    question's time starts when this went out. Its turn at the send limiter is taken first, so the question
    can say until what clock time it may be answered (issue 20)."""
    shown = message
    turn = reply_turn(message.bot, message.chat.id) if reply_turn is not None else _now(clock)
    async with turn as starts:
        v = uc.view(i18n, lang, conf, step, zone=zone, starts=starts)
        if edit:
            with contextlib.suppress(TelegramBadRequest):  # "message is not modified"
                await message.edit_text(v.text, reply_markup=_markup(v))
        else:
            shown = await message.answer(v.text, reply_markup=_markup(v))
    at = sent_at() if sent_at is not None else clock.now()
    if step.finished:
        return
    moved = shown.message_id if step.message_id != shown.message_id else None
    if not step.attempt.shown:  # one commit: the question's time starts, and the message it is in
        await uc.shown(uow, conf, step.user_id, step.attempt.index, at, message_id=moved)
    elif moved is not None:
        await uc.remember_message(uow, step.user_id, moved)


async def _begin(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, i18n: I18n, lang: str,
                 profile: Profile | None, quiz_capacity: int | None, sent_at: SentAt | None,
                 user: tuple[int, str], *, edit: bool, reply_turn: ReplyTurn | None = None) -> None:
    """Start (or resume) the person's quiz and show it: the name choice first, a refusal, or the question."""
    now = clock.now()
    try:
        step = await uc.start(uow, conf, user[0], name=user[1], lang=lang, now=now,
                              capacity=quiz_capacity)
    except ServiceError as err:
        await message.answer(_refusal(err, conf, lang, profile, now))
        return
    if isinstance(step, uc.ChooseName):
        v = uc.choose_name_view(i18n, lang, step)
        if edit:
            with contextlib.suppress(TelegramBadRequest):  # a second tap: "message is not modified"
                await message.edit_text(v.text, reply_markup=_markup(v))
        else:
            await message.answer(v.text, reply_markup=_markup(v))
        return
    await _show(message, step, uow, i18n, lang, conf, sent_at, clock, edit=edit and not step.finished,
                zone=reader_zone(profile, conf), reply_turn=reply_turn)


async def on_quiz(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, i18n: I18n, lang: str,
                  profile: Profile | None, quiz_capacity: int | None = None,
                  sent_at: SentAt | None = None, reply_turn: ReplyTurn | None = None,
                  guest: Profile | None = None) -> None:
    """/quiz: how to appear on the leaderboard (once), then the first question (in one message edited in
    place), or where the person's attempt stands; outside the window, when it opens in the reader's time."""
    assert message.from_user is not None
    await _begin(message, uow, conf, clock, i18n, lang, profile or guest, quiz_capacity, sent_at,
                 (message.from_user.id, message.from_user.full_name), edit=False, reply_turn=reply_turn)


async def on_start_button(query: CallbackQuery, uow: UnitOfWork, conf: Event, clock: Clock, i18n: I18n,
                          lang: str, profile: Profile | None, quiz_capacity: int | None = None,
                          sent_at: SentAt | None = None, reply_turn: ReplyTurn | None = None,
                          guest: Profile | None = None) -> None:
    """"Start the quiz" on the announcement: the announcement becomes the quiz message."""
    await query.answer()
    assert isinstance(query.message, Message)
    await _begin(query.message, uow, conf, clock, i18n, lang, profile or guest, quiz_capacity, sent_at,
                 (query.from_user.id, query.from_user.full_name), edit=True, reply_turn=reply_turn)


async def on_name(query: CallbackQuery, callback_data: QuizNameCb, uow: UnitOfWork, state: FSMContext, conf: Event,
                  clock: Clock, i18n: I18n, lang: str, profile: Profile | None, quiz_capacity: int | None = None,
                  sent_at: SentAt | None = None, reply_turn: ReplyTurn | None = None,
                  guest: Profile | None = None) -> None:
    """A choice of how the leaderboard shows the player: the quiz starts in the same message, or a nickname is
    asked for."""
    assert isinstance(query.message, Message)
    try:
        stored = await uc.choose_name(uow, state, query.from_user.id, shown_as=callback_data.s,
                                      first_name=query.from_user.first_name, now=clock.now())
    except ServiceError as err:
        await query.answer(refusal(err, html=False), show_alert=True)
        return
    await query.answer()
    if not stored:
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(_(uc.ASK_NICKNAME))
        return
    await _begin(query.message, uow, conf, clock, i18n, lang, profile or guest, quiz_capacity, sent_at,
                 (query.from_user.id, query.from_user.full_name), edit=True, reply_turn=reply_turn)


async def on_nickname(message: Message, uow: UnitOfWork, state: FSMContext, conf: Event, clock: Clock, i18n: I18n,
                      lang: str, profile: Profile | None, quiz_capacity: int | None = None,
                      sent_at: SentAt | None = None, reply_turn: ReplyTurn | None = None,
                      guest: Profile | None = None) -> None:
    """The nickname typed after "A nickname": stored, then the first question."""
    assert message.from_user is not None
    try:
        await uc.set_nickname(uow, state, message.from_user.id, text=message.text or "",
                              first_name=message.from_user.first_name, now=clock.now())
    except ServiceError as err:
        await message.answer(refusal(err))
        return
    await _begin(message, uow, conf, clock, i18n, lang, profile or guest, quiz_capacity, sent_at,
                 (message.from_user.id, message.from_user.full_name), edit=False, reply_turn=reply_turn)


def _unchanged(outcome: Outcome | None, finished: bool) -> str:
    if finished and outcome is Outcome.STALE:
        return _("Your quiz is finished. Send /leaderboard to see where you stand.")
    if outcome is Outcome.DUPLICATE:
        return _("You answered this question already.")
    if outcome is Outcome.STALE:
        return _("This question is over. Your quiz goes on in its newest message.")
    if outcome is Outcome.LATE:
        return _("Too late for this question: its time was up.")
    if outcome is Outcome.EARLY:
        return _("This question has not reached you yet: wait until it is shown, then answer.")
    return _("This button is not part of your quiz.")


async def on_answer(query: CallbackQuery, callback_data: QuizCb, uow: UnitOfWork, conf: Event, clock: Clock,
                    i18n: I18n, lang: str, profile: Profile | None, arrived_at: datetime | None = None,
                    sent_at: SentAt | None = None, reply_turn: ReplyTurn | None = None,
                    guest: Profile | None = None) -> None:
    """A press on an answer: scored by when the press arrived, then feedback and the next question in the same
    message. A second press, an old or forged button, someone else's quiz message: a polite line, nothing
    changes."""
    assert isinstance(query.message, Message)
    now = clock.now()
    if query.message.chat.id != query.from_user.id:  # not the presser's own chat: never their quiz message
        await query.answer(_("This button is not part of your quiz."))
        return
    try:
        step = await uc.answer(uow, conf, query.from_user.id, index=callback_data.i, question_id=callback_data.q,
                               choice=callback_data.c, arrived_at=arrived_at or now, now=now,
                               message_id=query.message.message_id)
    except ServiceError as err:
        await query.answer(_refusal(err, conf, lang, profile, now), show_alert=True)
        return
    if not step.changed:
        await query.answer(_unchanged(step.outcome, step.finished))
        return
    record = step.record
    if record is not None and record.right:
        await query.answer(_("✅ +{points}").format(points=record.points))
    elif record is not None and record.choice is not None:
        await query.answer(_("❌ Not quite: 0 points"))
    else:
        await query.answer(_("⏰ Too late: 0 points"))
    await _show(query.message, step, uow, i18n, lang, conf, sent_at, clock, edit=True,
                zone=reader_zone(profile or guest, conf), reply_turn=reply_turn)


async def on_leaderboard(message: Message, uow: UnitOfWork, i18n: I18n, lang: str) -> None:
    """/leaderboard: the top 10 by the names the players chose (never a surname, city or country) and the
    reader's own place."""
    assert message.from_user is not None
    board = await uc.public_leaderboard(uow, message.from_user.id)
    if not board.top:
        await message.answer(_("Nobody has played the Smart City Quiz yet."))
        return
    lines = uc.public_text(i18n, lang, board)
    lines.append("")
    if board.mine is None:
        lines.append(_("You have not played yet: send /quiz while the quiz is open."))
    else:
        lines.append(ngettext("Your place: <b>{rank}</b> of {count}, {n} point ({right} right).",
                              "Your place: <b>{rank}</b> of {count}, {n} points ({right} right).",
                              board.mine.score).format(rank=board.mine.rank, count=board.count, n=board.mine.score,
                                                       right=board.mine.right))
    await message.answer("\n".join(lines))


async def on_quiz_open(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, is_admin: bool,
                       quiz_capacity: int | None = None, sent_at: SentAt | None = None) -> None:
    """/quiz_open (organisers): open the quiz now; the announcement goes out if it has not."""
    assert message.from_user is not None
    try:
        done = await uc.open_quiz(uow, conf, by=message.from_user.id, now=clock.now())
    except ServiceError as err:
        await message.answer(refusal(err))
        return
    if not done.changed:
        await message.answer(_(uc.ALREADY_OPEN))
        return
    await message.answer(_("The quiz is open. Announcements queued: {n}. Telegram's sending limit lets me serve "
                           "about {players} players at once in private chats; whoever starts past that is told "
                           "how long to wait. For a larger room, run /quiz_group in the room's group chat: "
                           "everyone answers the same quiz polls there.").format(
        n=done.announced, players=quiz_capacity))


async def on_quiz_close(message: Message, uow: UnitOfWork, conf: Event, clock: Clock, is_admin: bool,
                        profile: Profile | None, lang: str) -> None:
    """/quiz_close (organisers): no new questions; final results once the running ones are over."""
    assert message.from_user is not None
    now = clock.now()
    try:
        done = await uc.close_quiz(uow, conf, by=message.from_user.id, now=now)
    except ServiceError as err:
        await message.answer(refusal(err))
        return
    if not done.changed or done.results_at is None:
        await message.answer(_(uc.ALREADY_CLOSED))
        return
    zone = reader_zone(profile, conf)
    await message.answer(_("The quiz is closed: nobody new can start, and those playing finish the questions they "
                           "started. Final results, the winners and the CSV go out within a minute after {at}.").format(
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
        shown = {}
        if isinstance(err.params.get("at"), datetime):
            zone = str(conf.timezone)
            shown["at"] = f"{fmt_when(err.params['at'], zone, lang, now, zone)} {esc(conf.tz_label)}"
        await message.reply(refusal(err, shown=shown))
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
    router.message.register(on_quiz_open, Command("quiz_open"), flags=ORGANISER_ONLY)
    router.message.register(on_quiz_close, Command("quiz_close"), flags=ORGANISER_ONLY)
    router.callback_query.register(on_start_button, QuizStartCb.filter(), on_a_message)
    router.callback_query.register(on_name, QuizNameCb.filter(), on_a_message)
    router.message.register(on_nickname, StateFilter(uc.S_NICKNAME), F.text, ~F.text.startswith("/"))
    router.callback_query.register(on_answer, QuizCb.filter(), on_a_message)
    return router
