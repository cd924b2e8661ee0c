"""/p/: the patient's questionnaire (short: it is typed from paper letters too)."""

from django.urls import path

from . import views

app_name = "proms"

urlpatterns = [
    path("", views.page, name="page"),
    path("thanks/", views.thanks, name="thanks"),
    path("<str:token>/", views.open_link, name="open"),
]
