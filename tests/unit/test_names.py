"""The reporter-name guard finds names the way people write them, and only those."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conduct_desk.domain.errors import ConfidentialityError
from conduct_desk.domain.model import Case, Report, SaidFrom, Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.service.texts import check_confidential

NOW = datetime(2026, 11, 24, 9, tzinfo=UTC)


def _case(reporter: str, subject: str = "sam", said: str | None = None,
          hurt: tuple[str, ...] = ()) -> Case:
    subj = PersonRef.parse(subject)
    case = Case(subject=subj, opened_at=NOW, id=1)
    case.reports.append(Report(subject=subj, reporter=PersonRef.parse(reporter), filed_at=NOW,
                               source=Source.SLACK, message_text=said,
                               said_from=SaidFrom.FETCHED if said else None,
                               harmed=tuple(PersonRef.parse(h) for h in hurt)))
    return case


@pytest.mark.parametrize("text", [
    "al told us about this",  # two letters
    "riley told us", "RILEY told us", "Rіley told us",  # Cyrillic і
    "rіlеу told us",  # Cyrillic і, е, у
    "ri\u200bley told us", "ri\u202eley told us",  # zero-width, bidi override
    "r i l e y told us", "r.i.l.e.y told us", "r-i-l-e-y", "Ｒｉｌｅｙ told us",  # fullwidth
    "Rílèy told us",  # accents
])
def test_a_reporters_name_in_any_spelling_is_refused(text: str) -> None:
    name = "al" if text.startswith("al ") else "riley"
    with pytest.raises(ConfidentialityError) as caught:
        check_confidential(text, _case(name))
    assert caught.value.field == "text"


def test_a_hurt_persons_name_is_refused_too() -> None:
    with pytest.raises(ConfidentialityError):
        check_confidential("jo was upset", _case("riley", hurt=("jo",)))


@pytest.mark.parametrize("text", [
    "kq7-zz9, please read the code of conduct",  # the subject's own name contains kq7
    "alright, all of us care about this channel",  # al inside other words
    "variley is not a word",
])
def test_no_false_refusal_inside_other_words_or_the_subjects_own_name(text: str) -> None:
    reporter = "al" if "al" in text.split(",")[0] else "riley"
    reporter = "kq7" if "kq7" in text else reporter
    check_confidential(text, _case(reporter, subject="kq7-zz9"))


def test_the_words_said_may_still_be_quoted() -> None:
    said = "riley, nobody wants your opinion"
    check_confidential(f"About this message:\n> {said}\nPlease stop.", _case("riley", said=said))
    with pytest.raises(ConfidentialityError):
        check_confidential(f"> {said}\nriley reported it.", _case("riley", said=said))


def test_display_names_from_the_platform_are_guarded() -> None:
    from conduct_desk.service.texts import NameGuard

    case = _case("slack:U024BE7LH", subject="slack:U0SAM")
    names = {PersonRef("slack", "U024BE7LH"): ("Riley Quinn", "rq")}
    guard = NameGuard.for_case(case, lambda p: names.get(p, ()))
    for text in ("Riley Quinn saw it", "r.q. said so", "R i l e y Q u i n n"):
        with pytest.raises(ConfidentialityError) as caught:
            check_confidential(text, case, guard, field="suggestion")
        assert caught.value.field == "suggestion"
        assert caught.value.matched in ("Riley Quinn", "rq")
    check_confidential("Please take this to #random", case, guard)


def test_matrix_localpart_is_a_name() -> None:
    case = _case("matrix:@riley:example.org", subject="matrix:@sam:example.org")
    with pytest.raises(ConfidentialityError):
        check_confidential("riley was there", case)
