"""`onceonly-workflow codec-proxy`: Temporal Web UI's codec endpoint, on an operator's
machine, in front of the department API's `/v1/temporal-codec`.

The UI decodes payloads in the browser by POSTing them to `<endpoint>/decode`; it cannot
send a staff token. This proxy listens on loopback only, answers CORS for the one UI
origin it is given (preflight and responses; any other origin, or none, is a 403 and no
request reaches the API), and forwards `/decode` and `/encode` to the API with the
operator's token, read from a file (at each call, so a renewed token is used at once)
or from the environment, never from the command line. The API decides as always (a
token it refuses is its 401, passed through with its problem body). docs/operations.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = structlog.get_logger("onceonly.workflow.codec_proxy")

OPERATIONS = ("decode", "encode")
# What Temporal UI sends with a codec call (Authorization only with its own login token,
# which the proxy never forwards).
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
LOOPBACK = "127.0.0.1"


class CodecProxyError(ValueError):
    """A configuration the proxy refuses to start with."""


@dataclass(frozen=True)
class CodecProxyConfig:
    api_url: str  # the department API, e.g. http://127.0.0.1:8001
    ui_origin: str  # scheme://host[:port], as the browser sends it in Origin
    token: Callable[[], str]  # the operator's department-API token, at each call
    timeout_seconds: float = 30.0


def ui_origin(text: str) -> str:
    """`text` as a browser's Origin: scheme, host and port only."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CodecProxyError(f"--ui-origin must be http(s)://host[:port], not {text!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise CodecProxyError(f"--ui-origin is an origin (no path, query or user): {text!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def token_reader(path: str | None, environment: str | None) -> Callable[[], str]:
    """How the proxy gets the token: a file read at each call, else the environment's."""
    if path and environment:
        raise CodecProxyError("give the token in a file or in the environment, not both")
    if environment:
        value = environment.strip()
        return lambda: value
    if not path:
        raise CodecProxyError(
            "no token: --token-file PATH or ONCEONLY_CODEC_PROXY_TOKEN (a department-API"
            " token with the role operations or supervision)"
        )

    def from_file() -> str:
        with open(path, encoding="utf-8") as file:
            return file.read().strip()

    from_file()  # unreadable now: refuse to start rather than fail each call
    return from_file


def create_codec_proxy(config: CodecProxyConfig) -> Starlette:
    upstream = httpx.AsyncClient(
        base_url=config.api_url.rstrip("/"), timeout=config.timeout_seconds, trust_env=False
    )

    def cors(origin: str) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }

    def refused(request: Request) -> Response | None:
        if request.headers.get("origin") != config.ui_origin:
            log.warning("codec call refused", reason="origin not allowed")
            return JSONResponse({"detail": "origin not allowed"}, status_code=403)
        return None

    async def preflight(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        if request.headers.get("access-control-request-method", "POST") != "POST":
            return JSONResponse({"detail": "only POST"}, status_code=403)
        return Response(
            status_code=204,
            headers={
                **cors(config.ui_origin),
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            },
        )

    async def forward(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        operation = request.url.path.strip("/")
        try:
            token = config.token()
            answer = await upstream.post(
                f"/v1/temporal-codec/{operation}",
                content=await request.body(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
        except OSError as exc:  # the token file gone
            log.error("codec call failed", reason=type(exc).__name__)
            return JSONResponse(
                {"detail": "token not readable"}, 502, headers=cors(config.ui_origin)
            )
        except httpx.HTTPError as exc:
            log.error("codec call failed", reason=type(exc).__name__)
            return JSONResponse({"detail": "API not reached"}, 502, headers=cors(config.ui_origin))
        log.info("codec call forwarded", operation=operation, status=answer.status_code)
        return Response(
            answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type"),
            headers=cors(config.ui_origin),
        )

    async def codec(request: Request) -> Response:
        return await (preflight if request.method == "OPTIONS" else forward)(request)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with upstream:
            yield

    return Starlette(
        routes=[Route(f"/{name}", codec, methods=["OPTIONS", "POST"]) for name in OPERATIONS],
        lifespan=lifespan,
    )
