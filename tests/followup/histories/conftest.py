import pytest

from .story import Story


@pytest.fixture
def story(protocols, integration_a) -> Story:
    """A patient of clinic A (Europe/Paris), told through A's integration client."""
    return Story(integration_a)
