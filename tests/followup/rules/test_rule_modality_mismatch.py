"""modality_mismatch: only MR where the question is hardware or fusion (info).

[Guide, "New radicular pain"]: "MR never allows direct visualisation of surgical hardware:
CT and/or X-rays must be performed"; "MRI is not a good choice to assess bone fusion".
"""

import pytest

from .builders import context, discectomy, exam, limits, severities

CODE = "modality_mismatch"


def test_an_mr_alone_after_a_fusion():
    assert severities(context(exam(200, "MR")), CODE) == ["info"]


@pytest.mark.parametrize("modality", ["XR", "CT"])
def test_an_mr_with_a_film_before_it(modality):
    ctx = context(exam(200, "MR"), earlier=[exam(190, modality)])
    assert severities(ctx, CODE) == []


def test_an_mr_with_a_film_after_it():
    assert severities(context(exam(200, "MR"), later=[exam(210, "XR")]), CODE) == []


@pytest.mark.parametrize(("film_day", "expected"), [(170, []), (169, ["info"]), (231, ["info"])])
def test_the_film_must_be_within_30_days(film_day, expected):
    film = exam(film_day, "XR")
    around = {"earlier": [film]} if film_day < 200 else {"later": [film]}
    assert severities(context(exam(200, "MR"), **around), CODE) == expected


def test_a_bone_scan_does_not_show_hardware():
    assert severities(context(exam(200, "MR"), earlier=[exam(195, "NM")]), CODE) == ["info"]


def test_not_after_disc_surgery_without_hardware():
    assert severities(context(exam(200, "MR"), surgery=discectomy()), CODE) == []


@pytest.mark.parametrize("modality", ["XR", "CT"])
def test_a_film_is_not_a_mismatch(modality):
    assert severities(context(exam(200, modality)), CODE) == []


def test_the_span_is_the_clinics():
    ctx = context(
        exam(200, "MR"), earlier=[exam(155, "CT")], limits=limits(modality_mismatch_days=60)
    )
    assert severities(ctx, CODE) == []
