"""CLINICAL_RULES §4 `cumulative_dose`: the patient's effective dose over the last 12 months
exceeds the clinic's threshold (20 mSv); one alert per patient, whatever the number of
surgeries."""

from .story import DAY0, on_day, one

EXTENSION = on_day(100, hour=9)


def test_a_patient_with_two_surgeries_over_the_dose_threshold_has_one_dose_alert(story):
    story.surgery(DAY0, levels=["L4-L5"])
    story.exam(on_day(1))  # the baseline film
    story.exam(on_day(2), "CT", dose="12.0")
    story.exam(on_day(30), "CT", dose="10.0")
    one(story.alerts("cumulative_dose"), "open dose alert")  # 22 mSv in 12 months

    story.surgery(EXTENSION, levels=["L3-L4"])
    story.exam(on_day(1, day0=EXTENSION))  # its baseline film
    story.exam(on_day(10, day0=EXTENSION), "CT", dose="5.0")  # 27 mSv in 12 months

    alert = one(story.alerts("cumulative_dose"), "open dose alert")
    assert alert["severity"] == "info"


def test_below_the_threshold_there_is_no_dose_alert(story):
    """Guard: 20 mSv is not above 20 mSv."""
    story.surgery(DAY0)
    story.exam(on_day(1))
    story.exam(on_day(2), "CT", dose="12.0")
    story.exam(on_day(30), "CT", dose="8.0")

    assert story.alerts("cumulative_dose") == []
