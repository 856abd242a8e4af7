"""A real Synapse homeserver on 127.0.0.1 for end-to-end tests.

Synapse lives in its own virtualenv (see ``scripts/synapse-venv.sh``) because its
pinned dependencies must not leak into the application's environment. This module
only needs the standard library and ``httpx``: it writes the homeserver config as
JSON (which is valid YAML), starts ``python -m synapse.app.homeserver`` from that
venv as a subprocess and talks to it over HTTP.

Typical use::

    with SynapseServer() as hs:
        admin_id, admin_token = hs.register("admin", "pw", admin=True)
        alice = hs.client(*hs.register("alice", "pw"))
        room_id = alice.create_room(name="lobby")
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import quote

import httpx

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_SCRIPT = REPO_ROOT / "scripts" / "synapse-venv.sh"

#: Generous limits so that tests never trip a rate limiter.
_HIGH_LIMIT: dict[str, float] = {"per_second": 10_000.0, "burst_count": 10_000.0}

#: Synapse's default ``rc_message`` (``synapse/config/ratelimiting.py``, and the
#: configuration manual): a burst of 10 events, then one every 5 seconds.
STOCK_MESSAGE_LIMIT: dict[str, float] = {"per_second": 0.2, "burst_count": 10}

#: On a server with stock limits, the limiters the harness goes through before any user
#: can be exempted (registration, sign-in) stay generous; none of them is a bot's notice.
_HARNESS_LIMITS = ("rc_registration", "rc_registration_token_validity", "rc_login")

JsonDict = dict[str, Any]


def default_venv() -> Path:
    """Where ``scripts/synapse-venv.sh`` puts (or put) the Synapse venv."""
    override = os.environ.get("CONDUCT_SYNAPSE_VENV")
    return Path(override) if override else REPO_ROOT / ".venv-synapse"


def synapse_installed(venv: Path | None = None) -> bool:
    """True if ``venv``'s interpreter can ``import synapse``."""
    python = (venv or default_venv()) / "bin" / "python"
    if not python.exists():
        return False
    result = subprocess.run(
        [str(python), "-c", "import synapse"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return result.returncode == 0


def ensure_synapse_venv(venv: Path | None = None) -> Path:
    """Run ``scripts/synapse-venv.sh`` unless Synapse is already importable there."""
    target = venv or default_venv()
    if synapse_installed(target):
        return target
    env = dict(os.environ, CONDUCT_SYNAPSE_VENV=str(target))
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(VENV_SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SynapseError(
            f"{VENV_SCRIPT} failed with exit code {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    logger.info("%s (%.1fs)", result.stdout.strip(), time.monotonic() - started)
    return target


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (there is an unavoidable small race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class SynapseError(RuntimeError):
    """The homeserver could not be installed, started or driven."""


class MatrixError(RuntimeError):
    """A Matrix API call answered with a non-2xx status."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        self.errcode: str | None = body.get("errcode")
        self.error: str | None = body.get("error")
        request = response.request
        super().__init__(
            f"{request.method} {request.url.path} -> {response.status_code} "
            f"{self.errcode or '<no errcode>'}: {self.error or response.text[:500]}"
        )


def _check(response: httpx.Response) -> JsonDict:
    """Return the JSON body of a 2xx response, else raise :class:`MatrixError`."""
    if not response.is_success:
        raise MatrixError(response)
    body = response.json()
    if not isinstance(body, dict):
        raise SynapseError(f"expected a JSON object from {response.request.url}, got {body!r}")
    return body


def _q(value: str) -> str:
    """Percent-encode one path segment (user, room and event ids contain @ : ! $)."""
    return quote(value, safe="")


def build_config(
    *,
    data_dir: Path,
    server_name: str,
    port: int,
    registration_shared_secret: str,
    stock_rate_limits: bool = False,
) -> JsonDict:
    """The homeserver config: SQLite, one client+admin listener, no federation.

    Every rate limit is far above anything a test does, unless ``stock_rate_limits``: then
    each limiter keeps Synapse's default (``rc_message`` spelled out as
    :data:`STOCK_MESSAGE_LIMIT`), except registration and sign-in, which only the harness uses.
    """
    config = _base_config(data_dir=data_dir, server_name=server_name, port=port,
                          registration_shared_secret=registration_shared_secret)
    if stock_rate_limits:
        config = {key: value for key, value in config.items()
                  if not key.startswith("rc_") or key in _HARNESS_LIMITS}
        config["rc_message"] = dict(STOCK_MESSAGE_LIMIT)
    return config


def _base_config(
    *,
    data_dir: Path,
    server_name: str,
    port: int,
    registration_shared_secret: str,
) -> JsonDict:
    return {
        "server_name": server_name,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "pid_file": str(data_dir / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                # "client" also mounts /_synapse/admin; no "federation" resource.
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {
            "name": "sqlite3",
            "args": {"database": str(data_dir / "homeserver.db")},
        },
        "log_config": str(data_dir / "log.config"),
        "media_store_path": str(data_dir / "media_store"),
        # Missing on first start, so Synapse generates it (generate_missing_files,
        # the same code path as ``--generate-keys``).
        "signing_key_path": str(data_dir / f"{server_name}.signing.key"),
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        # No outbound federation at all.
        "federation_domain_whitelist": [],
        "report_stats": False,
        "enable_metrics": False,
        "enable_registration": False,
        "registration_shared_secret": registration_shared_secret,
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        # Hashing cost only matters for speed here.
        "bcrypt_rounds": 4,
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        # Account suspension (MSC3823): in Synapse >= ~1.12x the admin
        # ``PUT /_synapse/admin/v1/suspend/<user_id>`` servlet and the
        # ``M_USER_SUSPENDED`` checks are unconditional; older releases gated the
        # admin API behind this flag. Unknown experimental keys are ignored.
        "experimental_features": {"msc3823_account_suspension": True},
        # Rate limits far above anything a test does.
        "rc_message": _HIGH_LIMIT,
        "rc_registration": _HIGH_LIMIT,
        "rc_registration_token_validity": _HIGH_LIMIT,
        "rc_login": {
            "address": _HIGH_LIMIT,
            "account": _HIGH_LIMIT,
            "failed_attempts": _HIGH_LIMIT,
        },
        "rc_admin_redaction": _HIGH_LIMIT,
        "rc_joins": {"local": _HIGH_LIMIT, "remote": _HIGH_LIMIT},
        "rc_joins_per_room": _HIGH_LIMIT,
        "rc_invites": {
            "per_room": _HIGH_LIMIT,
            "per_user": _HIGH_LIMIT,
            "per_issuer": _HIGH_LIMIT,
        },
        "rc_third_party_invite": _HIGH_LIMIT,
        "rc_key_requests": _HIGH_LIMIT,
        "rc_3pid_validation": _HIGH_LIMIT,
        "rc_media_create": _HIGH_LIMIT,
        "rc_presence": {"per_user": _HIGH_LIMIT},
        "rc_delayed_event_mgmt": _HIGH_LIMIT,
        "rc_room_creation": _HIGH_LIMIT,
        "rc_reports": _HIGH_LIMIT,
        "rc_user_directory": _HIGH_LIMIT,
    }


def build_log_config(log_file: Path, access_log: Path | None = None) -> JsonDict:
    """A ``logging.config.dictConfig`` that writes WARNING and above to ``log_file``, and,
    given ``access_log``, one line per request there (user, status, method and path)."""
    config = _base_log_config(log_file)
    if access_log is not None:
        config["handlers"]["access"] = {
            "class": "logging.FileHandler",
            "formatter": "bare",
            "filename": str(access_log),
            "encoding": "utf8",
        }
        config["formatters"]["bare"] = {"format": "%(message)s"}
        config["loggers"]["synapse.access"] = {
            "level": "INFO", "handlers": ["access"], "propagate": False,
        }
    return config


def _base_log_config(log_file: Path) -> JsonDict:
    return {
        "version": 1,
        "formatters": {
            "precise": {
                "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s"
                " - %(request)s - %(message)s"
            }
        },
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(log_file),
                "encoding": "utf8",
            }
        },
        "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
        "root": {"level": "WARNING", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


class SynapseServer:
    """A throw-away Synapse on ``127.0.0.1:<free port>`` with its state in a temp dir.

    ``stock_rate_limits=True`` keeps Synapse's default rate limits (see :func:`build_config`)
    for the users registered with ``rate_limited=True`` (the bot under test); every other user
    :meth:`register` creates is exempted through the admin API
    (``POST /_synapse/admin/v1/users/<user_id>/override_ratelimit`` with zeros, which Synapse
    reads as "not limited" for all its limiters), so the harness itself never trips them.
    """

    def __init__(
        self,
        *,
        venv: Path | None = None,
        server_name: str = "localhost",
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        keep_data: bool = False,
        stock_rate_limits: bool = False,
    ) -> None:
        self.venv = venv or default_venv()
        self.stock_rate_limits = stock_rate_limits
        self.server_name = server_name
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.keep_data = keep_data or bool(os.environ.get("CONDUCT_SYNAPSE_KEEP"))
        self.registration_shared_secret = secrets.token_hex(32)
        self.port: int | None = None
        self.data_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._http: httpx.Client | None = None
        self._exempter: MatrixTestClient | None = None  # a server admin of the harness's own

    # -- lifecycle ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise SynapseError("SynapseServer is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self._require_data_dir() / "homeserver.yaml"

    @property
    def log_path(self) -> Path:
        """Synapse's own log (WARNING and above)."""
        return self._require_data_dir() / "homeserver.log"

    @property
    def output_path(self) -> Path:
        """stdout/stderr of the Synapse process (start-up errors land here)."""
        return self._require_data_dir() / "homeserver.out"

    @property
    def access_log_path(self) -> Path:
        """One line per request, on a server with stock rate limits."""
        return self._require_data_dir() / "access.log"

    def rate_limited_requests(self, user_id: str | None = None) -> list[str]:
        """The requests Synapse refused with 429 (``M_LIMIT_EXCEEDED``), from the access log
        of a server with stock rate limits; only ``user_id``'s when given."""
        if not self.stock_rate_limits:
            raise SynapseError("only a server with stock_rate_limits keeps an access log")
        try:
            lines = self.access_log_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        refused = [line for line in lines if re.search(r"B 429 \"", line)]
        if user_id is not None:
            refused = [line for line in refused if f"{{{user_id}}}" in line]
        return refused

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, attempts: int = 3) -> Self:
        """Write a config, start Synapse and wait until it answers; retry on a port race."""
        if self._process is not None:
            raise SynapseError("SynapseServer already started")
        python = self.venv / "bin" / "python"
        if not python.exists():
            raise SynapseError(
                f"no Synapse venv at {self.venv}: run {VENV_SCRIPT} (or use ensure_synapse_venv())"
            )
        self.data_dir = Path(tempfile.mkdtemp(prefix="conduct-synapse-"))
        self._http = httpx.Client(timeout=30.0)
        atexit.register(self.stop)
        started = time.monotonic()
        try:
            for attempt in range(1, attempts + 1):
                self._spawn(python)
                try:
                    self._wait_ready()
                    break
                except SynapseError:
                    output = self._tail(self.output_path) + self._tail(self.log_path)
                    self._terminate()
                    if attempt < attempts and "Address already in use" in output:
                        logger.warning("port %s was taken, retrying", self.port)
                        continue
                    raise
            if self.stock_rate_limits:  # a server admin to exempt the harness's users with,
                # registered as limited (there is nobody to exempt it yet), then exempt itself
                user_id, token = self.register(f"harness-{secrets.token_hex(4)}",
                                               secrets.token_hex(16), admin=True,
                                               rate_limited=True)
                self._exempter = MatrixTestClient(self.base_url, user_id, token)
                self.exempt_from_rate_limits(user_id)
        except BaseException:
            self.stop()
            raise
        logger.info(
            "synapse ready at %s in %.1fs (data in %s)",
            self.base_url,
            time.monotonic() - started,
            self.data_dir,
        )
        return self

    def stop(self) -> None:
        """Terminate Synapse (SIGTERM, then SIGKILL) and remove its temp dir."""
        atexit.unregister(self.stop)
        self._terminate()
        if self._exempter is not None:
            self._exempter.close()
            self._exempter = None
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.data_dir is not None:
            if self.keep_data:
                logger.info("keeping synapse data in %s", self.data_dir)
            else:
                shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None
        self.port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, python: Path) -> None:
        data_dir = self._require_data_dir()
        self.port = free_port()
        config = build_config(
            data_dir=data_dir,
            server_name=self.server_name,
            port=self.port,
            registration_shared_secret=self.registration_shared_secret,
            stock_rate_limits=self.stock_rate_limits,
        )
        self.config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        (data_dir / "log.config").write_text(
            json.dumps(build_log_config(
                self.log_path, self.access_log_path if self.stock_rate_limits else None),
                indent=2), encoding="utf-8"
        )
        self._output = self.output_path.open("ab")
        logger.debug("starting synapse on port %s with %s", self.port, self.config_path)
        self._process = subprocess.Popen(
            [str(python), "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C in the test runner's terminal reaches pytest,
            # whose teardown then stops Synapse cleanly.
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        assert self._process is not None and self._http is not None
        url = f"{self.base_url}/_matrix/client/versions"
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.05
        while True:
            code = self._process.poll()
            if code is not None:
                raise SynapseError(
                    f"synapse exited with code {code} during start-up:\n"
                    f"{self._tail(self.output_path)}{self._tail(self.log_path)}"
                )
            try:
                if self._http.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() >= deadline:
                raise SynapseError(
                    f"synapse did not answer {url} within {self.startup_timeout:.0f}s:\n"
                    f"{self._tail(self.output_path)}{self._tail(self.log_path)}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    logger.warning("synapse pid %s ignored SIGTERM, killing", process.pid)
                    process.kill()
                    process.wait(timeout=self.stop_timeout)
            else:
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None

    def _require_data_dir(self) -> Path:
        if self.data_dir is None:
            raise SynapseError("SynapseServer is not started")
        return self.data_dir

    @staticmethod
    def _tail(path: Path, max_chars: int = 4000) -> str:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return f"--- {path.name} ---\n{text[-max_chars:]}\n"

    # -- users -------------------------------------------------------------

    def user_id(self, username: str) -> str:
        return f"@{username}:{self.server_name}"

    def register(
        self,
        username: str,
        password: str,
        admin: bool = False,
        displayname: str | None = None,
        *,
        rate_limited: bool = False,
    ) -> tuple[str, str]:
        """Create a user through the shared-secret admin API; return (user_id, token).

        On a server with stock rate limits the user is exempted from them unless
        ``rate_limited``; elsewhere every limit is generous anyway."""
        if self._http is None:
            raise SynapseError("SynapseServer is not started")
        url = f"{self.base_url}/_synapse/admin/v1/register"
        nonce = _check(self._http.get(url))["nonce"]
        mac = hmac.new(self.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(nonce.encode())
        mac.update(b"\x00")
        mac.update(username.encode())
        mac.update(b"\x00")
        mac.update(password.encode())
        mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        body: JsonDict = {
            "nonce": nonce,
            "username": username,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if displayname is not None:
            body["displayname"] = displayname
        result = _check(self._http.post(url, json=body))
        user_id, token = str(result["user_id"]), str(result["access_token"])
        if self.stock_rate_limits and not rate_limited:
            self.exempt_from_rate_limits(user_id)
        return user_id, token

    def exempt_from_rate_limits(self, user_id: str) -> None:
        """Synapse's per-user override with zeros: none of its rate limiters applies to
        ``user_id`` any more (checked by reading the override back)."""
        if self._exempter is None:
            raise SynapseError("exempting a user needs a server started with stock_rate_limits")
        path = f"/_synapse/admin/v1/users/{_q(user_id)}/override_ratelimit"
        unlimited = {"messages_per_second": 0, "burst_count": 0}
        self._exempter.call("POST", path, json=unlimited)
        if self._exempter.call("GET", path) != unlimited:
            raise SynapseError(f"the rate-limit override of {user_id} did not stick")

    def client(self, user_id: str, access_token: str) -> MatrixTestClient:
        return MatrixTestClient(self.base_url, user_id, access_token)


class MatrixTestClient:
    """A minimal synchronous Matrix client-server (and admin) API client."""

    def __init__(self, base_url: str, user_id: str, token: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.user_id = user_id
        self.token = token
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- raw access ----------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """Any API call; ``path`` starts with ``/_matrix`` or ``/_synapse``."""
        request = self._http.build_request(method, path, json=json, params=params)
        if not authenticated:
            del request.headers["Authorization"]
        response = self._http.send(request)
        logger.debug("%s %s -> %s", method, path, response.status_code)
        return response

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> JsonDict:
        """Like :meth:`request` but returns the JSON body or raises :class:`MatrixError`."""
        return _check(self.request(method, path, json=json, params=params))

    # -- client-server API ----------------------------------------------------

    def login(self, username: str, password: str) -> httpx.Response:
        """Password login (unauthenticated); the raw response, so failures can be asserted."""
        return self.request(
            "POST",
            "/_matrix/client/v3/login",
            json={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": username},
                "password": password,
            },
            authenticated=False,
        )

    def whoami(self) -> httpx.Response:
        return self.request("GET", "/_matrix/client/v3/account/whoami")

    def create_room(
        self,
        name: str | None = None,
        invite: Sequence[str] = (),
        is_direct: bool = False,
        *,
        preset: str | None = None,
    ) -> str:
        body: JsonDict = {"invite": list(invite), "is_direct": is_direct}
        if name is not None:
            body["name"] = name
        if preset is not None:
            body["preset"] = preset
        return str(self.call("POST", "/_matrix/client/v3/createRoom", json=body)["room_id"])

    def invite(self, room_id: str, user_id: str) -> None:
        self.call(
            "POST", f"/_matrix/client/v3/rooms/{_q(room_id)}/invite", json={"user_id": user_id}
        )

    def join(self, room_id: str) -> str:
        return str(self.call("POST", f"/_matrix/client/v3/join/{_q(room_id)}", json={})["room_id"])

    def leave(self, room_id: str) -> None:
        self.call("POST", f"/_matrix/client/v3/rooms/{_q(room_id)}/leave", json={})

    def send_text_raw(self, room_id: str, body: str) -> httpx.Response:
        """PUT an ``m.text`` message; the raw response (check ``errcode`` yourself)."""
        txn_id = uuid.uuid4().hex
        return self.request(
            "PUT",
            f"/_matrix/client/v3/rooms/{_q(room_id)}/send/m.room.message/{txn_id}",
            json={"msgtype": "m.text", "body": body},
        )

    def send_text(self, room_id: str, body: str) -> str:
        """Send an ``m.text`` message and return its event id; raises :class:`MatrixError`."""
        return str(_check(self.send_text_raw(room_id, body))["event_id"])

    def report_event_raw(self, room_id: str, event_id: str, reason: str) -> httpx.Response:
        return self.request(
            "POST",
            f"/_matrix/client/v3/rooms/{_q(room_id)}/report/{_q(event_id)}",
            json={"reason": reason},
        )

    def report_event(self, room_id: str, event_id: str, reason: str) -> None:
        _check(self.report_event_raw(room_id, event_id, reason))

    def report_user(self, user_id: str, reason: str) -> None:
        """``POST /_matrix/client/v3/users/{userId}/report`` (MSC4260, Synapse >= 1.127)."""
        self.call("POST", f"/_matrix/client/v3/users/{_q(user_id)}/report", json={"reason": reason})

    def report_room(self, room_id: str, reason: str) -> None:
        """``POST /_matrix/client/v3/rooms/{roomId}/report`` (MSC4151)."""
        self.call("POST", f"/_matrix/client/v3/rooms/{_q(room_id)}/report", json={"reason": reason})

    def joined_members(self, room_id: str) -> dict[str, JsonDict]:
        """``{user_id: {"display_name": ..., "avatar_url": ...}}`` of joined members."""
        joined = self.call("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/joined_members")
        return dict(joined["joined"])

    def power_levels(self, room_id: str) -> JsonDict:
        return self.call(
            "GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/state/m.room.power_levels/"
        )

    def set_power_level(self, room_id: str, user_id: str, level: int) -> str:
        content = self.power_levels(room_id)
        users = dict(content.get("users", {}))
        users[user_id] = level
        content["users"] = users
        result = self.call(
            "PUT",
            f"/_matrix/client/v3/rooms/{_q(room_id)}/state/m.room.power_levels/",
            json=content,
        )
        return str(result["event_id"])

    def messages(self, room_id: str, limit: int = 10) -> list[JsonDict]:
        """The newest ``limit`` timeline events, newest first."""
        result = self.call(
            "GET",
            f"/_matrix/client/v3/rooms/{_q(room_id)}/messages",
            params={"dir": "b", "limit": limit},
        )
        return list(result["chunk"])

    def sync_once(self, since: str | None = None) -> JsonDict:
        params: dict[str, str | int] = {"timeout": 0}
        if since is not None:
            params["since"] = since
        return self.call("GET", "/_matrix/client/v3/sync", params=params)

    # -- Synapse admin API (the token must belong to a server admin) -----------

    def admin_suspend(self, user_id: str, suspend: bool = True) -> JsonDict:
        return self.call(
            "PUT", f"/_synapse/admin/v1/suspend/{_q(user_id)}", json={"suspend": suspend}
        )

    def admin_deactivate(self, user_id: str, erase: bool = False) -> JsonDict:
        return self.call(
            "POST", f"/_synapse/admin/v1/deactivate/{_q(user_id)}", json={"erase": erase}
        )

    def admin_event_reports(self, **params: str | int) -> list[JsonDict]:
        result = self.call("GET", "/_synapse/admin/v1/event_reports", params=params)
        return list(result["event_reports"])

    def admin_user_reports(self, **params: str | int) -> list[JsonDict]:
        result = self.call("GET", "/_synapse/admin/v1/user_reports", params=params)
        return list(result["user_reports"])
