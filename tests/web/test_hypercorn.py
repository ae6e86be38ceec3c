"""The app under a real hypercorn, as the Procfile runs it.

Tortoise 1.x keeps its connections per asyncio task; the test client runs
everything in one task and would hide a missing cross-task fallback, so these
requests go over a socket to hypercorn workers.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest

from models.entities import Result
from tests.factories import link, make_person, make_school, make_student
from tests.servers import hypercorn_command, serve
from tests.web.conftest import PASSWORD, PASSWORD_HASH

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(database, tmp_path):
    """Start hypercorn with two workers on the test database."""
    env = {
        **os.environ,
        "INZAGE_DATA_DIR": str(tmp_path),
        "INZAGE_DATABASE_URL": database.db_url,
        "INZAGE_SECRET_KEY": "hypercorn-test-secret-" + "y" * 32,
    }
    with serve(hypercorn_command(sys.executable), env, tmp_path / "log") as base:
        yield base


def cookies_from(response: httpx.Response) -> dict[str, str]:
    """Read Set-Cookie by hand: httpx keeps Secure cookies from plain HTTP."""
    jar = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        jar[name] = rest.split(";", 1)[0]
    return jar


async def test_sign_in_and_read_a_section_under_hypercorn(database, server):
    school = await make_school("HYPER")
    kid = await make_student(school, given_name="Fenna")
    guardian = await make_person(school, email="ouder@example.test")
    guardian.password_hash = PASSWORD_HASH
    await guardian.save()
    await link(guardian, kid)
    await Result.create(student=kid, date=date(2026, 11, 2), subject="Biologie")

    with httpx.Client(base_url=server, follow_redirects=False) as http:
        form_page = http.get("/login")
        pre = cookies_from(form_page)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form_page.text)[1]
        signed = http.post(
            "/login",
            data={
                "csrf_token": token,
                "school": "hyper",
                "email": "Ouder@Example.test",
                "password": PASSWORD,
            },
            headers={"Cookie": "; ".join(f"{k}={v}" for k, v in pre.items())},
        )
        assert signed.status_code == 302, (signed.status_code, signed.text[:2000])
        session = cookies_from(signed)["__Host-sid"]
        responses = [
            http.get(url, headers={"Cookie": f"__Host-sid={session}"})
            for url in (f"/students/{kid.id}/", f"/students/{kid.id}/results") * 3
        ]

    assert signed.status_code == 302, signed.text
    assert [r.status_code for r in responses] == [200] * 6, responses[1].text[-3000:]
    assert "Biologie" in responses[1].text
