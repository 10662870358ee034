"""Pull media from a GoPro-style camera over HTTP (the Open GoPro API).

Endpoints used (Open GoPro 2.0; the same over the camera's Wi-Fi hotspot, USB networking or the
home network):

* ``GET /gopro/camera/info`` — model and serial number, for a stable identity (older cameras
  lack it: the identity then falls back to the address);
* ``GET /gopro/media/list`` — ``{"id": …, "media": [{"d": "100GOPRO", "fs": [{"n": "GX010001.MP4",
  "s": "<size>", "mod": "<epoch>"}]}]}``;
* ``GET /videos/DCIM/{dir}/{file}`` with ``Range: bytes=N-`` to resume;
* ``GET /gopro/camera/keep_alive`` — the camera sleeps without one every < 120 s, so a
  background thread sends one every ``keep_alive_s`` while a download is open.

503 (camera busy) is retried with exponential backoff; every request has a timeout; a body that
stops early surfaces as :class:`~lifelog.sources.base.DeviceGone` so sync resumes from where it
stopped. Names and sizes in the listing are the camera's claims: sync checks them before use.
"""

from __future__ import annotations

import http.client
import io
import json
import threading
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any, BinaryIO, cast

from lifelog.sources.base import DeviceGone, DeviceIdentity, MediaItem, SourceError, short_hash

MAX_LISTING_BYTES = 32 * 1024**2


class _Stream(io.RawIOBase):
    """A response body; transport errors become DeviceGone (sync then resumes)."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse, owner: GoProSource) -> None:
        self._conn = conn
        self._resp = resp
        self._owner = owner
        self._closed_once = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            # read1: what has arrived (up to size), so progress and cancel stay responsive
            data = self._resp.read1(size if size >= 0 else 1 << 20)
            if not data and (self._resp.length or 0) > 0:
                raise DeviceGone(f"the camera stopped sending ({self._resp.length} bytes missing)")
            return data
        except http.client.IncompleteRead as e:
            raise DeviceGone(f"the camera stopped sending ({len(e.partial)} more bytes arrived)") from e
        except TimeoutError as e:
            raise DeviceGone("the camera stopped answering (timeout)") from e
        except (OSError, http.client.HTTPException) as e:
            raise DeviceGone(f"connection to the camera lost: {e}") from e

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self._closed_once:
            self._closed_once = True
            self._conn.close()
            self._owner._stream_closed()
        super().close()


class GoProSource:
    """A camera speaking Open GoPro at ``base_url`` (``http://10.5.5.9:8080``)."""

    kind = "gopro"

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        keep_alive_s: float = 60.0,
        device_id: str | None = None,
        label: str | None = None,
    ) -> None:
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http(s) camera address: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._u = u
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.keep_alive_s = keep_alive_s
        self._id = device_id
        self._label = label
        self._info: dict[str, str] | None = None
        self._open = 0
        self._lock = threading.Lock()
        self._ka_stop: threading.Event | None = None
        self._ka_thread: threading.Thread | None = None
        self.keep_alives_sent = 0

    # .............................................................. http
    def _conn(self) -> http.client.HTTPConnection:
        port = self._u.port
        if self._u.scheme == "https":
            return http.client.HTTPSConnection(self._u.hostname or "", port, timeout=self.timeout_s)
        return http.client.HTTPConnection(self._u.hostname or "", port, timeout=self.timeout_s)

    def _request(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """GET ``path``; 503 and connection errors are retried with backoff."""
        delay = self.backoff_s
        last = ""
        for attempt in range(self.retries + 1):
            conn = self._conn()
            try:
                conn.request("GET", path, headers=headers or {})
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                last = f"cannot reach the camera at {self.base_url}: {e}"
            else:
                if resp.status != 503:
                    return conn, resp
                retry_after = resp.getheader("Retry-After")
                resp.read()
                conn.close()
                last = "the camera is busy (503)"
                if retry_after and retry_after.isdigit():
                    delay = max(delay, min(float(retry_after), 30.0))
            if attempt < self.retries:
                time.sleep(delay)
                delay *= 2
        raise DeviceGone(f"{last}; gave up after {self.retries + 1} attempts")

    def _get_json(self, path: str) -> Any:
        conn, resp = self._request(path)
        try:
            if resp.status != 200:
                raise SourceError(f"GET {path}: the camera answered {resp.status} {resp.reason}")
            body = resp.read(MAX_LISTING_BYTES + 1)
            if len(body) > MAX_LISTING_BYTES:
                raise SourceError(f"GET {path}: the answer is absurdly large")
            try:
                return json.loads(body)
            except ValueError as e:
                raise SourceError(f"GET {path}: the camera's answer is not JSON") from e
        except (OSError, http.client.HTTPException) as e:
            raise DeviceGone(f"GET {path}: connection lost: {e}") from e
        finally:
            conn.close()

    # .............................................................. Source
    def camera_info(self) -> dict[str, str]:
        if self._info is None:
            try:
                doc = self._get_json("/gopro/camera/info")
                self._info = {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}
            except SourceError:
                self._info = {}
        return self._info

    def identity(self) -> DeviceIdentity:
        info = self.camera_info()
        serial = info.get("serial_number", "")
        model = info.get("model_name") or "GoPro"
        details = {"url": self.base_url}
        if serial:
            details["serial"] = serial
        dev_id = self._id or (f"gopro-{short_hash('serial', serial)}" if serial else
                              f"gopro-{short_hash('url', self.base_url)}")  # fmt: skip
        return DeviceIdentity(dev_id, "gopro", self._label or f"{model} ({self._u.netloc})", details)

    def list_media(self) -> Iterable[MediaItem]:
        doc = self._get_json("/gopro/media/list")
        if not isinstance(doc, dict) or not isinstance(doc.get("media"), list):
            raise SourceError("the camera's media list has no 'media' array")
        items: list[MediaItem] = []
        for d in doc["media"]:
            if not isinstance(d, dict) or not isinstance(d.get("fs"), list):
                continue
            folder = str(d.get("d", ""))
            for f in d["fs"]:
                if not isinstance(f, dict):
                    continue
                n = str(f.get("n", ""))
                name = f"{folder}/{n}"
                items.append(MediaItem(name, _int(f.get("s")), float(_int(f.get("mod"), 0)), name))
        return items

    def open(self, item: MediaItem, offset: int = 0) -> BinaryIO:
        folder, _, fname = item.name.partition("/")
        path = "/videos/DCIM/" + urllib.parse.quote(folder) + "/" + urllib.parse.quote(fname)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        conn, resp = self._request(path, headers)
        try:
            if resp.status == 404:
                raise SourceError(f"{item.name} is no longer on the camera")
            if resp.status not in (200, 206):
                raise SourceError(f"{item.name}: the camera answered {resp.status} {resp.reason}")
            if offset and resp.status == 200:
                # Range ignored: skip what we already have.
                left = offset
                while left:
                    chunk = resp.read(min(left, 1 << 20))
                    if not chunk:
                        raise DeviceGone(f"{item.name}: the camera stopped sending")
                    left -= len(chunk)
            elif offset:
                cr = resp.getheader("Content-Range", "")
                if not cr.startswith(f"bytes {offset}-"):
                    raise SourceError(f"{item.name}: the camera answered another range ({cr or 'none'})")
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise DeviceGone(f"{item.name}: connection lost: {e}") from e
        except BaseException:
            conn.close()
            raise
        self._stream_opened()
        return cast(BinaryIO, _Stream(conn, resp, self))

    # .............................................................. keep-alive
    def _stream_opened(self) -> None:
        with self._lock:
            self._open += 1
            if self._open == 1 and self.keep_alive_s > 0:
                self._ka_stop = threading.Event()
                self._ka_thread = threading.Thread(
                    target=self._keep_alive, args=(self._ka_stop,), name="gopro-keep-alive", daemon=True
                )
                self._ka_thread.start()

    def _stream_closed(self) -> None:
        with self._lock:
            self._open -= 1
            if self._open == 0 and self._ka_stop is not None:
                self._ka_stop.set()
                self._ka_stop = None

    def _keep_alive(self, stop: threading.Event) -> None:
        while True:  # one at once (the camera may have been idle), then every keep_alive_s
            conn = self._conn()
            try:
                conn.request("GET", "/gopro/camera/keep_alive")
                conn.getresponse().read()
                self.keep_alives_sent += 1
            except (OSError, http.client.HTTPException):
                pass  # the download itself notices a camera that is gone
            finally:
                conn.close()
            if stop.wait(self.keep_alive_s):
                return

    def close(self) -> None:
        with self._lock:
            if self._ka_stop is not None:
                self._ka_stop.set()
                self._ka_stop = None


def _int(v: object, default: int = -1) -> int:
    try:
        if isinstance(v, bool):
            return default
        if isinstance(v, int):
            return v
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            return int(v.strip())
    except ValueError:
        pass
    return default
