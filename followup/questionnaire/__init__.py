"""The patient's own questionnaire page, outside the admin: opened from the link of an
invitation e-mail, one item per screen, progress saved, in the patient's language."""
