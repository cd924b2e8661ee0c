"""Instruments as data: the shipped ones, their scoring, and a clinic loading the texts of
a licensed one from its own file (invented texts here: the real ODI's are licensed)."""

import importlib
import json

import pytest
from django.core.management import CommandError, call_command

from followup.models import Instrument
from followup.rules import default_instruments
from followup.rules.instruments import InvalidDefinition, items_of, score


def shipped(code: str) -> Instrument:
    return Instrument.objects.in_force(None, code=code)


def test_the_migration_ships_what_the_rules_say():
    migration = importlib.import_module("followup.migrations.0023_instruments")
    assert migration.INSTRUMENTS == default_instruments.INSTRUMENTS


def test_the_shipped_instruments_are_there_and_the_odi_has_no_text(db):
    assert {i.code for i in Instrument.objects.all()} >= {"nrs_back", "nrs_leg", "grc", "odi"}
    assert shipped("nrs_back").askable_in("en") and shipped("nrs_back").askable_in("fr")
    assert shipped("grc").askable_in("fr")
    odi = shipped("odi")
    assert not odi.askable_in("en")  # licensed texts are never committed
    assert all(not item.get("text") for item in odi.items)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({f"odi_{n}": 5 for n in range(1, 11)}, 100),
        ({f"odi_{n}": 0 for n in range(1, 11)}, 0),
        ({f"odi_{n}": 2 for n in range(1, 11)}, 40),
        # One section left out: the sum over 45 (the ODI's rule), 20/45 = 44.4 -> 44.
        ({f"odi_{n}": 2 + (n == 1) * 2 for n in range(1, 10)}, 44),
        ({f"odi_{n}": 2 for n in range(1, 9)}, None),  # two left out: not scored
    ],
)
def test_the_odi_score(db, answers, expected):
    assert shipped("odi").score(answers) == expected


def test_an_nrs_scores_its_answer_and_refuses_a_value_it_does_not_offer(db):
    nrs = shipped("nrs_back")
    assert nrs.score({"nrs_back": 7}) == 7
    with pytest.raises(InvalidDefinition):
        nrs.score({"nrs_back": 11})


def test_a_definition_with_a_bad_item_is_refused():
    with pytest.raises(InvalidDefinition, match="code is used twice"):
        items_of([{"code": "a", "options": [{"value": 1}]}] * 2)
    with pytest.raises(InvalidDefinition, match="integer value"):
        items_of([{"code": "a", "options": [{"value": "1"}]}])
    assert score(items_of([{"code": "a", "options": [{"value": 1}]}]), {"method": "none"},
                 {"a": 1}) is None  # fmt: skip


def odi_file(tmp_path, **changes):
    items = [
        {"code": f"odi_{n}", "text": {"en": f"Invented section {n}", "fr": f"Section {n}"},
         "options": [{"value": v, "text": {"en": f"answer {v}", "fr": f"réponse {v}"}}
                     for v in range(6)]}
        for n in range(1, 11)
    ]  # fmt: skip
    path = tmp_path / "odi.json"
    path.write_text(json.dumps({"code": "odi", "items": items, **changes}))
    return path


def test_a_clinic_loads_the_texts_into_a_version_of_its_own(db, paris, tmp_path):
    call_command("load_instrument", str(odi_file(tmp_path)), "--clinic", "paris")

    mine = Instrument.objects.in_force(paris.pk, code="odi")
    assert mine.clinic == paris and mine.version == 1
    assert mine.askable_in("en") and mine.askable_in("fr")
    assert mine.scoring == shipped("odi").scoring
    assert mine.score({f"odi_{n}": 1 for n in range(1, 11)}) == 20
    assert not shipped("odi").askable_in("en")  # the shared version is untouched


def test_a_file_cannot_change_the_scoring(db, paris, tmp_path):
    path = odi_file(tmp_path)
    data = json.loads(path.read_text())
    data["items"][0]["options"].append({"value": 9, "text": {"en": "x"}})
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="option values must be"):
        call_command("load_instrument", str(path), "--clinic", "paris")
    data["items"] = data["items"][1:]
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="every item"):
        call_command("load_instrument", str(path), "--clinic", "paris")
    assert not Instrument.objects.filter(clinic=paris).exists()
