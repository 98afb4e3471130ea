"""Tests of mlpbench.data.download against real HTTP servers on 127.0.0.1 (never the network).

Each test serves tiny made-up files whose size and sha256 it computes itself. A server maps
request paths to behaviours (good bytes, an HTML page, a 404, a dropped connection, a stall), so
one server can stand in for several mirrors: http://127.0.0.1:PORT/good/, .../html/, ...
"""
from __future__ import annotations

import collections
import hashlib
import io
import logging
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest

from mlpbench.data import download
from mlpbench.data.download import (
    MIRROR_ENV,
    DownloadError,
    fetch_all,
    fetch_file,
    resolve_mirrors,
    verify,
)
from mlpbench.config.schema import DataFile

from data_helpers import mnist

BODY = bytes(range(256)) * 40  # 10240 bytes: longer than the 512-byte head kept for HTML sniffing
HTML = b"<!DOCTYPE html><html><body>Please log in</body></html>"

Action = Callable[[BaseHTTPRequestHandler], None]


def remote(name: str, body: bytes) -> DataFile:
    return DataFile(name, len(body), hashlib.sha256(body).hexdigest())


FILE = remote("a.gz", BODY)


# --- behaviours a fake mirror can have -------------------------------------------------------

def serve(body: bytes, content_type: str = "application/gzip", length: int | None = None) -> Action:
    def act(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body) if length is None else length))
        h.end_headers()
        h.wfile.write(body)

    return act


def status(code: int) -> Action:
    return lambda h: h.send_error(code)


def dropped(body: bytes) -> Action:
    """Announce the full length, send half, then close (HTTP/1.0 closes after the handler)."""
    return serve(body[: len(body) // 2], length=len(body))


def stalled(seconds: float, body: bytes) -> Action:
    def act(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        serve(body)(h)

    return act


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        pass  # clients that time out or give up are part of these tests


@pytest.fixture
def http_mirror():
    """Start a server on 127.0.0.1:0; return (base URL, server) with server.hits per path."""
    servers: list[_QuietServer] = []

    def start(routes: dict[str, Action]) -> tuple[str, _QuietServer]:
        hits: collections.Counter[str] = collections.Counter()
        agents: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits[self.path] += 1
                agents.append(self.headers.get("User-Agent", ""))
                routes.get(self.path, status(404))(self)

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        server = _QuietServer(("127.0.0.1", 0), Handler)
        server.hits, server.agents = hits, agents  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _download_tests_bypass_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy set in the environment must not see (or break) requests to 127.0.0.1."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv(MIRROR_ENV, raising=False)


def closed_port() -> int:
    """A port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leftovers(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


# --- tests -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (serve(HTML, content_type="text/html"), "HTML page"),
        (serve(bytes(reversed(BODY))), "sha256 mismatch"),
        (status(404), "404"),
    ],
    ids=["html", "wrong-bytes", "404"],
)
def test_bad_first_mirror_then_good_second(http_mirror, tmp_path, caplog, bad, reason) -> None:
    base, server = http_mirror({"/bad/a.gz": bad, "/good/a.gz": serve(BODY)})
    with caplog.at_level(logging.WARNING, logger=download.__name__):
        path = fetch_file(FILE, tmp_path, [f"{base}/bad/", f"{base}/good/"], progress=False)
    assert path == tmp_path / "a.gz"
    assert path.read_bytes() == BODY
    assert leftovers(tmp_path) == ["a.gz"]
    assert reason in caplog.text
    assert server.hits == {"/bad/a.gz": 1, "/good/a.gz": 1}
    assert server.agents == ["mlpbench", "mlpbench"]


def test_all_mirrors_bad_raises_with_every_reason(http_mirror, tmp_path) -> None:
    base, _ = http_mirror({
        "/html/a.gz": serve(HTML, content_type="text/html"),
        "/wrong/a.gz": serve(b"x" * len(BODY)),
        "/short/a.gz": serve(BODY[:100]),
    })
    refused = f"http://127.0.0.1:{closed_port()}/"
    mirrors = [f"{base}/html/", f"{base}/wrong/", f"{base}/short/", f"{base}/missing/", refused]
    dest = tmp_path / "out"
    with pytest.raises(DownloadError) as info:
        fetch_file(FILE, dest, mirrors, timeout=2, progress=False)
    message = str(info.value)
    for mirror in mirrors:
        assert mirror in message
    for reason in ("HTML page", "sha256 mismatch", "got only 100 of 10240", "404", "connection refused"):
        assert reason in message
    assert MIRROR_ENV in message and "data.download.offline_mirror=" in message
    assert leftovers(dest) == []


def test_dropped_connection_leaves_nothing(http_mirror, tmp_path) -> None:
    base, _ = http_mirror({"/a.gz": dropped(BODY)})
    with pytest.raises(DownloadError, match="got only 5120 of 10240"):
        fetch_file(FILE, tmp_path, [base], progress=False)
    assert leftovers(tmp_path) == []


def test_dropped_connection_moves_on(http_mirror, tmp_path) -> None:
    base, _ = http_mirror({"/drop/a.gz": dropped(BODY), "/good/a.gz": serve(BODY)})
    path = fetch_file(FILE, tmp_path, [f"{base}/drop", f"{base}/good"], progress=False)
    assert path.read_bytes() == BODY
    assert leftovers(tmp_path) == ["a.gz"]


def test_refused_and_timeout_move_on(http_mirror, tmp_path, caplog) -> None:
    base, _ = http_mirror({"/slow/a.gz": stalled(1.0, BODY), "/good/a.gz": serve(BODY)})
    mirrors = [f"http://127.0.0.1:{closed_port()}/", f"{base}/slow/", f"{base}/good/"]
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=download.__name__):
        path = fetch_file(FILE, tmp_path, mirrors, timeout=0.2, progress=False)
    assert time.monotonic() - start < 1.0
    assert path.read_bytes() == BODY
    assert "connection refused" in caplog.text and "timed out" in caplog.text
    assert leftovers(tmp_path) == ["a.gz"]


def test_present_verified_file_is_not_downloaded(http_mirror, tmp_path) -> None:
    base, server = http_mirror({"/a.gz": serve(BODY)})
    (tmp_path / "a.gz").write_bytes(BODY)
    assert fetch_file(FILE, tmp_path, [base], progress=False) == tmp_path / "a.gz"
    assert server.hits == {}


def test_present_corrupt_file_is_replaced(http_mirror, tmp_path, caplog) -> None:
    base, server = http_mirror({"/a.gz": serve(BODY)})
    (tmp_path / "a.gz").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger=download.__name__):
        fetch_file(FILE, tmp_path, [base], progress=False)
    assert (tmp_path / "a.gz").read_bytes() == BODY
    assert server.hits == {"/a.gz": 1}
    assert "downloading it again" in caplog.text


def test_corrupt_present_file_kept_out_when_all_mirrors_fail(tmp_path) -> None:
    """A failed re-download does not leave a half-written replacement behind."""
    (tmp_path / "a.gz").write_bytes(b"garbage")
    with pytest.raises(DownloadError):
        fetch_file(FILE, tmp_path, [f"http://127.0.0.1:{closed_port()}/"], progress=False)
    assert leftovers(tmp_path) == ["a.gz"]


def test_interrupt_mid_file_removes_temp_file(tmp_path, monkeypatch) -> None:
    class Interrupting(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            if self.tell() > 0:
                raise KeyboardInterrupt
            return super().read(100)

    monkeypatch.setattr(download, "_open", lambda *args: (Interrupting(BODY), ""))
    dest = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        fetch_file(FILE, dest, ["http://127.0.0.1:9/"], progress=False)
    assert leftovers(dest) == []


@pytest.fixture
def local_mirror(tmp_path) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "a.gz").write_bytes(BODY)
    (folder / "b.gz").write_bytes(b"bee")
    return folder


def test_offline_mirror_from_env_replaces_list(local_mirror, tmp_path) -> None:
    refused = f"http://127.0.0.1:{closed_port()}/"
    mirrors = resolve_mirrors([refused], env={MIRROR_ENV: str(local_mirror)})
    assert mirrors == [str(local_mirror)]
    files = (FILE, remote("b.gz", b"bee"))
    paths = fetch_all(tmp_path / "out", mirrors, files=files, progress=False)
    assert [p.read_bytes() for p in paths] == [BODY, b"bee"]
    assert leftovers(tmp_path / "out") == ["a.gz", "b.gz"]


def test_offline_mirror_argument_beats_env_and_accepts_file_url(local_mirror, tmp_path) -> None:
    url = local_mirror.as_uri()
    mirrors = resolve_mirrors(mnist().download.mirrors, offline_mirror=url, env={MIRROR_ENV: "/nowhere"})
    assert mirrors == [url]
    assert fetch_file(FILE, tmp_path / "out", mirrors, progress=False).read_bytes() == BODY


def test_relative_offline_mirror_becomes_absolute(local_mirror, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_mirrors(mnist().download.mirrors, offline_mirror="mirror", env={}) == [str(local_mirror)]


def test_without_offline_mirror_the_list_is_kept() -> None:
    """The configured mirrors (https URLs: nothing is fetched here), in order."""
    mirrors = mnist().download.mirrors
    assert resolve_mirrors(mirrors, env={MIRROR_ENV: "  "}) == list(mirrors)


@pytest.mark.parametrize("how", ["env", "argument", "file-url"])
def test_missing_offline_mirror_is_a_clear_error(tmp_path, how) -> None:
    missing = tmp_path / "nope"
    kwargs = {
        "env": {"env": {MIRROR_ENV: str(missing)}},
        "argument": {"offline_mirror": str(missing), "env": {}},
        "file-url": {"offline_mirror": missing.as_uri(), "env": {}},
    }[how]
    with pytest.raises(DownloadError, match="does not exist") as info:
        resolve_mirrors(mnist().download.mirrors, **kwargs)
    assert str(missing) in str(info.value) and MIRROR_ENV in str(info.value)


def test_unsupported_scheme_is_rejected() -> None:
    with pytest.raises(DownloadError, match="unsupported URL scheme 'ftp'"):
        resolve_mirrors(["ftp://example.org/mnist/"], env={})


def test_local_mirror_is_verified_too(local_mirror, tmp_path) -> None:
    (local_mirror / "a.gz").write_bytes(BODY[::-1])
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch_file(FILE, tmp_path / "out", [str(local_mirror)], progress=False)
    with pytest.raises(DownloadError, match="no such file"):
        fetch_file(remote("c.gz", b"c"), tmp_path / "out", [str(local_mirror)], progress=False)
    assert leftovers(tmp_path / "out") == []


def test_a_wrong_size_in_the_config_is_named_as_such(http_mirror, local_mirror, tmp_path) -> None:
    """A data YAML whose size is wrong (its sha256 right) was blamed on a dropped connection or a truncated file."""
    wrong = DataFile(FILE.name, FILE.size + 7, FILE.sha256)
    fix = rf"a.gz from .* has the sha256 the data set's config gives it but {FILE.size} bytes, not the {wrong.size} " \
          rf"its `size` says: the size in conf/data/<name>.yaml is wrong; set it to {FILE.size}"
    base, _ = http_mirror({"/m/a.gz": serve(BODY)})
    with pytest.raises(DownloadError, match=fix):  # over HTTP: the whole file came, and it hashes right
        fetch_file(wrong, tmp_path / "out", [f"{base}/m/"], progress=False)
    (local_mirror / "a.gz").write_bytes(BODY)
    with pytest.raises(DownloadError, match=fix):  # from a folder
        fetch_file(wrong, tmp_path / "out", [str(local_mirror)], progress=False)
    assert leftovers(tmp_path / "out") == []
    fetch_file(FILE, tmp_path / "out", [str(local_mirror)], progress=False)
    with pytest.raises(DownloadError, match=fix):  # the right file already in place: refused, not downloaded again
        fetch_file(wrong, tmp_path / "out", [], progress=False)
    assert (tmp_path / "out" / "a.gz").read_bytes() == BODY  # and kept
    small = DataFile(FILE.name, FILE.size - 7, FILE.sha256)
    with pytest.raises(DownloadError, match=r"the file there has 10240 bytes, not the 10233 the data set's config "
                                            r"gives it: another file, or the size in conf/data/<name>.yaml is wrong"):
        fetch_file(small, tmp_path / "elsewhere", [str(local_mirror)], progress=False)


def test_progress_bar_enabled(http_mirror, tmp_path, monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    base, _ = http_mirror({"/a.gz": serve(BODY)})
    fetch_file(FILE, tmp_path, [f"http://127.0.0.1:{closed_port()}/", base], progress=True)
    assert (tmp_path / "a.gz").read_bytes() == BODY
    assert "a.gz" in terminal.getvalue()


def test_verify(tmp_path) -> None:
    path = tmp_path / "a.gz"
    assert "does not exist" in verify(path, FILE)
    path.write_bytes(BODY[:-1])
    assert "10239 bytes, expected 10240" in verify(path, FILE)
    path.write_bytes(BODY[::-1])
    assert "sha256" in verify(path, FILE)
    path.write_bytes(BODY)
    assert verify(path, FILE) is None


@pytest.mark.real_data
def test_configured_files_are_the_published_mnist(real_mnist_dir, tmp_path) -> None:
    """conf/data/mnist.yaml's names, sizes and sha256s accept the real files (copied from the local copy)."""
    files = [getattr(mnist().files, role) for role in ("train_images", "train_labels", "test_images", "test_labels")]
    paths = fetch_all(tmp_path, [str(real_mnist_dir)], files=files, progress=False)  # raises unless all verify
    assert [p.name for p in paths] == [f.name for f in files] and all(p.parent == tmp_path for p in paths)
