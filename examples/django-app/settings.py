"""Minimal Django project for the Naano example (no database needed)."""

import os

SECRET_KEY = "example-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "signup"]
MIDDLEWARE = ["naano.django.NaanoMiddleware"]
DATABASES: dict = {}
USE_TZ = True
NAANO = {"BASE_URL": os.environ.get("NAANO_BASE_URL"), "TIMEOUT": 10.0}
