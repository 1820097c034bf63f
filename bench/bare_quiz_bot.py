"""The bare aiogram bot the quiz bench compares against: it plays a quiz of the same shape and sizes.

    BOT_TOKEN=42:TEST TELEGRAM_API_URL=http://127.0.0.1:PORT python -m bench.bare_quiz_bot

aiogram's default Dispatcher and polling, nothing else: `/quiz` is answered with a question of the size of
ours and four buttons (qz:<i>:<id>:<c>); a press is answered (answerCallbackQuery) and the message edited
into the next question, ten times, then a closing text. No database, no checks: what is left of ours when
everything that makes it a quiz (the attempt, the score, the durable answer, the time-out) is taken away.
"""

from __future__ import annotations

import asyncio

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bench.bare_bot import poll

QUESTIONS = 10
# About the size of ours: feedback, explanation, the next question's heading and text.
FEEDBACK = ("✅ Right! +142 points.\n\n<i>WeGO was founded in 2010 by 50 cities; its secretariat is in Seoul "
            "and it has regional offices around the world.</i>\n\n")
QUESTION = "<b>Question {n} of 10</b> · 20 seconds\nIn which year was WeGO, the World Smart Sustainable Cities " \
           "Organization, established?"
OPTIONS = ("2008", "2010", "2012", "2014")


def keyboard(i: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=o, callback_data=f"qz:{i}:q{i}:{c}")]
                                                 for c, o in enumerate(OPTIONS)])


async def on_quiz(message: Message) -> None:
    await message.answer(QUESTION.format(n=1), reply_markup=keyboard(0), parse_mode="HTML")


async def on_press(query: CallbackQuery) -> None:
    i = int((query.data or "qz:0").split(":")[1]) + 1
    await query.answer()
    assert isinstance(query.message, Message)
    if i < QUESTIONS:
        await query.message.edit_text(FEEDBACK + QUESTION.format(n=i + 1), reply_markup=keyboard(i),
                                      parse_mode="HTML")
    else:
        await query.message.edit_text(FEEDBACK + "🏁 That was the last question. Your score: <b>1420</b> points.",
                                      parse_mode="HTML")


async def main() -> None:
    router = Router(name="bare-quiz")
    router.message.register(on_quiz)
    router.callback_query.register(on_press, F.data.startswith("qz:"))
    await poll(router)


if __name__ == "__main__":
    asyncio.run(main())
