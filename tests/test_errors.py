"""The one renderer of a refusal (services.errors.error_text), used by the bot's handlers and the console."""

from __future__ import annotations

from domain.errors import Msgid, ServiceError
from domain.text import esc
from services.errors import error_text

RU = {"Too long: {text}": "Слишком длинно: {text}", "pending": "на проверке", "Status: {status}": "Статус: {status}"}


def gettext(msgid: str) -> str:
    return RU.get(msgid, msgid)


def ngettext(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def test_the_msgid_is_translated_and_filled() -> None:
    assert error_text(ServiceError("long", "Too long: {text}", text="abc"), gettext, ngettext) == "Слишком длинно: abc"


def test_a_plural_pair_is_counted_by_n() -> None:
    err = ServiceError("full", "Wait {n} minute ({players} playing).", "Wait {n} minutes ({players} playing).",
                       n=3, players=500)
    assert error_text(err, gettext, ngettext) == "Wait 3 minutes (500 playing)."
    err = ServiceError("full", "Wait {n} minute ({players} playing).", "Wait {n} minutes ({players} playing).",
                       n=1, players=500)
    assert error_text(err, gettext, ngettext) == "Wait 1 minute (500 playing)."


def test_a_msgid_parameter_is_translated_and_an_empty_one_stays_empty() -> None:
    assert error_text(ServiceError("c", "Status: {status}", status=Msgid("pending")), gettext, ngettext) == \
        "Статус: на проверке"
    assert error_text(ServiceError("c", "Status: {status}", status=Msgid("")), gettext, ngettext) == "Статус: "


def test_text_parameters_are_escaped_for_html_and_rendered_ones_are_kept() -> None:
    err = ServiceError("long", "Too long: {text}", text="<b>&")
    assert error_text(err, gettext, ngettext, escape=esc) == "Слишком длинно: &lt;b&gt;&amp;"
    assert error_text(err, gettext, ngettext) == "Слишком длинно: <b>&"  # the console's templates escape
    assert error_text(err, gettext, ngettext, escape=esc, shown={"text": "<i>x</i>"}) == "Слишком длинно: <i>x</i>"
