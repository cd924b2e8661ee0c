"""/api/v1/subscriptions/: each staff member's own e-mail settings, by persona."""

import pytest

from followup.models import Subscription
from tests.conftest import make_staff

URL = "/api/v1/subscriptions/"


@pytest.fixture
def mine(staff_a) -> Subscription:
    return Subscription.objects.create(user=staff_a.user, clinic=staff_a.clinic, urgent=False)


@pytest.fixture
def colleagues(staff_a, staff_b) -> Subscription:
    """A colleague's settings in clinic A; bob's in clinic B."""
    carol = make_staff("carol", staff_a.clinic)
    Subscription.objects.create(user=staff_b.user, clinic=staff_b.clinic)
    return Subscription.objects.create(user=carol, clinic=staff_a.clinic)


def detail(subscription: Subscription) -> str:
    return f"{URL}{subscription.pk}/"


def test_staff_list_only_their_own(staff_a, mine, colleagues):
    response = staff_a.api.get(URL)

    assert response.status_code == 200
    assert response.json()["results"] == [
        {"id": mine.pk, "clinic": "clinic-a", "digest": True, "urgent": False}
    ]


def test_staff_subscribe_to_their_clinic(staff_a):
    response = staff_a.api.post(URL, {"clinic": "clinic-a", "urgent": False}, format="json")

    assert response.status_code == 201, response.content
    created = Subscription.objects.get()
    assert (created.user, created.clinic, created.digest, created.urgent) == (
        staff_a.user, staff_a.clinic, True, False
    )  # fmt: skip
    assert response.json() == {"id": created.pk, "clinic": "clinic-a", "digest": True,
                               "urgent": False}  # fmt: skip


def test_a_second_subscription_to_the_same_clinic_is_a_400(staff_a, mine):
    response = staff_a.api.post(URL, {"clinic": "clinic-a"}, format="json")

    assert response.status_code == 400
    assert "clinic" in response.json()
    assert Subscription.objects.count() == 1


def test_staff_change_their_own(staff_a, mine):
    response = staff_a.api.patch(detail(mine), {"urgent": True, "digest": False}, format="json")

    assert response.status_code == 200, response.content
    mine.refresh_from_db()
    assert (mine.digest, mine.urgent) == (False, True)
    assert staff_a.api.get(detail(mine)).json()["urgent"] is True


def test_a_subscription_does_not_move_to_another_clinic(staff_a, mine, clinic_b):
    response = staff_a.api.patch(detail(mine), {"clinic": "clinic-b"}, format="json")

    assert response.status_code == 400
    assert "clinic" in response.json()
    mine.refresh_from_db()
    assert mine.clinic == staff_a.clinic


def test_a_colleagues_subscription_is_a_404(staff_a, colleagues):
    assert staff_a.api.get(detail(colleagues)).status_code == 404
    response = staff_a.api.patch(detail(colleagues), {"digest": False}, format="json")
    assert response.status_code == 404
    colleagues.refresh_from_db()
    assert colleagues.digest is True


def test_another_clinics_slug_is_a_400_on_clinic(staff_a, clinic_b):
    for slug in ("clinic-b", "no-such-clinic"):
        response = staff_a.api.post(URL, {"clinic": slug}, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["clinic"]
    assert not Subscription.objects.exists()


def test_no_put_and_no_delete(staff_a, mine):
    assert staff_a.api.put(detail(mine), {"clinic": "clinic-a"}, format="json").status_code == 405
    assert staff_a.api.delete(detail(mine)).status_code == 405
    assert Subscription.objects.filter(pk=mine.pk).exists()


def test_a_viewer_manages_their_own_settings_too(viewer_a):
    """Read-only applies to the clinic's records, not to one's own e-mail."""
    created = viewer_a.api.post(URL, {"clinic": "clinic-a", "urgent": False}, format="json")
    assert created.status_code == 201, created.content

    changed = viewer_a.api.patch(f"{URL}{created.json()['id']}/", {"urgent": True}, format="json")
    assert changed.status_code == 200, changed.content
    assert Subscription.objects.get(user=viewer_a.user).urgent is True


def test_an_integration_client_gets_403(integration_a, mine):
    assert integration_a.api.get(URL).status_code == 403
    assert integration_a.api.post(URL, {"clinic": "clinic-a"}, format="json").status_code == 403
    assert (
        integration_a.api.patch(detail(mine), {"digest": False}, format="json").status_code == 403
    )
    assert Subscription.objects.count() == 1


def test_anonymous_gets_401(anonymous, mine):
    for response in (
        anonymous.api.get(URL),
        anonymous.api.post(URL, {"clinic": "clinic-a"}, format="json"),
        anonymous.api.patch(detail(mine), {"digest": False}, format="json"),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    mine.refresh_from_db()
    assert mine.digest is True
