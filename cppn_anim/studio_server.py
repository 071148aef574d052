"""Entry point: `cppn-anim studio`, the web server of the live editor (Starlette on uvicorn).

The page sends the editor's text over a WebSocket (studio_session.py has the protocol and
the state); this module serves it: the page and its assets (the editor bundle among them),
/frame.png (the saved scene), /still.png (a text the page shows, at a preview frame or a
time), /result (the last render) and the WebSocket, behind a guard. Downloads carry any
file name (`attachment`: RFC 5987 filename*); a failure is its one line, never a 500 page.

Security (a local server is reachable by every web page the user visits):
- we bind 127.0.0.1 only;
- every request and WebSocket needs the random token (URL or the cookie the page sets),
  compared in constant time;
- the Host header must name us (127.0.0.1:PORT, localhost:PORT or an --allow-host):
  a DNS-rebinding page on another name gets 403; an Origin, when sent, must be ours too;
- the only file we write is the opened scene (on `save`, atomically); a render goes to
  the scene's own output path, under the scene's output rules; nothing logs the token;
- with a fixed --port the token is kept for that port (`kept_token`: a private folder of
  the user's), so that an open page reconnects to a studio started again there.

What this entry point sets for its process (the rest is the command line's, entry.py):
- the studio's threads (`pools`): preview work (frames, /frame.png, /still.png) computes
  on PREVIEW_THREADS torch thread (small frames, and no stall behind a busy core), a full
  render on every thread torch has;
- uvicorn's logging: our one-line format, warnings only, the token blanked;
- signals while it serves: uvicorn stops on SIGINT and SIGTERM; a SIGHUP stops it the same
  way. `run` says which signal stopped it: for the command line, Ctrl-C is the studio's
  normal end (exit 0), SIGTERM 143, SIGHUP 129.
"""
from __future__ import annotations

import argparse
import hmac
import os
import signal
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs

from . import core
from .errors import RenderError, SceneError
from .studio_session import PREVIEW_THREADS, Pools, Session, Studio, one_line

ASSETS = Path(__file__).with_name("studio_assets")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",  # CodeMirror writes its styles inline
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# ==================================================================== the web app


def numbers(request, *names) -> list:
    """The query's t (seconds), w and h (pixels), checked alike on every endpoint.

    A bad request (not a number, a side outside 1..MAX_SIDE) is a ValueError, answered 400
    before the scene is read: a 409 means the saved scene is bad, never the request.
    """
    out = []
    for name in names:
        raw = request.query_params.get(name)
        kind = float if name == "t" else int
        try:
            value = None if raw is None else kind(raw)
        except ValueError:
            raise ValueError(f"{name}={raw}: not a {'number' if kind is float else 'whole number'}") from None
        if value is not None and (value != value or abs(value) == float("inf")):
            raise ValueError(f"{name}={raw}: not a finite number")
        if value is not None and name in ("w", "h") and not 1 <= value <= core.MAX_SIDE:
            raise ValueError(f"{name}={raw}: a side is 1..{core.MAX_SIDE} pixels")
        if value is not None and name == "frame" and value < 0:
            raise ValueError(f"frame={raw}: frames count from 0")
        out.append(value)
    return out


def _text(message: str, status: int):
    from starlette.responses import PlainTextResponse

    return PlainTextResponse(message + "\n", status_code=status)


def attachment(name: str) -> str:
    """Content-Disposition for a download named `name`, whatever its characters (RFC 6266 with
    RFC 5987's filename*): an ASCII stand-in for old clients, then the exact name, UTF-8, %-encoded."""
    from urllib.parse import quote

    plain = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name) or "download"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def _failure(e: MemoryError):
    """503: the request is fine; this machine cannot do it now."""
    return _text(f"cppn-anim: {str(e).splitlines()[0] if str(e) else 'out of memory'}", 503)


class App:
    """The endpoints, over one Studio."""

    def __init__(self, studio: Studio):
        self.studio = studio

    async def _in_pool(self, fn, *args):
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(self.studio.pools.requests, fn, *args)

    async def page(self, request):
        from starlette.responses import FileResponse

        response = FileResponse(ASSETS / "index.html", headers=HEADERS)
        if "token" in request.query_params:  # the page's later requests carry the cookie instead
            response.set_cookie(cookie_name(self.studio), self.studio.token, httponly=True, samesite="strict", path="/")
        return response

    async def frame(self, request):
        from starlette.responses import Response

        try:
            t, w, h = numbers(request, "t", "w", "h")
            png = await self._in_pool(self.studio.frame_from_disk, t or 0.0, w, h)
        except SceneError as e:
            return _text(str(e), 409)
        except ValueError as e:  # the request's numbers, or a time outside the scene (UsageError)
            return _text(str(e), 400)
        except MemoryError as e:
            return _failure(e)
        except RenderError as e:  # a failure while working: the one line
            return _text(one_line(e), 503)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def still(self, request):
        from starlette.responses import Response

        try:
            t, w, h, frame = numbers(request, "t", "w", "h", "frame")
            if w is None or h is None:
                raise ValueError(f"w and h: whole numbers from 1 to {core.MAX_SIDE}")
            ident = request.query_params.get("key", "")
            name, png = await self._in_pool(self.studio.still_of, ident, frame, t, w, h)
        except LookupError as e:
            return _text(str(e), 410)
        except ValueError as e:
            return _text(str(e), 400)
        except Exception as e:  # noqa: BLE001 - memory, a device that is not there: the one line, never a 500 page
            return _text(one_line(e), 503 if isinstance(e, MemoryError) else 409)
        return Response(png, media_type="image/png", headers={"Content-Disposition": attachment(name), "Cache-Control": "no-store"})

    async def result(self, request):
        from starlette.responses import FileResponse

        path = self.studio.last_output
        if path is None or not path.exists():
            return _text("nothing rendered yet", 404)
        if path.is_dir():  # png frames: the first one
            frames = sorted(path.glob("frame_*.png"))
            if not frames:
                return _text("no frames", 404)
            path = frames[0]
        return FileResponse(path, headers={"Cache-Control": "no-store", "Content-Disposition": attachment(path.name)})

    async def audio(self, request):
        """The soundtrack of a scene a page shows (by its sha256; byte ranges, so the page can seek)."""
        from starlette.responses import FileResponse

        path = self.studio.soundtracks.get(request.query_params.get("sha", ""))
        if path is None or not path.is_file():
            return _text("no such soundtrack in the editor", 404)
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    async def ws(self, websocket):
        from starlette.websockets import WebSocketDisconnect

        await websocket.accept()
        try:
            await Session(self.studio, websocket).run()
        except (WebSocketDisconnect, RuntimeError, OSError):  # the page went while we spoke: nothing to tell
            pass

    @asynccontextmanager
    async def lifespan(self, app):
        import asyncio

        self.studio.loop = asyncio.get_running_loop()
        watcher = asyncio.create_task(self.studio.watch_disk())
        try:
            yield
        finally:
            watcher.cancel()
            await asyncio.to_thread(self.studio.close)


def make_app(studio: Studio):
    """The ASGI app: the page, its assets, /frame.png, /still.png, /result and the WebSocket, behind the Guard."""
    from starlette.applications import Starlette
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles

    app = App(studio)
    routes = [
        Route("/", app.page),
        Route("/frame.png", app.frame),
        Route("/still.png", app.still),
        Route("/result", app.result),
        Route("/audio", app.audio),
        WebSocketRoute("/ws", app.ws),
        Mount("/assets", StaticFiles(directory=ASSETS)),
    ]
    return Guard(Starlette(routes=routes, lifespan=app.lifespan), studio)


# ==================================================================== who may ask


def hosts(studio: Studio) -> set:
    return {f"127.0.0.1:{studio.port}", f"localhost:{studio.port}", *(h.lower() for h in studio.allow_hosts)}


def cookie_name(studio: Studio) -> str:
    return f"cppn_studio_{studio.port}"  # cookies ignore ports: one name per studio


def allowed(studio: Studio, scope) -> bool:
    """The Host is ours, an Origin (when sent) is ours, and the token is right."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    ours = hosts(studio)
    if headers.get("host", "").lower() not in ours:
        return False
    origin = headers.get("origin")
    if origin is not None and origin.lower() not in {f"{s}://{h}" for h in ours for s in ("http", "https")}:
        return False
    return token_ok(studio, scope, headers)


def token_ok(studio: Studio, scope, headers: dict) -> bool:
    given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
    if given is None:
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == cookie_name(studio):
                given = value
    return given is not None and hmac.compare_digest(given.encode(), studio.token.encode())


class Guard:
    """ASGI middleware: 403 for a wrong Host, a foreign Origin or a missing or wrong token."""

    def __init__(self, app, studio: Studio):
        self.app, self.studio = app, studio

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and not allowed(self.studio, scope):
            if scope["type"] == "websocket":
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403
                return
            body = b"forbidden\n"
            await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


# ==================================================================== the command


def _port(text: str) -> int:
    """--port: 0 (a free one) or 1..65535; anything else is a usage error (exit 2)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 for a free one, or 1..65535)")
    return port


def add_arguments(parser) -> None:
    parser.add_argument("scene", nargs="?", help="the scene to edit (default: pick one from scenes/ in the page)")
    parser.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="only print the address")
    parser.add_argument("--allow-host", action="append", default=[], metavar="H", help="also accept Host header H, e.g. localhost:9000 for an ssh tunnel; repeatable")


def _torch_threads(n: int) -> None:
    """A pool thread's set-up: torch computes on n threads in it (each thread its own count)."""
    import torch

    torch.set_num_threads(n)


def pools() -> Pools:
    """The studio's threads, each set up for its work: preview work on PREVIEW_THREADS torch
    thread(s); the full render on every thread torch had when the studio started."""
    import torch

    everything = torch.get_num_threads()
    make = lambda n, name, threads: ThreadPoolExecutor(n, thread_name_prefix=f"studio-{name}", initializer=_torch_threads, initargs=(threads,))  # noqa: E731
    return Pools(
        ahead=make(1, "ahead", PREVIEW_THREADS), playhead=make(1, "playhead", PREVIEW_THREADS),
        requests=make(2, "requests", PREVIEW_THREADS), render=make(1, "render", everything),
    )  # fmt: skip


def serve(studio: Studio, log_stream=None):
    """A uvicorn server for the studio (not started), its logging ours: one line, warnings only, no token."""
    import logging

    import uvicorn

    class Redact(logging.Formatter):  # uvicorn's own messages, with the token (were it ever in one) blanked
        def format(self, record) -> str:
            return super().format(record).replace(studio.token, "[token]")

    log = logging.getLogger("uvicorn")
    handler = logging.StreamHandler(log_stream or sys.stderr)
    handler.setFormatter(Redact("cppn-anim studio: %(levelname)s %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING)
    log.propagate = False
    config = uvicorn.Config(make_app(studio), log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=3, ws_ping_interval=None)

    class Server(uvicorn.Server):
        def __init__(self, config):
            super().__init__(config)
            self.signals: list = []  # what stopped it, in order

        def handle_exit(self, sig, frame):
            self.signals.append(sig)
            super().handle_exit(sig, frame)

    return Server(config)


def bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))  # loopback only, whatever the machine's interfaces
    sock.listen(64)
    return sock


def run(args, overrides: list) -> int | None:
    """`cppn-anim studio`: serve until a signal; which one stopped it (None: none did)."""
    path = Path(args.scene) if args.scene else None
    if path is not None and not path.is_file():  # a bad scene opens, to be fixed in the page; a missing one cannot
        core.load(path, overrides)  # "no such file (did you mean ...)"
        raise SceneError(str(path), "not a file")
    try:
        sock = bind(args.port)
    except OSError as e:
        raise OSError(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror}") from None
    port = sock.getsockname()[1]
    token = kept_token(port) if args.port else None  # a fixed port: the same address after a restart
    studio = Studio(path, overrides, port=port, allow_hosts=args.allow_host, pools=pools(), **({"token": token} if token else {}))
    url = f"http://127.0.0.1:{studio.port}/?token={studio.token}"
    print(url, flush=True)
    print(f"cppn-anim studio: {path or 'pick a scene in the page'} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    if not args.no_browser:
        _open_browser(url)
    server = serve(studio)
    hangup = signal.signal(signal.SIGHUP, lambda sig, frame: server.handle_exit(sig, frame)) if _main_thread() else None
    try:
        server.run(sockets=[sock])  # uvicorn handles SIGINT and SIGTERM meanwhile, and raises them again after
    except KeyboardInterrupt:  # raised again where nothing (the command line's entry.Stop) turns it into a flag
        pass
    finally:
        if hangup is not None:
            signal.signal(signal.SIGHUP, hangup)
    return server.signals[0] if server.signals else None


def kept_token(port: int) -> str | None:
    """The token of the studio on `port`, kept across restarts in a private per-user folder under
    the system temp folder (0700, the file 0600), so that an open page reconnects to a studio
    started again on the same --port. None when it cannot be kept safely (a fresh one then)."""
    import secrets
    import stat
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"cppn-anim-studio-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
            return None  # not ours alone: never trust or leave a token there
        file = folder / f"port-{port}.token"
        try:
            fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd) as f:
                token = f.read().strip()
            if len(token) >= 32 and token.replace("-", "").replace("_", "").isalnum():
                return token
        except FileNotFoundError:
            pass
        token = secrets.token_urlsafe(24)
        temp = folder / f".port-{port}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        os.replace(temp, file)
        return token
    except OSError:
        return None


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _open_browser(url: str) -> None:
    """Open the page, unless there is no display to open it on (the address is printed anyway)."""
    import webbrowser

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("cppn-anim studio: no display; open the address above in a browser", file=sys.stderr, flush=True)
        return
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
