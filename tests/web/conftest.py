"""Web fixtures: the app, an HTTPS test client, and signing a person in."""

from __future__ import annotations

import re

import pytest
from quart.testing import QuartClient

from models.entities import Person, Session
from models.passwords import hash_password
from models.sessions import COOKIE_NAME, start_session
from web import create_app

PASSWORD = "correct horse battery staple"
PASSWORD_HASH = hash_password(PASSWORD)


class HttpsClient(QuartClient):
    """A test client that speaks HTTPS, so that Secure cookies travel."""

    csrf: str | None = None

    async def open(self, path, *args, scheme: str = "https", **kwargs):
        return await super().open(path, *args, scheme=scheme, **kwargs)

    def form(self, **fields) -> dict:
        """Return form fields with this client's CSRF token added."""
        return {"csrf_token": self.csrf or "", **fields}


@pytest.fixture
def app(database):
    app = create_app(database, manage_database=False)
    app.test_client_class = HttpsClient
    # Tests that start serving (test_app) run no periodic jobs unless they ask.
    app.config["JOBS_IN_PROCESS"] = False
    return app


@pytest.fixture
def client(app) -> HttpsClient:
    return app.test_client()


@pytest.fixture
def sign_in(app):
    """Return a function that gives a new client signed in as a person."""

    async def _sign_in(person: Person) -> HttpsClient:
        client = app.test_client()
        token = await start_session(person)
        client.set_cookie("localhost", COOKIE_NAME, token, secure=True, httponly=True)
        session = await Session.filter(person_id=person.id).order_by("-id").first()
        client.csrf = session.csrf_token
        client.token = token
        return client

    return _sign_in


async def sign_in_with_form(
    client: HttpsClient, school: str, email: str, password: str
):
    """Sign in through the real form, as a browser does."""
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(True))
    return await client.post(
        "/login",
        form={
            "csrf_token": token.group(1),
            "school": school,
            "email": email,
            "password": password,
        },
    )


def assert_sent_to_sign_in(response, htmx: bool) -> None:
    """A signed-out request goes to sign-in: a redirect, or for htmx a 401
    that names it (HX-Redirect)."""
    if htmx:
        assert response.status_code == 401
        assert response.headers["HX-Redirect"] == "/login"
    else:
        assert response.status_code == 302
        assert response.headers["Location"] == "/login"
