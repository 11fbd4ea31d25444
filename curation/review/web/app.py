"""The review page's web application (Starlette, which comes with Prefect): thin routes over
:mod:`curation.review.web.pages`, :mod:`curation.review.web.actions` and
:mod:`curation.review.web.thumbs`.

Every request passes :class:`Guard` first: its Host header must be the address the server is
bound to (a DNS-rebinding page's Host is its own domain), and it must carry the token — in the
query string or a cookie for reads, in the ``X-Review-Token`` header for the POSTs that change
anything (a cross-site form cannot set that header). Photos are served by image id only.
"""

from __future__ import annotations

import hmac
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from curation.review.decisions import Decision
from curation.review.queue import ReviewError, ReviewItem
from curation.review.web.actions import NewLabelError, UndoStack, decide_items
from curation.review.web.pages import queue_page
from curation.review.web.thumbs import NoSuchImage, ThumbCache
from pipeline.catalog import Catalog

STATIC = Path(__file__).with_name("static")
TOKEN_HEADER = "x-review-token"


@dataclass(frozen=True)
class ReviewConfig:
    """What one review server needs: the catalog, the thumbnail cache, who decides, the token,
    the Host headers it answers (``host:port`` forms of its bound address) and its cookie."""

    catalog: Catalog
    thumbs: ThumbCache
    actor: str
    token: str
    allowed_hosts: frozenset[str]
    cookie: str


class Guard:
    """ASGI middleware: 403 for a foreign Host header or a missing/wrong token (see module)."""

    def __init__(self, app: ASGIApp, config: ReviewConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        problem = self.problem(request)
        if problem is not None:
            await PlainTextResponse(f"forbidden: {problem}\n", status_code=403)(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)

    def problem(self, request: Request) -> str | None:
        """Return why ``request`` is refused, or None."""
        host = request.headers.get("host", "").lower()
        if host not in self.config.allowed_hosts:
            return f"Host {host!r} is not this review server's address"
        if request.method == "POST":
            offered = [request.headers.get(TOKEN_HEADER, "")]
        else:
            offered = [
                request.query_params.get("token", ""),
                request.headers.get(TOKEN_HEADER, ""),
                request.cookies.get(self.config.cookie, ""),
            ]
        if not any(hmac.compare_digest(o.encode(), self.config.token.encode()) for o in offered):
            return "missing or wrong token; open the URL `carscout review --web` printed"
        return None


def _item_json(item: ReviewItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "image_id": item.image_id,
        "label": item.label,
        "status": item.status,
        "reason": item.reason,
        "suggested_label": item.suggested_label,
        "score": round(item.score, 4),
        "state": item.state,
        "title": item.title,
        "group_id": item.detail.get("group_id"),
    }


def _decision_json(decision: Decision) -> dict[str, Any]:
    data = asdict(decision)
    data["undone_at"] = None if decision.undone_at is None else decision.undone_at.isoformat()
    return data


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError as exc:
        raise ReviewError(f"{value!r} is not a whole number") from exc


def create_app(config: ReviewConfig) -> Starlette:
    """Return the review application for ``config`` (routes below; all behind :class:`Guard`)."""
    undo_stack = UndoStack()

    async def index(request: Request) -> Response:
        response = FileResponse(STATIC / "index.html", media_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.set_cookie(config.cookie, config.token, httponly=True, samesite="strict", path="/")
        return response

    async def items(request: Request) -> Response:
        params = request.query_params
        try:
            offset, limit = _int(params.get("offset"), 0), _int(params.get("limit"), 60)
        except ReviewError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

        def read() -> dict[str, Any]:
            with config.catalog.reading() as conn:
                page = queue_page(
                    conn, offset, limit, params.get("reason") or None, params.get("label") or None
                )
            return {
                "items": [_item_json(i) for i in page.items],
                "total": page.total,
                "offset": page.offset,
                "limit": page.limit,
                "reasons": page.reasons,
                "labels": page.labels,
                "known_labels": page.known_labels,
                "groups": {str(k): v for k, v in page.groups.items()},
                "actor": config.actor,
            }

        return JSONResponse(await run_in_threadpool(read))

    async def decide(request: Request) -> Response:
        try:
            body = await request.json()
            ids = [int(i) for i in body.get("items", [])]
            action = str(body.get("action", ""))
        except (ValueError, TypeError, AttributeError):
            return JSONResponse(
                {"error": 'send JSON {"items": [ids], "action": "keep"}'}, status_code=400
            )
        try:
            result = await run_in_threadpool(
                decide_items,
                config.catalog,
                ids,
                action,
                config.actor,
                body.get("new_label"),
                bool(body.get("allow_new_label")),
            )
        except NewLabelError as exc:
            return JSONResponse(
                {"error": str(exc), "label": exc.label, "closest": exc.closest}, status_code=409
            )
        except ReviewError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        undo_stack.push(result.decisions)
        return JSONResponse(
            {
                "decided": [_decision_json(d) for d in result.decisions],
                "refused": {str(k): v for k, v in result.refused.items()},
            }
        )

    async def undo(request: Request) -> Response:
        try:
            undone = await run_in_threadpool(undo_stack.undo, config.catalog, config.actor)
        except ReviewError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"undone": [_decision_json(d) for d in undone]})

    async def image(request: Request) -> Response:
        try:
            image_id = int(request.path_params["image_id"])
            path = await run_in_threadpool(
                config.thumbs.path_for, image_id, request.query_params.get("size", "thumb")
            )
        except NoSuchImage as exc:
            return PlainTextResponse(f"{exc}\n", status_code=404)
        except ValueError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        # An image id names fixed bytes (the store is content-addressed): cache it.
        return FileResponse(
            path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
        )

    routes = [
        Route("/", index),
        Route("/api/items", items),
        Route("/api/decide", decide, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
        Route("/image/{image_id:int}", image),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(Guard, config=config)])
