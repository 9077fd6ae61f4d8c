"""``supportbot review``: the support leads' web console (FastAPI, Jinja2, server-rendered).

Pages: the overview (figures of :mod:`bot.review.feedback_report` and their trend, plotted on
the server as SVG), the answers list (filtered, sorted and paginated in SQL), an answer's
detail (citations, everything retrieved, votes with comments, curation history) with the
curation forms (verified, corrected with chosen citations, wrong, dismissed), and CSV/JSONL
exports of the filtered list. No CDN and no JavaScript.

Security: every page but the login form needs a signed session cookie (Starlette's
``SessionMiddleware``: HttpOnly, SameSite=strict); every state-changing form carries a
per-session CSRF token; failed logins are throttled per client address
(:class:`bot.review.auth.LoginThrottle`). The console reads the feedback database only, so it
runs beside a bot that holds the embedded index.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from bot.feedback import CURATION_ACTIONS, FeedbackStore
from bot.review.auth import LoginThrottle, verify
from bot.review.feedback_report import (
    OVERVIEW_METRICS,
    SORTS,
    Filters,
    export_rows,
    feedback_stats,
    list_answers,
    mask,
    never_cited,
    source_usage,
    to_csv,
    to_jsonl,
)
from bot.review.gaps import DEFAULT_DISTANCE, Embed, knowledge_gaps
from bot.review.plots import trend_svg

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
PER_PAGE = 50
FILTER_KEYS = (
    "since",
    "until",
    "platform",
    "channel",
    "audience",
    "vote",
    "abstained",
    "degraded",
    "generator",
    "q",
)


class LoginRequired(Exception):
    """An anonymous request to a page that needs a session."""


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"not a date: {value!r} (use YYYY-MM-DD)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _flag(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


def filters_from(params: dict[str, str]) -> Filters:
    """Filters from query parameters (empty ones ignored).

    Raises:
        HTTPException: 400 for a malformed date or vote.
    """
    vote = params.get("vote") or None
    if vote not in (None, "up", "down", "none", "any"):
        raise HTTPException(400, "vote must be up, down, none or any")
    return Filters(
        since=_date(params.get("since")),
        until=_date(params.get("until")),
        platform=params.get("platform") or None,
        channel=params.get("channel") or None,
        audience=params.get("audience") or None,
        abstained=_flag(params.get("abstained")),
        degraded=_flag(params.get("degraded")),
        generator=params.get("generator") or None,
        vote=vote,  # type: ignore[arg-type]
        text=params.get("q") or None,
    )


def permalink(platform: str, message_ref: str | None) -> str | None:
    """A link back to the Slack message (``channel:ts`` → archives URL), else ``None``."""
    if platform != "slack" or not message_ref or ":" not in message_ref:
        return None
    channel, ts = message_ref.split(":", 1)
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def create_app(
    store: FeedbackStore,
    *,
    users: dict[str, str],
    secret_key: str,
    mask_users: bool = False,
    https_only: bool = False,
    embed: Embed | None = None,
    gap_distance: float = DEFAULT_DISTANCE,
    simulated: bool = False,
) -> FastAPI:
    """The console over ``store``.

    Args:
        users: ``name → argon2 hash`` (:func:`bot.review.auth.load_users`).
        secret_key: signs the session cookie.
        mask_users: show user ids as pseudonyms (:func:`bot.review.feedback_report.mask`).
        https_only: mark the session cookie ``Secure`` (behind TLS).
        embed: the embedding model's encode function, for the knowledge gaps page (called in a
            worker thread); ``None`` shows that page without groups.
        gap_distance: where the gap clustering stops merging (:mod:`bot.review.gaps`).
        simulated: the data is the demo's (:mod:`bot.review.demo`); every page says so.
    """
    app = FastAPI(title="supportbot review", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key,
        session_cookie="supportbot_review",
        same_site="strict",
        https_only=https_only,
        max_age=8 * 3600,
    )
    throttle = LoginThrottle()

    def who(request: Request) -> str:
        name = request.session.get("user")
        if not isinstance(name, str) or name not in users:
            raise LoginRequired
        return name

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    def check_csrf(request: Request, token: str) -> None:
        expected = request.session.get("csrf")
        if not isinstance(expected, str) or not hmac.compare_digest(expected, token or ""):
            raise HTTPException(403, "missing or wrong CSRF token; reload the page and retry")

    def shown(user_id: str | None) -> str | None:
        return mask(user_id) if mask_users else user_id

    def render(request: Request, name: str, **context: Any) -> HTMLResponse:
        context.update(
            request=request,
            user=request.session.get("user"),
            csrf=csrf_token(request),
            shown=shown,
            simulated=simulated,
        )
        return TEMPLATES.TemplateResponse(request, name, context)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _: LoginRequired) -> Response:
        return RedirectResponse("/login?" + urlencode({"next": request.url.path}), 303)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = "/") -> HTMLResponse:
        return render(request, "login.html", next=next, error=None)

    @app.post("/login", response_class=HTMLResponse)
    async def login(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        csrf: str = Form(""),
        next: str = Form("/"),
    ) -> Response:
        check_csrf(request, csrf)
        client = request.client.host if request.client else "?"
        if throttle.blocked(client):
            response = render(
                request, "login.html", next=next, error="Too many failed logins; wait 5 minutes."
            )
            response.status_code = 429
            return response
        if not verify(users, username, password):
            throttle.failed(client)
            response = render(request, "login.html", next=next, error="Wrong name or password.")
            response.status_code = 401
            return response
        throttle.succeeded(client)
        request.session.clear()
        request.session["user"] = username
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        return RedirectResponse(target, 303)

    @app.post("/logout")
    async def logout(request: Request, csrf: str = Form("")) -> Response:
        check_csrf(request, csrf)
        request.session.clear()
        return RedirectResponse("/login", 303)

    @app.get("/", response_class=HTMLResponse)
    async def overview(request: Request, by: str = "day") -> HTMLResponse:
        who(request)
        params = dict(request.query_params)
        stats = await feedback_stats(
            store, filters_from(params), bucket="week" if by == "week" else "day"
        )
        return render(
            request,
            "overview.html",
            stats=stats,
            metrics=OVERVIEW_METRICS,
            svg=trend_svg(stats.trend),
            params=params,
            by=by,
        )

    @app.get("/answers", response_class=HTMLResponse)
    async def answers(request: Request, sort: str = "newest", page: int = 1) -> HTMLResponse:
        who(request)
        params = dict(request.query_params)
        if sort not in SORTS:
            raise HTTPException(400, f"sort must be one of {', '.join(SORTS)}")
        rows, total = await list_answers(
            store,
            filters_from(params),
            sort=sort,
            page=max(page, 1),
            per_page=PER_PAGE,
        )
        keep = {k: v for k, v in params.items() if k in FILTER_KEYS and v}
        pages = max(1, -(-total // PER_PAGE))
        return render(
            request,
            "answers.html",
            rows=rows,
            total=total,
            page=max(page, 1),
            pages=pages,
            sort=sort,
            sorts=SORTS,
            params=params,
            query=lambda **over: urlencode({**keep, "sort": sort, **over}),
            export_query=urlencode(keep),
        )

    @app.get("/answers/{answer_id}", response_class=HTMLResponse)
    async def detail(request: Request, answer_id: str) -> HTMLResponse:
        who(request)
        record = await store.get_answer(answer_id)
        if record is None:
            raise HTTPException(404, "no such answer")
        return render(
            request,
            "detail.html",
            a=record,
            votes=await store.votes(answer_id),
            curations=await store.curations(answer_id),
            memory=(await store.memory_status(answer_id)).get(answer_id),
            actions=CURATION_ACTIONS,
            link=record.permalink or permalink(record.platform, record.message_ref),
        )

    @app.post("/answers/{answer_id}/curate")
    async def curate(request: Request, answer_id: str) -> Response:
        reviewer = who(request)
        form = await request.form()
        check_csrf(request, str(form.get("csrf", "")))
        action = str(form.get("action", ""))
        record = await store.get_answer(answer_id)
        if record is None:
            raise HTTPException(404, "no such answer")
        chosen = {str(v) for v in form.getlist("cite")}
        citations = [c for c in record.retrieved if str(c.get("chunk_id")) in chosen]
        try:
            await store.curate(
                answer_id,
                action,
                reviewer=reviewer,
                text=str(form.get("text", "")) or None,
                citations=citations,
            )
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return RedirectResponse(f"/answers/{answer_id}", 303)

    @app.get("/gaps", response_class=HTMLResponse)
    async def gaps(request: Request) -> HTMLResponse:
        who(request)
        params = dict(request.query_params)
        groups = None
        if embed is not None:
            groups = await knowledge_gaps(store, embed, filters_from(params), distance=gap_distance)
        return render(request, "gaps.html", groups=groups, params=params)

    @app.get("/sources", response_class=HTMLResponse)
    async def sources(request: Request) -> HTMLResponse:
        who(request)
        params = dict(request.query_params)
        uses = await source_usage(store, filters_from(params))
        most_down = sorted((u for u in uses if u.down), key=lambda u: (-u.down, u.doc_id))[:10]
        never = await never_cited(store, uses)
        inventory = never is not None
        if never is None:
            never = [u for u in uses if not u.cited]
        return render(
            request,
            "sources.html",
            uses=uses,
            most_down=most_down,
            never=never,
            inventory=inventory,
            stale=await store.stale_answers(),
            params=params,
        )

    @app.get("/export.{fmt}")
    async def export(request: Request, fmt: str) -> Response:
        who(request)
        if fmt not in ("csv", "jsonl"):
            raise HTTPException(404, "export as .csv or .jsonl")
        rows = await export_rows(
            store, filters_from(dict(request.query_params)), mask_users=mask_users
        )
        body = to_csv(rows) if fmt == "csv" else to_jsonl(rows)
        media = "text/csv" if fmt == "csv" else "application/x-ndjson"
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        return Response(
            body,
            media_type=f"{media}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="answers-{stamp}.{fmt}"'},
        )

    return app
