"""A Flask signup flow attributed with Naano.

Run a naano-server, then: NAANO_BASE_URL=http://127.0.0.1:8080 flask --app app run
"""

from __future__ import annotations

import os

from flask import Flask, redirect, request

from naano.flask import Naano


def create_app(base_url: str | None = None) -> Flask:
    app = Flask(__name__)
    app.config["NAANO_BASE_URL"] = base_url or os.environ.get("NAANO_BASE_URL")
    naano = Naano(app)  # persists ?naano_session= as a first-party cookie on every response
    accounts: list[str] = []
    app.extensions["accounts"] = accounts

    @app.get("/")
    def landing() -> str:
        return (
            "<h1>Try Acme</h1><form method=post action=/signup>"
            "<input name=email> <input name=company> <input name=name> <button>Sign up</button></form>"
        )

    @app.post("/signup")
    def signup():  # type: ignore[no-untyped-def]
        accounts.append(request.form["email"])  # the real work: create the account
        # One call: returns at once, never raises for network trouble.
        naano.track_signup(
            email=request.form["email"], company=request.form["company"], name=request.form.get("name") or None
        )
        return redirect("/welcome")

    @app.get("/welcome")
    def welcome() -> str:
        return "<p>Welcome!</p>"

    return app


app = create_app()
