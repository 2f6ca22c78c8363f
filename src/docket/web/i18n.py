"""The language of each page: its `lang` cookie (set by the chooser in every page's header,
GET /language/CODE), else the best match of the request's Accept-Language, else English.

Templates speak through Jinja's i18n extension with newstyle gettext (`_("Back to %(case)s",
case=name | bdi)`: variables are escaped, and `bdi` isolates text people wrote). Its
callables read the request being rendered, so one template environment serves every
language at once and no page ever takes another request's language. A page's `<html>`
carries the language's code and direction (rtl for Arabic and Kurdish), and its dates and
numbers are written the locale's way (docket.locale).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from babel.core import negotiate_locale
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment, Template, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from docket import locale
from docket.errors import NotFoundError
from docket.locale import N_
from docket.names import show_direction_controls

COOKIE = "lang"
YEAR = 365 * 24 * 3600

router = APIRouter()


# Words of Docket's own vocabularies that pages show as values (flags, statuses, roles,
# kinds of file, of audit entry and of acquisition, export profiles, metadata labels): a form
# sends the English word, the page shows the reader's.
TERMS = frozenset(
    (
        *(N_("unreviewed"), N_("graphic"), N_("sensitive"), N_("clear")),
        *(N_("new"), N_("in review"), N_("verified"), N_("disputed"), N_("excluded")),
        *(N_("owner"), N_("investigator"), N_("reviewer"), N_("viewer")),
        *(N_("admin"), N_("member"), N_("court"), N_("publication")),
        *(N_("picture"), N_("video"), N_("sound"), N_("archive"), N_("PDF")),
        *(N_("web page"), N_("file")),
        *(N_("reveal"), N_("export"), N_("status"), N_("flag"), N_("tag"), N_("annotation")),
        *(N_("incident"), N_("approval"), N_("arrival"), N_("members"), N_("admin-read")),
        *(N_("import"), N_("upload"), N_("capture"), N_("handed-over"), N_("downloaded")),
        *(N_("captured"), N_("messenger"), N_("email"), N_("device-extraction")),
        # the metadata labels of docket.web.labels (their values stay as it writes them)
        *(N_("Captured"), N_("Place (GPS)"), N_("Altitude"), N_("Camera"), N_("Lens")),
        *(N_("Camera serial number"), N_("Owner name in the camera"), N_("Software")),
        *(N_("Lens serial number"), N_("Picture size"), N_("Duration")),
        *(N_("File type (ExifTool)"), N_("ExifTool warnings")),
        # the parts of a web capture (docket.capture.run), the outcomes of an upload's files
        # (docket.ingest.run) and the times of day of the sun (docket.aids.shadow)
        *(N_("wacz"), N_("screenshot"), N_("print"), N_("image")),
        *(N_("held"), N_("refused")),
        *(N_("morning"), N_("afternoon")),
        # the shadow tool's fixed notes (docket.web.shadow_routes, docket.aids.shadow_places)
        N_("no place or day: give lat, lon and date"),
        N_("no time: give the moment to test (at) to find where it fits"),
        N_("the sun never stands that high there on that day"),
        N_(
            "A signal to weigh, not a verdict: the band is where the sun stood at the elevation "
            "the shadow implies, give or take the tolerance. A wrong ratio (ground not flat, "
            "the picture taken at an angle, lens distortion) moves it; a stated time wrong by "
            "four minutes moves it a degree of longitude; a cloudy or diffuse shadow cannot be "
            "measured at all."
        ),
    )
)


def choose(cookie: str | None, accept: str | None) -> locale.Language:
    """The cookie's language if Docket has it, else Accept-Language's best, else English."""
    if cookie in locale.LANGUAGES:
        return locale.LANGUAGES[cookie]
    asked = []
    for part in (accept or "").split(","):
        tag, _, params = part.strip().partition(";")
        weight = params.strip().removeprefix("q=")
        try:
            quality = float(weight) if params else 1.0
        except ValueError:
            continue
        if tag and quality > 0:
            asked.append((quality, tag.strip()))
    ranked = [tag for _, tag in sorted(asked, key=lambda pair: -pair[0])]
    code = negotiate_locale(ranked, list(locale.LANGUAGES), sep="-")
    return locale.LANGUAGES.get(code or "", locale.ENGLISH)


def of(request: Request) -> locale.Language:
    """The request's language, chosen once and kept on its state."""
    chosen: locale.Language | None = getattr(request.state, "language", None)
    if chosen is None:
        chosen = choose(request.cookies.get(COOKIE), request.headers.get("accept-language"))
        request.state.language = chosen
    return chosen


def words(request: Request) -> Callable[[str], str]:
    """gettext in the request's language, for server-side code that writes words into a page
    (a map's labels, a page's title)."""
    return locale.translations(of(request).code).gettext


def _rendering(context: Context) -> locale.Language:
    request = context.get("request")
    return of(request) if isinstance(request, Request) else locale.ENGLISH


@pass_context
def _gettext(context: Context, message: str) -> str:
    return locale.translations(_rendering(context).code).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return locale.translations(_rendering(context).code).ngettext(singular, plural, count)


@pass_context
def _language(context: Context) -> locale.Language:
    return _rendering(context)


@pass_context
def _number(context: Context, value: float) -> str:
    return locale.number(value, _rendering(context).code)


@pass_context
def _moment(context: Context, text: str | None) -> str:
    return locale.moment(text, _rendering(context).code)


@pass_context
def _term(context: Context, word: Any) -> str:
    """One of TERMS in the reader's language; anything else (a word people chose) as it is."""
    if word not in TERMS:
        return str(word)
    return locale.translations(_rendering(context).code).gettext(word)


def bdi(text: Any) -> Markup:
    """Text people wrote, isolated so that its direction never reorders the page around it."""
    return Markup("<bdi>%s</bdi>") % escape(text)


def isolate(text: Any) -> str:
    """Text people wrote, for where no element can isolate it (a <title>, an attribute, an
    <option>): between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE, written as character
    references so that the page's last pass (ShownControls) leaves them to the browser. ASCII
    text, which has neither right-to-left letters nor direction controls, is left as it is."""
    text = str(text)
    return text if text.isascii() else Markup("&#x2068;%s&#x2069;") % escape(text)


class ShownControls(Template):
    """A template whose page shows every direction control that reached it as a visible mark
    (names.show_direction_controls): an original named "invoice<U+202E>gpj.exe" is never
    shown as "invoiceexe.jpg", wherever in the page its name is. The page's own isolates are
    character references, which this pass does not see."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        return show_direction_controls(super().render(*args, **kwargs))


@pass_context
def _option(context: Context, word: str, selected: bool = False) -> Markup:
    """An <option> of one of Docket's words: the reader's word shown, the English one sent
    (a value attribute only when the two differ)."""
    shown = _term(context, word)
    value = Markup("") if shown == word else Markup(' value="%s"') % word
    return Markup("<option%s%s>%s</option>") % (
        value,
        Markup(" selected") if selected else Markup(""),
        shown,
    )


def install(env: Environment) -> None:
    """Give the templates `_`, `gettext`, `ngettext`, `language()`, `option()` and the
    filters `number`, `moment`, `term`, `bdi` and `isolate`, and make every page show the
    direction controls in it (idempotent: every app made in a process shares the
    environment)."""
    if env.template_class is not ShownControls:
        env.template_class = ShownControls
        if env.cache is not None:
            env.cache.clear()  # a template loaded before would keep the plain class
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(language=_language, languages=locale.LANGUAGES, option=_option)
    env.filters.update(number=_number, moment=_moment, bdi=bdi, isolate=isolate, term=_term)


def _local(path: str) -> str:
    """Where to go back to: a path of this site, never another site's address."""
    odd = any(c < " " or c == "\\" for c in path)  # browsers drop tabs: "/\t/x" is "//x"
    return path if path.startswith("/") and not path.startswith("//") and not odd else "/"


@router.get("/language/{code}", include_in_schema=False)
def set_language(
    code: str, back: Annotated[str, Query(alias="next", max_length=2048)] = "/"
) -> Response:
    """Keep the language in a cookie and go back to the page the chooser was on."""
    if code not in locale.LANGUAGES:
        raise NotFoundError(f"{code}: no such language")
    response = RedirectResponse(_local(back), status_code=303)
    response.set_cookie(COOKIE, code, max_age=YEAR, httponly=True, samesite="lax")
    return response
