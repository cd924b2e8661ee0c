"""The instruments the project ships (migration followup 0020 holds its own copy; a test
checks they agree): those whose terms allow it, in English and French.

- `nrs_back`, `nrs_leg`: 0-10 numeric rating scales of pain (CLINICAL_RULES §6), worded
  here; an NRS is a generic scale, free of any licence.
- `grc`: one global rating of change item, worded here (registries ask the like).
- `odi`: the Oswestry Disability Index's scoring only (ten sections scored 0-5, the
  score is the percentage of the most the answered sections could score). Its item texts
  are licensed (Mapi Research Trust): they are never committed; a clinic with a licence
  loads them (`manage.py load_instrument`, docs/proms.md). Until then the ODI is not
  asked (an item without a text in the patient's language is never shown).
"""


def _nrs(code: str, en: str, fr: str) -> dict:
    return {
        "code": code,
        "name": {"nrs_back": "Back pain (NRS 0-10)", "nrs_leg": "Leg pain (NRS 0-10)"}[code],
        "assessment_field": code,
        "licence": "Numeric rating scale, worded by the project: no licence needed.",
        "scoring": {"method": "single"},
        "items": [{
            "code": code,
            "text": {"en": en, "fr": fr},
            "low": {"en": "No pain", "fr": "Aucune douleur"},
            "high": {"en": "Worst pain imaginable", "fr": "Pire douleur imaginable"},
            "options": [{"value": n, "text": {"en": str(n), "fr": str(n)}} for n in range(11)],
        }],
    }  # fmt: skip


GRC_OPTIONS = [
    (1, "Much better", "Beaucoup mieux"),
    (2, "Somewhat better", "Un peu mieux"),
    (3, "About the same", "À peu près pareil"),
    (4, "Somewhat worse", "Un peu moins bien"),
    (5, "Much worse", "Beaucoup moins bien"),
]
ODI_SECTIONS = 10

INSTRUMENTS = [
    _nrs("nrs_back",
         "Over the past week, how strong has your back pain been on average?",
         "Au cours de la dernière semaine, quelle a été l'intensité moyenne de votre douleur "
         "au dos ?"),
    _nrs("nrs_leg",
         "Over the past week, how strong has the pain in your leg or legs been on average?",
         "Au cours de la dernière semaine, quelle a été l'intensité moyenne de la douleur "
         "dans votre jambe ou vos jambes ?"),
    {
        "code": "grc",
        "name": "Global rating of change",
        "assessment_field": "",
        "licence": "Worded by the project: no licence needed.",
        "scoring": {"method": "none"},
        "items": [{
            "code": "grc",
            "text": {
                "en": "Compared with before your operation, how are you now, all things "
                      "considered?",
                "fr": "Par rapport à avant votre opération, comment allez-vous maintenant, "
                      "tout bien considéré ?",
            },
            "options": [{"value": v, "text": {"en": en, "fr": fr}} for v, en, fr in GRC_OPTIONS],
        }],
    },
    {
        "code": "odi",
        "name": "Oswestry Disability Index (scoring only: load the licensed texts)",
        "assessment_field": "odi",
        "licence": "Item texts licensed by Mapi Research Trust (ODI v2.1a): load them with "
                   "`manage.py load_instrument` under the clinic's licence.",
        # The ODI's rule: the sections answered count; one may be left out.
        "scoring": {"method": "percent_of_max", "max_missing": 1},
        "items": [
            {"code": f"odi_{n}", "options": [{"value": v} for v in range(6)]}
            for n in range(1, ODI_SECTIONS + 1)
        ],
    },
]  # fmt: skip


def load_default_instruments(Instrument, codes=None) -> None:
    """Version 1 of each shipped instrument that has none yet; idempotent. Takes the model
    so that a data migration can pass its historical one."""
    for spec in INSTRUMENTS:
        if codes is not None and spec["code"] not in codes:
            continue
        if Instrument.objects.filter(code=spec["code"], clinic__isnull=True).exists():
            continue
        Instrument.objects.create(clinic=None, version=1, notes="Shipped with the project", **spec)
