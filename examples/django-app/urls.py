from django.urls import path

from signup import views

urlpatterns = [
    path("", views.landing),
    path("signup", views.signup),
    path("signup-async", views.signup_async),
]
