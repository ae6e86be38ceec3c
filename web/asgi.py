"""The ASGI entry point for hypercorn: ``hypercorn web.asgi:app``.

Run ``inzage migrate`` once before starting several web processes.
"""

from web import create_app

app = create_app()
