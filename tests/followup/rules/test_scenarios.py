"""The cases of the Guide's figures, as a sequence of exams evaluated through run_all.

Each exam is evaluated as it is recorded: its context holds the surgery's earlier exams
and the baseline film (builders.timeline).
"""

from .builders import discectomy, exam, fusion, timeline

SERIOUS = {"high", "urgent"}


def codes(alerts):
    return {alert.code for alert in alerts}


def by_code(alerts, code):
    return [alert for alert in alerts if alert.code == code]


def test_normal_fusion_at_one_year():
    # Fig. 9: full bony bridge, no resorption around the screws except a thin, tolerated
    # sclerosis, no gas in the disc or around the spacer.
    surgery = fusion(["L4-L5"], "tlif")
    exams = [
        exam(3, "XR", [("spacer_posterior_distance_mm", 5.0, "L4-L5")], dose=1),
        exam(120, "XR", [("bridging", "partial", "L4-L5")], dose=1),
        exam(
            365,
            "CT",
            [
                ("bridging", "complete", "L4-L5"),
                ("spacer_posterior_distance_mm", 4.8, "L4-L5"),
                ("screw_lucency_mm", 0.5, "L5", "right"),
                ("periscrew_margin", "sclerotic_rim", "L5", "right"),
                ("vacuum_disc", False, "L4-L5"),
                ("vacuum_spacer_only", False, "L4-L5"),
            ],
            dose=8,
        ),
    ]
    results = timeline(surgery, exams)
    assert all(alert.severity not in SERIOUS for _, alerts in results for alert in alerts)
    assert [alerts for _, alerts in results] == [[], [], []]


def test_mechanical_pseudarthrosis():
    # Fig. 10: no bridge after one year, gas in the disc, owl eyes (resorption > 2 mm with
    # sclerotic margins) along the inferior screws.
    surgery = fusion(["L4-L5"], "plif")
    exams = [
        exam(3, "XR", [("spacer_posterior_distance_mm", 4.0, "L4-L5")]),
        exam(180, "XR", [("bridging", "partial", "L4-L5")]),
        exam(
            420,
            "CT",
            [
                ("bridging", "none", "L4-L5"),
                ("vacuum_disc", True, "L4-L5"),
                ("screw_lucency_mm", 3.0, "L5", "left"),
                ("periscrew_margin", "sclerotic_rim", "L5", "left"),
                ("screw_lucency_mm", 2.6, "L5", "right"),
                ("periscrew_margin", "sclerotic_rim", "L5", "right"),
                ("spacer_posterior_distance_mm", 4.0, "L4-L5"),
            ],
        ),
    ]
    (_, at_baseline), (_, at_six_months), (_, ct) = timeline(surgery, exams)
    assert at_baseline == at_six_months == []
    assert {"pseudarthrosis_suspected", "micromotion", "screw_loosening"} <= codes(ct)
    assert {a.subject for a in by_code(ct, "screw_loosening")} == {"L5:left", "L5:right"}
    assert {a.severity for a in by_code(ct, "pseudarthrosis_suspected")} == {"high"}
    assert {a.severity for a in by_code(ct, "micromotion")} == {"high"}
    assert "periscrew_infection" not in codes(ct)
    assert "locked_pseudarthrosis" not in codes(ct)


def test_septic_loosening():
    # Fig. 5 e-i: persistent pain 6 months after a lumbosacral arthrodesis; extensive
    # osteolysis around the L3 screws with no sclerotic rim; nothing around L4.
    surgery = fusion(["L3-S1"], "posterolateral_fusion", ("pedicle_screws", "rods"))
    exams = [
        exam(4, "XR"),
        exam(
            183,
            "CT",
            [
                ("screw_lucency_mm", 4.5, "L3", "left"),
                ("periscrew_margin", "ill_defined", "L3", "left"),
                ("screw_lucency_mm", 4.0, "L3", "right"),
                ("periscrew_margin", "ill_defined", "L3", "right"),
                ("screw_lucency_mm", 0, "L4", "left"),
                ("screw_lucency_mm", 0, "L4", "right"),
            ],
        ),
    ]
    (_, ct) = timeline(surgery, exams)[-1]
    infection = by_code(ct, "periscrew_infection")
    assert {a.severity for a in infection} == {"urgent"}
    assert {a.subject for a in infection} == {"L3:left", "L3:right"}
    assert "locked_pseudarthrosis" not in codes(ct)


def test_spacer_displaced_posteriorly_two_years_on():
    # Fig. 11: TLIF at L4-L5, two pain-free years, then the spacer seems too posterior;
    # the baseline radiographs confirm a posterior displacement.
    surgery = fusion(["L4-L5"], "tlif")
    exams = [
        exam(2, "XR", [("spacer_posterior_distance_mm", 3.5, "L4-L5")]),
        exam(365, "XR", [("spacer_posterior_distance_mm", 3.4, "L4-L5")]),
        exam(
            760,
            "CT",
            [
                ("screw_lucency_mm", 1.0, "S1", "left"),
                ("screw_lucency_mm", 1.0, "S1", "right"),
            ],
        ),
        exam(761, "XR", [("spacer_posterior_distance_mm", 1.2, "L4-L5")]),
    ]
    results = timeline(surgery, exams)
    for _, alerts in results[:3]:
        assert codes(alerts) & {"spacer_migration", "spacer_too_posterior"} == set()
    (_, now) = results[-1]
    [migration] = by_code(now, "spacer_migration")
    assert migration.severity == "high"
    assert migration.subject.startswith("L4-L5")
    assert [a.severity for a in by_code(now, "spacer_too_posterior")] == ["warning"]
    assert "baseline_missing" not in codes(now)


def test_locked_pseudarthrosis():
    # Gas only in the spacer, with a complete bridge and no other sign: not instability.
    surgery = fusion(["L4-L5"], "tlif")
    exams = [
        exam(3, "XR", [("spacer_posterior_distance_mm", 4.0, "L4-L5")]),
        exam(180, "XR", [("bridging", "partial", "L4-L5")]),
        exam(
            400,
            "CT",
            [
                ("bridging", "complete", "L4-L5"),
                ("vacuum_spacer_only", True, "L4-L5"),
                ("vacuum_disc", False, "L4-L5"),
                ("screw_lucency_mm", 1.0, "L5", "left"),
                ("spacer_posterior_distance_mm", 4.0, "L4-L5"),
            ],
        ),
    ]
    (_, ct) = timeline(surgery, exams)[-1]
    assert [(a.code, a.severity) for a in ct] == [("locked_pseudarthrosis", "info")]


def test_pars_fracture_a_year_after_a_successful_fusion():
    # Fig. 12: bilateral pars fracture, unseen on the previous CT.
    surgery = fusion(["L4-S1"], "posterolateral_fusion", ("pedicle_screws", "rods"))
    exams = [
        exam(3, "XR"),
        exam(365, "CT", [("bridging", "complete", "L4-S1")]),
        exam(
            400,
            "CT",
            [
                ("bridging", "complete", "L4-S1"),
                ("pars_fracture", True, "L5", "left"),
                ("pars_fracture", True, "L5", "right"),
            ],
        ),
    ]
    (_, before), (_, after) = timeline(surgery, exams)[1:]
    assert before == []
    assert [a.severity for a in after if a.code == "new_fracture"] == ["high", "high"]


def test_early_abscess_after_an_arthrodesis():
    # Fig. 3 a-b: post-contrast CT 5 days after an L1-S1 arthrodesis, fever, drainage.
    surgery = fusion(["L1-S1"], "posterolateral_fusion", ("pedicle_screws", "rods"))
    exams = [
        exam(1, "XR"),
        exam(5, "CT", [("fluid_collection", "abscess", "L3-L4", "midline")], "iodinated"),
    ]
    (_, ct) = timeline(surgery, exams)[-1]
    assert [(a.code, a.severity) for a in ct] == [("abscess", "urgent")]


def test_recurrent_radicular_pain_a_month_after_a_discectomy():
    # Fig. 6 a-d: pre- and post-operative T2 images look alike one month after surgery:
    # not a recurrence by itself, and a contrast MR is still worth doing.
    surgery = discectomy(["L5-S1"])
    exams = [
        exam(30, "MR", [("disc_herniation", "similar_to_preop", "L5-S1", "left")]),
        exam(31, "MR", [("disc_herniation", "similar_to_preop", "L5-S1", "left")], "gadolinium"),
    ]
    (_, plain), (_, enhanced) = timeline(surgery, exams)
    assert [(a.code, a.severity) for a in plain] == [("contrast_needed", "info")]
    assert enhanced == []
