"""E-mail delivery: the job, SMTP, the mail folder, retries, the queue, and a
real arq worker on Redis with a real SMTP server (issue "Accounts" item 5;
SECURITY-BASELINE 5.2, R1, R4, R8, R9, A28)."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import logging
import os
import re
import signal
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest
from arq import Retry

from models.entities import Outbox, Person
from models.outbox import add_email, add_reset_email, reset_token
from tasks import queue
from tasks.email import message_id, send_email
from tests.factories import link, make_person, make_school, make_student
from tests.servers import free_port
from tests.web.conftest import HttpsClient
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
REDIS_TEST_URL = os.environ.get("INZAGE_REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
SECRET = "test-secret-key-" + "x" * 32


@pytest.fixture
def app(database):
    app = create_app(database, manage_database=False)
    app.test_client_class = HttpsClient
    # Tests that start serving (test_app) run no periodic jobs unless they ask.
    app.config["JOBS_IN_PROCESS"] = False
    return app


@pytest.fixture
async def guardian(database):
    school = await make_school("DEMO", name="Het Talent")
    person = await make_person(school, email="sam@example.test")
    kid = await make_student(school, given_name="Sanne", family_name="Vermeulen")
    await link(person, kid)
    return person


def smtp_settings(settings, port: int, **changes):
    return dataclasses.replace(
        settings, smtp_host="127.0.0.1", smtp_port=port, secret_key=SECRET, **changes
    )


def parts(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def assert_no_student_data(message) -> None:
    whole = message.as_string()
    for word in ("Sanne", "Vermeulen"):
        assert word not in whole


@pytest.fixture(autouse=True)
async def drain_jobs(request):
    web = request.getfixturevalue("app") if "app" in request.fixturenames else None
    yield
    await queue.drain()
    limiter = web.extensions.get("limiter") if web is not None else None
    if limiter is not None:
        await limiter.close()


# ------------------------------------------------------------- the job


async def test_without_smtp_the_message_is_written_to_the_mail_folder(
    database, guardian, tmp_path, caplog
):
    settings = dataclasses.replace(database, data_dir=tmp_path, secret_key=SECRET)
    outbox = await add_reset_email(guardian, SECRET)
    caplog.set_level(logging.INFO)

    result = await send_email({"settings": settings}, outbox.id)

    files = list((tmp_path / "mail").glob("*.eml"))
    assert result == "sent" and len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    text, html = parts(message)
    token = reset_token(SECRET, outbox.id)
    assert f"/reset?token={token}" in text and f"/reset?token={token}" in html
    assert message["Message-ID"] == f"<outbox-{outbox.id}.inzage@127.0.0.1>"
    assert message["To"] == "sam@example.test"
    assert "wachtwoord" in text  # the person's language, Dutch
    assert_no_student_data(message)
    row = await Outbox.get(id=outbox.id)
    assert row.status == "sent" and row.sent_at is not None
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert files[0].name in logged and f"outbox={outbox.id}" in logged
    assert "sam@example.test" not in logged and token not in logged


@pytest.mark.parametrize("has_password", [False, True])
async def test_the_link_e_mail_speaks_of_a_first_sign_in_or_a_new_password(
    database, guardian, tmp_path, has_password
):
    settings = dataclasses.replace(database, data_dir=tmp_path, secret_key=SECRET)
    stored = "$argon2id$not-checked-here" if has_password else None
    await Person.filter(id=guardian.id).update(password_hash=stored)
    outbox = await add_reset_email(guardian, SECRET)

    await send_email({"settings": settings}, outbox.id)

    [file] = (tmp_path / "mail").glob("*.eml")
    message = email.message_from_bytes(file.read_bytes(), policy=policy.default)
    for part in parts(message):
        assert ("voor het eerst" in part) is not has_password
        assert ("uw wachtwoord blijft zoals het is" in part) is has_password


async def test_a_row_already_sent_is_not_sent_again(database, guardian, tmp_path):
    settings = dataclasses.replace(database, data_dir=tmp_path, secret_key=SECRET)
    outbox = await add_email(guardian, "invite")
    await send_email({"settings": settings}, outbox.id)
    (tmp_path / "mail" / f"outbox-{outbox.id}-invite.eml").unlink()

    again = await send_email({"settings": settings}, outbox.id)

    assert again == "sent"
    assert list((tmp_path / "mail").glob("*.eml")) == []


async def test_smtp_delivery_with_html_and_text_parts(database, guardian, sink):
    handler, port = sink
    outbox = await add_email(guardian, "invite")

    await send_email({"settings": smtp_settings(database, port)}, outbox.id)

    [message] = handler.messages
    text, html = parts(message)
    assert "DEMO" in text and "/forgot" in text and "/forgot" in html
    assert message["Message-ID"] == message_id(outbox.id, database)
    assert_no_student_data(message)
    assert (await Outbox.get(id=outbox.id)).status == "sent"


async def test_a_4xx_answer_is_retried_with_back_off(database, guardian, sink):
    handler, port = sink
    handler.answer = "421 Try again later"
    outbox = await add_email(guardian, "invite")
    settings = smtp_settings(database, port)

    with pytest.raises(Retry) as first:
        await send_email({"settings": settings, "job_try": 1}, outbox.id)
    with pytest.raises(Retry) as third:
        await send_email({"settings": settings, "job_try": 3}, outbox.id)

    assert first.value.defer_score == 30_000
    assert third.value.defer_score == 120_000
    row = await Outbox.get(id=outbox.id)
    assert row.status != "sent" and row.attempts == 2
    handler.answer = None
    await send_email({"settings": settings, "job_try": 4}, outbox.id)
    assert (await Outbox.get(id=outbox.id)).status == "sent"


async def test_a_refused_connection_is_retried(database, guardian):
    outbox = await add_email(guardian, "invite")
    settings = smtp_settings(database, free_port())

    with pytest.raises(Retry):
        await send_email({"settings": settings, "job_try": 1}, outbox.id)

    assert (await Outbox.get(id=outbox.id)).status == "pending"


async def test_a_5xx_answer_fails_the_row_without_retry(database, guardian, sink):
    handler, port = sink
    handler.answer = "550 No such user"
    outbox = await add_email(guardian, "invite")

    result = await send_email({"settings": smtp_settings(database, port)}, outbox.id)

    row = await Outbox.get(id=outbox.id)
    assert result == "failed" and row.status == "failed"
    assert "550" in row.last_error and "sam@" not in row.last_error


async def test_an_address_with_a_line_break_sends_nothing(database, guardian, sink):
    handler, port = sink
    await Person.filter(id=guardian.id).update(
        email="sam@example.test\r\nBcc: x@evil.test"
    )
    outbox = await add_email(await Person.get(id=guardian.id), "invite")

    result = await send_email({"settings": smtp_settings(database, port)}, outbox.id)

    assert result == "failed"
    assert handler.seen == []


async def test_in_process_enqueue_runs_the_same_job_after_commit(
    database, guardian, tmp_path
):
    settings = dataclasses.replace(database, data_dir=tmp_path, secret_key=SECRET)
    outbox = await add_email(guardian, "invite")

    assert await queue.enqueue_email(settings, outbox.id)
    await queue.drain()

    assert (await Outbox.get(id=outbox.id)).status == "sent"
    assert (tmp_path / "mail" / f"outbox-{outbox.id}-invite.eml").exists()


# ------------------------------------------------------------- Redis


async def redis_or_skip():
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means "not here"
        await client.aclose()
        pytest.skip(f"Redis is not reachable at {REDIS_TEST_URL}: {error}")
    return client


@pytest.fixture
async def redis():
    client = await redis_or_skip()
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()
    await queue.close_pools()


async def test_redis_down_leaves_the_row_pending_with_one_log_line(
    app, database, guardian, caplog
):
    app.config["INZAGE"] = dataclasses.replace(
        database, redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    app.config["FORGOT_MIN_DURATION_S"] = 0
    client = app.test_client()
    page = await (await client.get("/forgot")).get_data(True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    caplog.set_level(logging.INFO)

    response = await client.post(
        "/forgot",
        form={"csrf_token": csrf, "school": "DEMO", "email": "sam@example.test"},
    )

    assert response.status_code == 200
    row = await Outbox.get(person_id=guardian.id)
    assert row.status == "pending"
    lines = [r for r in caplog.records if r.name == "tasks.queue"]
    assert len(lines) == 1 and f"outbox={row.id}" in lines[0].getMessage()
    assert "sam@" not in caplog.text


async def test_a_second_enqueue_of_one_row_is_refused_by_arq(database, guardian, redis):
    settings = dataclasses.replace(database, redis_url=REDIS_TEST_URL)
    outbox = await add_email(guardian, "invite")

    assert await queue.enqueue_email(settings, outbox.id)
    pool = await queue.pool(REDIS_TEST_URL)
    again = await pool.enqueue_job(
        "send_email", outbox.id, _job_id=queue.email_job_id(outbox.id)
    )

    assert again is None
    assert (await Outbox.get(id=outbox.id)).status == "queued"


async def test_the_sweeper_queues_pending_rows(database, guardian, redis):
    from tasks.worker import sweep_outbox

    outbox = await add_email(guardian, "invite")
    pool = await queue.pool(REDIS_TEST_URL)

    queued = await sweep_outbox({"redis": pool})
    again = await sweep_outbox({"redis": pool})

    assert queued == 1 and again == 0
    assert await redis.exists(f"arq:job:outbox-{outbox.id}")


WORKER = """
import logging, sys
from arq import run_worker
from arq.worker import func
from tasks.worker import WorkerSettings
from tasks.email import send_email
logging.basicConfig(level=logging.INFO, stream=sys.stderr)

# arq reads a settings class's own attributes only, so the production
# settings are copied; a short job timeout makes the lock of a killed
# worker's job (timeout + 10 s in arq) end soon; no crons, so the test
# decides what runs.
settings = {k: v for k, v in vars(WorkerSettings).items() if not k.startswith("_")}
settings.update(
    functions=[func(send_email, name="send_email", timeout=3, max_tries=8)],
    cron_jobs=[],
    job_timeout=3,
    poll_delay=0.2,
)
run_worker(settings)
"""


def start_worker(database, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "INZAGE_DATA_DIR": str(database.data_dir),
        "INZAGE_DATABASE_URL": database.db_url,
        "INZAGE_SECRET_KEY": SECRET,
        "INZAGE_REDIS_URL": REDIS_TEST_URL,
        "INZAGE_SMTP_HOST": "127.0.0.1",
        "INZAGE_SMTP_PORT": str(port),
        "INZAGE_BASE_URL": database.base_url,
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(worker: subprocess.Popen, sig=signal.SIGTERM) -> str:
    if worker.poll() is None:
        worker.send_signal(sig)
    try:
        _, err = worker.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        _, err = worker.communicate()
    return err.decode(errors="replace")


async def wait_for(predicate, timeout_s: float):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.2)
    return False


async def request_link(app, database) -> int:
    app.config["INZAGE"] = dataclasses.replace(database, redis_url=REDIS_TEST_URL)
    app.config["SECRET_KEY"] = SECRET
    app.config["FORGOT_MIN_DURATION_S"] = 0
    client = app.test_client()
    page = await (await client.get("/forgot")).get_data(True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = await client.post(
        "/forgot",
        form={"csrf_token": csrf, "school": "DEMO", "email": "sam@example.test"},
    )
    assert response.status_code == 200
    row = await Outbox.get(kind="reset")
    assert row.status == "queued"  # committed, then handed to arq
    return row.id


def link_in(message) -> str:
    text, _ = parts(message)
    return re.search(r"https?://\S+/reset\?token=[\w-]+", text).group(0)


async def set_password_with(app, url: str):
    from tests.web.test_reset import NEW_PASSWORD, save_password

    path = url.split("://", 1)[1].split("/", 1)[1]
    client = app.test_client()
    await client.get("/" + path)
    return await save_password(client, NEW_PASSWORD)


async def test_a_real_worker_on_redis_delivers_to_a_real_smtp_server(
    app, database, guardian, sink, redis
):
    handler, port = sink
    outbox_id = await request_link(app, database)
    worker = start_worker(database, port)
    try:
        arrived = await wait_for(lambda: _sent(outbox_id), timeout_s=30)
    finally:
        log = stop(worker)

    assert arrived, log
    [message] = handler.messages
    url = link_in(message)
    assert url.endswith(reset_token(SECRET, outbox_id))
    assert message["Message-ID"] == f"<outbox-{outbox_id}.inzage@127.0.0.1>"
    assert_no_student_data(message)
    assert "sam@example.test" not in log and url not in log
    # A mail scanner opens the link first; the person can still use it.
    scanner = app.test_client()
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    await scanner.get(path)
    await scanner.get("/reset")
    assert (await set_password_with(app, url)).status_code == 200


async def _sent(outbox_id: int) -> bool:
    return (await Outbox.get(id=outbox_id)).status == "sent"


async def test_a_worker_killed_during_the_send_is_followed_by_one_that_delivers(
    app, database, guardian, sink, redis
):
    handler, port = sink
    handler.release.clear()  # the first delivery hangs in DATA
    outbox_id = await request_link(app, database)
    first = start_worker(database, port)
    try:
        assert await asyncio.to_thread(handler.data_arrived.wait, 30)
    finally:
        first.kill()  # SIGKILL: no clean-up, the job stays in Redis
        first_log = stop(first)
    assert handler.messages == []
    handler.release.set()
    assert (await Outbox.get(id=outbox_id)).status != "sent", first_log

    second = start_worker(database, port)
    try:
        # arq lets the job run again once the killed job's lock (timeout 3 s
        # + 10 s) has expired.
        arrived = await wait_for(lambda: _sent(outbox_id), timeout_s=40)
    finally:
        second_log = stop(second)

    assert arrived, second_log
    [attempted] = handler.seen[:1]
    delivered = handler.messages[-1]
    assert delivered["Message-ID"] == attempted["Message-ID"]
    assert delivered["Message-ID"] == f"<outbox-{outbox_id}.inzage@127.0.0.1>"
    assert link_in(delivered) == link_in(attempted)
    assert assert_no_student_data(delivered) is None
    assert (await set_password_with(app, link_in(delivered))).status_code == 200
