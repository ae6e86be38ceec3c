"""Render templates synchronously.

Quart renders with Jinja's async mode, which awaits every expression and
costs about three times the plain rendering of a page with 50 records. None
of our templates awaits anything, so they render in plain mode, with the same
loader, globals and the context Quart would give them.
"""

from __future__ import annotations

from jinja2 import Environment, select_autoescape
from jinja2.compiler import CodeGenerator
from markupsafe import escape
from quart import Quart, current_app, g, request, url_for

from web.i18n import gettext, ngettext

try:
    # The C escaper behind markupsafe.escape(), without its Markup wrapper.
    from markupsafe import _escape_inner
except ImportError:  # a MarkupSafe that moved it: slower, the same text

    def _escape_inner(text: str) -> str:
        return str(escape(text))


def escape_text(value) -> str:
    """Escape a value for HTML as markupsafe.escape() does, as plain text.

    A value that is markup already (``__html__``) is written as it is.
    """
    if type(value) is str:
        return _escape_inner(value)
    html = getattr(value, "__html__", None)
    if html is not None:
        return html()
    return _escape_inner(str(value))


class TextEscapingCodeGenerator(CodeGenerator):
    """Compile each ``{{ value }}`` of an autoescaped template to escape_text.

    Jinja writes ``escape(value)``, whose Markup result is built in Python
    only to be joined into the page at once: some 330 times on a section
    page, half of its rendering. The escaping is markupsafe's either way.
    Captured blocks and macros still become Markup as a whole, so nothing
    they hold is escaped twice (tests/web/test_rendering.py compares the
    output with Jinja's own).
    """

    def _output_child_pre(self, node, frame, finalize) -> None:
        if frame.eval_ctx.volatile or not frame.eval_ctx.autoescape:
            super()._output_child_pre(node, frame, finalize)
            return
        self.write("environment.escape_text(")
        if finalize.src is not None:
            self.write(finalize.src)


class PageEnvironment(Environment):
    """Jinja's environment with the plain-text escape of its output."""

    code_generator_class = TextEscapingCodeGenerator
    escape_text = staticmethod(escape_text)


def setup_rendering(app: Quart) -> None:
    """Create the plain environment once, sharing Quart's loader and globals."""
    env = PageEnvironment(
        loader=app.jinja_loader,
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        auto_reload=app.debug,
    )
    env.install_gettext_callables(gettext, ngettext, newstyle=True)
    # ``_()`` and ``gettext()`` are called some 25 times a page. They return
    # plain text, which the page escapes like any other value: Jinja's own
    # marks the catalog's text safe to escape only the values put into it,
    # at three calls and a Markup each. No message holds markup; a test
    # holds them to that.
    env.globals["_"] = env.globals["gettext"] = gettext
    env.globals["url_for"] = remembering_url_for()
    env.globals.update(
        (k, v) for k, v in app.jinja_env.globals.items() if k not in env.globals
    )
    env.filters.update(app.jinja_env.filters)
    env.tests.update(app.jinja_env.tests)
    app.extensions["plain_jinja"] = env


async def render(template_name: str, **context) -> str:
    """Render a template with the request's ``g`` and ``request``.

    Quart's own context processor is synchronous, so Quart would run it in a
    worker thread for every page; the two names it adds that our templates
    use are set here instead (``url_for`` is a global).
    """
    env: Environment = current_app.extensions["plain_jinja"]
    context.setdefault("g", g)
    context.setdefault("request", request)
    return env.get_template(template_name).render(context)


URL_CACHE_SIZE = 10_000


def remembering_url_for():
    """Return Quart's ``url_for`` for one app's templates, remembering links.

    A link depends on the endpoint, its values and where the app is mounted,
    and on nothing of the person or the session; a page builds some 14.
    """
    urls: dict[tuple, str] = {}

    def template_url_for(endpoint: str, **values) -> str:
        try:
            key = (request.root_path, endpoint, *sorted(values.items()))
            url = urls.get(key)
        except TypeError:  # a value that cannot be a key (a list)
            return url_for(endpoint, **values)
        if url is None:
            if len(urls) >= URL_CACHE_SIZE:
                urls.clear()
            url = urls[key] = url_for(endpoint, **values)
        return url

    template_url_for.links = urls  # what it holds, for the tests
    return template_url_for
