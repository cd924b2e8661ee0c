"""Every admin action declares the permission it needs, and a viewer runs none of them.

Authority in the admin comes from memberships (patients/base/admin/scoping.py): a viewer reads,
a clinician or manager changes, and only a manager holds the integration's keys (mints,
rotates and revokes tokens, rotates webhook secrets: patients/base/admin/keys.py). An action
without `permissions=[...]` is offered to whoever sees the list, viewers included: the
walk below fails on any such action, in any app, including one added later.
"""

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory

from followup.models import Alert, AlertStatus, DoseReport, Severity, WebhookEndpoint
from followup.models.alerts import AlertCode
from patients.models import ApiClient, CdsHooksClient, Membership, Role, SmartClient
from tests import factories
from tests.conftest import make_staff

MANAGERS_ONLY = {
    (ApiClient, "revoke"),
    (ApiClient, "rotate_tokens"),
    (WebhookEndpoint, "rotate_secrets"),
    (DoseReport, "complete_missing_doses"),
    (SmartClient, "revoke"),
    (CdsHooksClient, "revoke"),
}


def every_action():
    """(model admin, action name, function) for each action of each registered ModelAdmin,
    the site-wide ones (delete_selected) included."""
    for model_admin in admin.site._registry.values():
        names = [name for name, _ in model_admin.admin_site.actions]
        names += [a if isinstance(a, str) else a.__name__ for a in model_admin.actions or []]
        for name in names:
            func, name, _ = model_admin.get_action(name)
            yield model_admin, name, func


def actions_for(user, model_admin) -> set[str]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return set(model_admin.get_actions(request))


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def run_action(user, model, action: str, *objects, **extra):
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    data = {"action": action, "_selected_action": [o.pk for o in objects], **extra}
    return browser(user).post(url, data, follow=True)


@pytest.fixture
def webhook_settings(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # the tests' receivers are on loopback


@pytest.fixture
def clinician(clinic_a):
    return make_staff("clara", clinic_a, Role.CLINICIAN)


@pytest.fixture
def viewer(clinic_a):
    return make_staff("vic", clinic_a, Role.VIEWER)


@pytest.fixture
def manager(clinic_a):
    return make_staff("max", clinic_a, Role.MANAGER)


@pytest.fixture
def alert_a(clinic_a):
    surgery = factories.surgery(factories.patient(clinic_a))
    return Alert.objects.create(
        clinic=clinic_a,
        patient=surgery.patient,
        surgery=surgery,
        code=AlertCode.SCREW_LOOSENING,
        subject="L5:left",
        severity=Severity.HIGH,
        message="Loosening",
    )


def test_every_admin_action_declares_its_permissions():
    undeclared, unchecked = [], []
    for model_admin, name, func in every_action():
        where = f"{type(model_admin).__name__}.{name}"
        permissions = getattr(func, "allowed_permissions", ())
        if not permissions:
            undeclared.append(where)
        unchecked += [
            f"{where}: has_{p}_permission"
            for p in permissions
            if not callable(getattr(model_admin, f"has_{p}_permission", None))
        ]
    assert not undeclared, f"admin actions without permissions=[...]: {undeclared}"
    assert not unchecked, f"declared permissions without their check: {unchecked}"


def test_the_walk_sees_the_actions_it_guards():
    """The walk is not vacuous: it finds the actions this file is about."""
    found = {(type(m).__name__, name) for m, name, _ in every_action()}
    assert ("ApiClientAdmin", "revoke") in found
    assert ("SurgeryAdmin", "replan_onto_current_versions") in found
    assert ("AlertAdmin", "acknowledge_selected") in found


def test_a_viewer_is_offered_no_action_anywhere(viewer):
    """Except on their own e-mail settings (followup/admin/mail.py): theirs, not the clinic's."""
    offered = {
        type(model_admin).__name__: sorted(actions)
        for model_admin in admin.site._registry.values()
        if (actions := actions_for(viewer, model_admin))
    }
    assert offered == {"SubscriptionAdmin": ["delete_selected"]}


def test_managers_only_actions_are_not_offered_to_a_clinician(clinician):
    for model, name in MANAGERS_ONLY:
        assert name not in actions_for(clinician, admin.site._registry[model]), name


def test_a_manager_is_offered_the_integrations_actions(manager):
    for model, name in MANAGERS_ONLY:
        assert name in actions_for(manager, admin.site._registry[model]), name


def test_a_viewer_cannot_revoke_a_token(viewer, integration_a):
    run_action(viewer, ApiClient, "revoke", integration_a.client)

    integration_a.client.refresh_from_db()
    assert integration_a.client.revoked_at is None
    assert integration_a.api.get("/api/v1/patients/").status_code == 200


@pytest.mark.parametrize("role", [Role.VIEWER, Role.CLINICIAN])
def test_only_a_manager_revokes_or_rotates_a_token(role, clinic_a, integration_a):
    user = make_staff(f"someone-{role}", clinic_a, role)
    before = ApiClient.objects.filter(pk=integration_a.client.pk).values().get()

    run_action(user, ApiClient, "revoke", integration_a.client)
    run_action(user, ApiClient, "rotate_tokens", integration_a.client, post="yes")

    assert ApiClient.objects.filter(pk=integration_a.client.pk).values().get() == before
    assert integration_a.api.get("/api/v1/patients/").status_code == 200


@pytest.mark.parametrize("role", [Role.VIEWER, Role.CLINICIAN])
def test_only_a_manager_rotates_a_webhook_secret(role, clinic_a, webhook_settings):
    user = make_staff(f"someone-{role}", clinic_a, role)
    endpoint = WebhookEndpoint.objects.create(clinic=clinic_a, url="http://127.0.0.1:9/hook")

    response = run_action(user, WebhookEndpoint, "rotate_secrets", endpoint, post="yes")

    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret
    assert endpoint.secret not in response.content.decode()


def test_a_viewer_cannot_acknowledge_alerts(viewer, alert_a):
    run_action(viewer, Alert, "acknowledge_selected", alert_a)

    assert Alert.objects.get(pk=alert_a.pk).status == AlertStatus.OPEN


def test_a_clinician_acknowledges_only_where_they_are_not_a_viewer(clinician, clinic_b, alert_a):
    """A clinician of A who only reads B: selecting B's alert with A's acknowledges A's."""
    Membership.objects.create(user=clinician, clinic=clinic_b, role=Role.VIEWER)
    surgery_b = factories.surgery(factories.patient(clinic_b))
    alert_b = Alert.objects.create(
        clinic=clinic_b, patient=surgery_b.patient, surgery=surgery_b, subject="L5:left",
        code=AlertCode.SCREW_LOOSENING, severity=Severity.HIGH, message="Loosening",
    )  # fmt: skip

    run_action(clinician, Alert, "acknowledge_selected", alert_a, alert_b)

    assert Alert.objects.get(pk=alert_a.pk).status == AlertStatus.ACKNOWLEDGED
    assert Alert.objects.get(pk=alert_b.pk).status == AlertStatus.OPEN


def test_a_viewer_cannot_replan_a_surgery(viewer, clinic_a):
    surgery = factories.surgery(factories.patient(clinic_a))
    before = type(surgery).objects.filter(pk=surgery.pk).values().get()

    run_action(viewer, type(surgery), "replan_onto_current_versions", surgery)

    assert type(surgery).objects.filter(pk=surgery.pk).values().get() == before


def test_a_viewer_cannot_delete_through_the_action(viewer, clinic_a):
    patient = factories.patient(clinic_a)

    run_action(viewer, type(patient), "delete_selected", patient, post="yes")

    assert type(patient).objects.filter(pk=patient.pk).exists()
