"""The admin's subscription pages: each staff member sets their own, once per clinic."""

from django.test import Client

from followup.models import Subscription

ADD = "/admin/followup/subscription/add/"


def browser_for(persona) -> Client:
    browser = Client()
    browser.force_login(persona.user)
    return browser


def test_staff_subscribe_themselves_in_the_admin(staff_a):
    response = browser_for(staff_a).post(
        ADD, {"clinic": staff_a.clinic.pk, "digest": "on", "urgent": "on"}
    )

    assert response.status_code == 302
    assert Subscription.objects.get().user == staff_a.user


def test_a_second_subscription_to_the_same_clinic_is_a_form_error(staff_a):
    Subscription.objects.create(user=staff_a.user, clinic=staff_a.clinic)

    response = browser_for(staff_a).post(ADD, {"clinic": staff_a.clinic.pk, "digest": "on"})

    assert response.status_code == 200  # the form again, with the error; not a 500
    assert "already" in response.content.decode()
    assert Subscription.objects.count() == 1


def test_a_colleagues_subscription_is_not_listed(staff_a, viewer_a):
    Subscription.objects.create(user=viewer_a.user, clinic=viewer_a.clinic)

    page = browser_for(staff_a).get("/admin/followup/subscription/")

    assert page.status_code == 200
    assert "vera" not in page.content.decode()
