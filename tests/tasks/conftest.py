"""A real SMTP server for the e-mail tests: aiosmtpd on a free loopback port."""

from __future__ import annotations

import asyncio
import email
import threading
from email import policy

import pytest
from aiosmtpd.controller import Controller

from tests.servers import free_port


class Sink:
    """An aiosmtpd handler that keeps messages and can answer or stall.

    It runs on the controller's own thread and loop, so the test talks to it
    through thread-safe events.
    """

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.seen: list[email.message.EmailMessage] = []  # before any answer
        # What was accepted, with the envelope's recipients.
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []
        self.answer: str | None = None
        self.release = threading.Event()
        self.release.set()
        self.data_arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        self.seen.append(parsed)
        self.data_arrived.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        if self.answer:
            return self.answer
        self.messages.append(parsed)
        self.received.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


@pytest.fixture
def sink():
    """Start an SMTP server; yield its handler and port."""
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()
