"""The local OpenAI-compatible fine-tuning API: code written for OpenAI's client runs here.

    python -m core.server [--host 127.0.0.1] [--port 8000] [--api-key KEY] [--base-model MODEL]

Then point the official client at it: OPENAI_BASE_URL=http://127.0.0.1:8000/v1 and
OPENAI_API_KEY=<the key>. It serves /v1/files, /v1/fine_tuning/jobs (with events, checkpoints
and cancel), /v1/models and /v1/chat/completions (streaming too). Each fine-tuning job is an
ordinary workbench training run (LoRA), visible on the Runs page. OpenAI model names (gpt-4o-mini,
...) are served by the local base model; see core/server/ for the mapping. Errors have OpenAI's
shape and status codes. The key comes from --api-key or FT_API_KEY and is never logged. Before any
route reads a request, Guard caps its body (BODY_LIMITS) and, without a key, refuses other hosts and sites.
Test: `.venv/bin/pytest tests/jobs/test_server.py tests/jobs/test_server_limits.py tests/jobs/test_guide_script.py -q`.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import paths, workspace
from core.data.io import DEFAULT_MAX_BYTES
from core.models import DEFAULT_MODEL_ID
from core.server import ApiError, chat, events, files, ft_jobs

LOOPBACK = ("127.0.0.1", "localhost", "::1")
log = logging.getLogger("core.server")
MB = 1 << 20
UPLOAD = "POST /v1/files"
# The most bytes a request body may have, per route, checked before any of it is parsed. An upload
# may carry the file cap of core.server.files plus its form's other fields; other routes take little.
BODY_LIMITS = {
    UPLOAD: DEFAULT_MAX_BYTES + MB,
    "POST /v1/fine_tuning/jobs": MB,
    "POST /v1/chat/completions": 4 * MB,
}
OTHER_BODY_LIMIT = MB


# ---- auth and errors --------------------------------------------------------------------------


def check_key(request: Request) -> None:
    """Authorization: Bearer <key>, compared in constant time; the key itself is never echoed."""
    key = request.app.state.api_key
    if key is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if not given.strip():
        raise ApiError(
            401,
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
            "(the key the server was started with: --api-key or FT_API_KEY).",
            code="invalid_api_key",
        )
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), key.encode()):
        raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")


def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
    headers = {"x-request-id": exc.request_id} if exc.request_id else None  # the openai client shows it
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 becomes OpenAI's 400, naming the parameter."""
    first = (exc.errors() or [{}])[0]
    name = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
    if first.get("type") == "missing":
        message, code = f"Missing required parameter: '{name}'.", "missing_required_parameter"
    elif first.get("type") == "json_invalid":
        message, code, name = "We could not parse the JSON body of your request.", None, None
    elif name is None:
        message, code = f"The request body must be a JSON object: {first.get('msg', 'not valid')}.", None
    else:
        message, code = f"Invalid value for '{name}': {first.get('msg', 'not valid')}.", None
    return _api_error(_request, ApiError(400, message, name, code))


def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    message = f"Invalid URL ({request.method} {request.url.path})" if exc.status_code in (404, 405) else exc.detail
    return _api_error(request, ApiError(exc.status_code, str(message)))


async def _server_error(_request: Request, exc: Exception) -> JSONResponse:
    # async, so it runs inside Starlette's `except` and ApiError logs this exception's traceback
    return _api_error(_request, ApiError(500, f"unhandled {type(exc).__name__}: {exc}", type="server_error"))


# ---- what reaches a route: body size, and in no-auth mode only this machine's own callers ----------


def body_limit(scope: Scope, headers: Headers) -> tuple[int, str]:
    """(the most bytes this request's body may have, the 413 message naming that limit and the route)."""
    route = f"{scope['method']} {scope['path'].rstrip('/')}"
    limit, how = BODY_LIMITS.get(route, OTHER_BODY_LIMIT), ""
    if route == UPLOAD and not headers.get("content-type", "").startswith("multipart/form-data"):
        # only multipart streams to disk as it is read; any other form would be parsed in memory
        limit, how = OTHER_BODY_LIMIT, " unless sent as multipart/form-data"
    message = f"The request body is over the {limit // MB} MB limit of {route}{how}; send a smaller request."
    if route != UPLOAD:
        message += f" Training data goes to {UPLOAD} (up to {DEFAULT_MAX_BYTES // MB} MB a file)."
    return limit, message


def own_hosts(scope: Scope) -> set[str]:
    """The Host values that name this server on loopback: 127.0.0.1:PORT, localhost:PORT, [::1]:PORT."""
    names = [f"[{name}]" if ":" in name else name for name in LOOPBACK]
    port = (scope.get("server") or (None, None))[1]
    hosts = {f"{name}:{port}" for name in names} if port else set()
    return hosts | set(names) if port in (80, None) else hosts  # port 80 goes without saying


def foreign(scope: Scope, headers: Headers) -> ApiError | None:
    """Without a key, a request under another Host (DNS rebinding) or from another site's page is refused."""
    hosts, host = own_hosts(scope), headers.get("host", "").lower()
    again = "Start the server with a key (--api-key or FT_API_KEY) to take requests from elsewhere."
    if host not in hosts:
        return ApiError(
            421,
            f"This server runs without a key and answers only requests for {', '.join(sorted(hosts))}, "
            f"not Host {host!r}. {again}",
            code="invalid_host",
        )
    origins = {f"http://{h}" for h in hosts}
    origin, site = headers.get("origin"), headers.get("sec-fetch-site")
    if (origin is not None and origin.lower() not in origins) or site not in (None, "same-origin", "none"):
        return ApiError(
            403,
            f"Cross-site request refused (Origin {origin!r}, Sec-Fetch-Site {site!r}): this server runs without "
            f"a key, so only programs on this machine and its own pages ({', '.join(sorted(origins))}) may call "
            f"it. {again}",
            code="cross_site_request",
        )
    return None


def counted(receive: Receive, limit: int, message: str) -> Receive:
    """receive() that stops the read with a 413 once the body passes its limit, whatever Content-Length said."""
    seen = 0

    async def receive_counted() -> Message:
        nonlocal seen
        event = await receive()
        seen += len(event.get("body", b""))
        if seen > limit:
            raise HTTPException(413, message)  # FastAPI re-raises an HTTPException met while reading the body
        return event

    return receive_counted


class Guard:
    """Pure ASGI middleware: refuses a request before its body is read, and counts the body as it is read."""

    def __init__(self, app: ASGIApp, no_auth: bool) -> None:
        self.app, self.no_auth = app, no_auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        limit, message = body_limit(scope, headers)
        refusal = foreign(scope, headers) if self.no_auth else None
        length = headers.get("content-length", "")
        if refusal is None and length.isdigit() and int(length) > limit:
            refusal = ApiError(413, message)
        if refusal is not None:
            return await _api_error(Request(scope), refusal)(scope, receive, send)
        await self.app(scope, counted(receive, limit, message), send)


# ---- the app ----------------------------------------------------------------------------------


def create_app(api_key: str | None, base_model: str | None = None, max_request_s: float | None = None) -> FastAPI:
    """The API; api_key None serves without authentication (the command line allows it on loopback only).
    max_request_s bounds one chat reply's generation (default FT_API_MAX_REQUEST_S, else 300 s)."""
    # FastAPI's own /docs, /redoc and /openapi.json would be open to anyone: _routes serves them behind the key
    title = "Fine-Tuning Workbench: local OpenAI-compatible API"
    app = FastAPI(title=title, version="1", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.api_key = api_key
    app.state.base_model = base_model or os.environ.get("FT_API_BASE_MODEL") or DEFAULT_MODEL_ID
    app.state.cache = chat.ModelCache()
    app.state.max_request_s = max_request_s or chat.max_request_seconds()
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _server_error)
    app.add_middleware(Guard, no_auth=api_key is None)
    _routes(app, [Depends(check_key)])
    _start_up()
    return app


def _start_up() -> None:
    """Tidy what a crash of the last server left: temp files of its writes, jobs it was starting."""
    workspace.start_up()  # in the background; it logs what it removed
    for line in ft_jobs.recover():
        log.warning("at start: %s", line)


def _routes(app: FastAPI, auth: list) -> None:
    # Plain `def` endpoints: FastAPI runs them in its threadpool, so validation and generation
    # never block the event loop.
    @app.get("/openapi.json", dependencies=auth, include_in_schema=False)
    def openapi() -> dict:
        return app.openapi()

    @app.get("/docs", dependencies=auth, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    @app.get("/redoc", dependencies=auth, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=app.title)

    @app.post("/v1/files", dependencies=auth)
    def upload(file: Annotated[UploadFile, File()], purpose: Annotated[str, Form()]) -> dict:
        return files.create(file.file, file.filename or "upload", purpose)

    @app.get("/v1/files", dependencies=auth)
    def list_files(
        after: str | None = None, limit: int | None = None, order: str = "desc", purpose: str | None = None
    ):
        return files.listing(after, limit, order, purpose)

    @app.get("/v1/files/{file_id}", dependencies=auth)
    def get_file(file_id: str) -> dict:
        return files.public(files.get(file_id))

    @app.get("/v1/files/{file_id}/content", dependencies=auth)
    def file_content(file_id: str) -> FileResponse:
        return FileResponse(files.content_path(file_id), media_type="application/octet-stream")

    @app.delete("/v1/files/{file_id}", dependencies=auth)
    def delete_file(file_id: str) -> dict:
        return files.delete(file_id)

    @app.post("/v1/fine_tuning/jobs", dependencies=auth)
    def create_job(request: Request, body: Annotated[dict[str, Any], Body()]) -> dict:
        key, retry = request.headers.get("idempotency-key"), request.headers.get("x-stainless-retry-count", "0")
        return ft_jobs.create(body, request.app.state.base_model, key, int(retry) if retry.isdigit() else 0)

    @app.get("/v1/fine_tuning/jobs", dependencies=auth)
    def list_jobs(after: str | None = None, limit: int | None = None) -> dict:
        return ft_jobs.listing(after, limit)

    @app.get("/v1/fine_tuning/jobs/{job_id}", dependencies=auth)
    def get_job(job_id: str) -> dict:
        return ft_jobs.job_object(ft_jobs.get(job_id))

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel", dependencies=auth)
    def cancel_job(job_id: str) -> dict:
        return ft_jobs.cancel(job_id)

    @app.get("/v1/fine_tuning/jobs/{job_id}/events", dependencies=auth)
    def job_events(job_id: str, after: str | None = None, limit: int | None = None) -> dict:
        return events.events(job_id, after, limit)

    @app.get("/v1/fine_tuning/jobs/{job_id}/checkpoints", dependencies=auth)
    def job_checkpoints(job_id: str, after: str | None = None, limit: int | None = None) -> dict:
        return events.checkpoints(job_id, after, limit)

    @app.get("/v1/models", dependencies=auth)
    def list_models(request: Request) -> dict:
        return chat.model_list(request.app.state.base_model)

    @app.get("/v1/models/{model:path}", dependencies=auth)
    def get_model(request: Request, model: str) -> dict:
        return chat.model_info(model, request.app.state.base_model)

    @app.post("/v1/chat/completions", dependencies=auth, response_model=None)
    async def chat_completion(request: Request, body: Annotated[dict[str, Any], Body()]) -> dict | StreamingResponse:
        # async, so that a non-streamed reply sees its client leave; loading and generating run in threads
        state = request.app.state
        gen = await run_in_threadpool(chat.start, body, state.base_model, state.cache, state.max_request_s)
        if gen.req.stream:
            return StreamingResponse(chat.stream_while_connected(gen), media_type="text/event-stream")
        return await chat.completion_while_connected(gen, request.is_disconnected)


# ---- command line -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.server",
        description="A local stand-in for OpenAI's fine-tuning API (files, fine_tuning.jobs, models, "
        "chat.completions) over the workbench's training runs.",
        epilog="Clients use OPENAI_BASE_URL=http://HOST:PORT/v1 and OPENAI_API_KEY=KEY. The server refuses "
        "to start without a key unless --no-auth is given, and --no-auth works only on 127.0.0.1.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--api-key",
        default=None,
        help="the key clients must send as 'Authorization: Bearer KEY'; better set FT_API_KEY, "
        "since a command line is visible to other users of the machine",
    )
    parser.add_argument(
        "--base-model",
        default=None,
        help=f"local model that serves OpenAI model names (gpt-4o-mini, ...) and trains their jobs: a model "
        f"folder or {DEFAULT_MODEL_ID} (default: FT_API_BASE_MODEL, else {DEFAULT_MODEL_ID})",
    )
    parser.add_argument(
        "--no-auth", action="store_true", help="serve without a key; allowed only with --host 127.0.0.1"
    )
    return parser


def settings(argv: list[str] | None = None) -> tuple[argparse.Namespace, str | None, str]:
    """(arguments, key or None, base model); exits with a one-line reason when it cannot serve."""
    parser = _parser()
    args = parser.parse_args(argv)
    key = args.api_key or os.environ.get("FT_API_KEY") or None
    if key and args.no_auth:
        parser.error("--no-auth with a key: drop one of them")
    if not key and not args.no_auth:
        parser.error("no API key: pass --api-key KEY or set FT_API_KEY (or --no-auth, on 127.0.0.1 only)")
    if args.no_auth and args.host not in LOOPBACK:
        parser.error(f"--no-auth is allowed only on 127.0.0.1, not {args.host}: anyone who can reach it could train")
    base = args.base_model or os.environ.get("FT_API_BASE_MODEL") or DEFAULT_MODEL_ID
    if base != DEFAULT_MODEL_ID and base.startswith((".", "/", "~")) and not os.path.isdir(os.path.expanduser(base)):
        parser.error(f"--base-model: no model folder at {base}")
    return args, key, base


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    args, key, base = settings(argv)
    auth = "a key is required" if key else "no key (loopback only)"
    print(
        f"Serving http://{args.host}:{args.port}/v1 · base model {base} · workspace {paths.home()} · {auth}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(create_app(key, base), host=args.host, port=args.port, log_level="info")
    return 0
