from tests.followup.conftest import protocols  # noqa: F401  (the §2 defaults, reloaded)
