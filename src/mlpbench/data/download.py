"""Fetch files from a list of mirrors, accepting only bytes whose size and sha256 match.

Each file is streamed into a hidden temporary file next to its destination, hashed on the way,
and moved into place with ``os.replace`` only once verified; on any failure, including Ctrl-C,
the temporary file is removed. So the final path holds either nothing or the verified file.

A mirror is an http(s) or file:// URL, or a local folder. An offline mirror (a folder holding the
files) replaces the whole list, so pointing mlpbench at one never touches the network.
"""
from __future__ import annotations

import hashlib
import http.client
import io
import logging
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Mapping, Sequence

from tqdm import tqdm

from mlpbench.config.schema import DataFile

MIRROR_ENV = "MLPBENCH_DATA_MIRROR"
USER_AGENT = "mlpbench"
_CHUNK = 1 << 16
_URL_SCHEMES = ("http", "https", "file")
_OFFLINE_HELP = (
    "To work offline, put the .gz files in a folder and point mlpbench at it:\n"
    f"  export {MIRROR_ENV}=/path/to/folder/with/the/.gz/files\n"
    "or pass the override data.download.offline_mirror=/path/to/folder/with/the/.gz/files"
)

log = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """No mirror delivered a file with the expected size and checksum, or a mirror is unusable."""


def resolve_mirrors(
    mirrors: Sequence[str],
    offline_mirror: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> list[str]:
    """The mirrors to try, in order.

    Parameters
    ----------
    mirrors : sequence of str
        Default mirrors: http/https/file URLs or local folders.
    offline_mirror : str, optional
        A folder (or URL) that replaces ``mirrors`` entirely. When empty or None, the environment
        variable ``MLPBENCH_DATA_MIRROR`` is used instead, if set and non-empty.
    env : mapping
        Where to look up ``MLPBENCH_DATA_MIRROR``; ``os.environ`` by default.

    Returns
    -------
    list of str
        URLs unchanged; local folders as absolute paths (relative ones are resolved against the
        current directory now, before Hydra or DVC can change it).

    Raises
    ------
    DownloadError
        A local folder (or file:// folder) does not exist, or a URL has an unsupported scheme.
    """
    if offline_mirror and offline_mirror.strip():
        return [_check_mirror(offline_mirror.strip(), "data.download.offline_mirror")]
    from_env = env.get(MIRROR_ENV, "").strip()
    if from_env:
        return [_check_mirror(from_env, MIRROR_ENV)]
    return [_check_mirror(m, "mirror") for m in mirrors]


def _check_mirror(mirror: str, origin: str) -> str:
    if "://" in mirror:
        scheme = urllib.parse.urlsplit(mirror).scheme.lower()
        if scheme not in _URL_SCHEMES:
            raise DownloadError(
                f"{origin}={mirror!r}: unsupported URL scheme {scheme!r}; "
                f"use one of {', '.join(_URL_SCHEMES)} or a local folder path"
            )
        if scheme != "file":
            return mirror
        folder = Path(_file_url_to_path(mirror))
    else:
        folder = Path(os.path.abspath(os.path.expanduser(mirror)))
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise DownloadError(
            f"{origin}={mirror!r}: {folder} {what}. Point {MIRROR_ENV} or "
            "data.download.offline_mirror at the folder holding the data set's .gz files "
            f"(e.g. export {MIRROR_ENV}=/path/to/mnist), or unset it to download from the network."
        )
    return mirror if "://" in mirror else str(folder)


def _file_url_to_path(url: str) -> str:
    return urllib.request.url2pathname(urllib.parse.urlsplit(url).path)


def verify(path: Path, f: DataFile) -> str | None:
    """None when ``path`` has the size and sha256 of ``f``, else why it does not."""
    path = Path(path)
    if not path.is_file():
        return f"{path} does not exist"
    size = path.stat().st_size
    if size != f.size:
        return f"{path} has {size} bytes, expected {f.size}"
    digest = _sha256(path)
    if digest != f.sha256:
        return f"{path} has sha256 {digest}, expected {f.sha256}"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _wrong_size(f: DataFile, size: int, where: str) -> str:
    """Why a file whose sha256 is the configured one is refused: the configured size is wrong."""
    return (f"{f.name} from {where} has the sha256 the data set's config gives it but {size} bytes, not the "
            f"{f.size} its `size` says: the size in conf/data/<name>.yaml is wrong; set it to {size}")


def fetch_file(
    f: DataFile,
    dest_dir: Path,
    mirrors: Sequence[str],
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Make ``dest_dir / f.name`` hold the verified file, downloading it only if needed.

    Parameters
    ----------
    f : DataFile
        What to fetch and the size and sha256 it must have.
    dest_dir : Path
        Destination folder, created if missing.
    mirrors : sequence of str
        Tried in order (see :func:`resolve_mirrors`); the first verified copy wins.
    timeout : float
        Seconds to wait for a connection or for the next bytes from a server.
    progress : bool
        Show a tqdm bar (only when stderr is a terminal).

    Returns
    -------
    Path
        ``dest_dir / f.name``.

    Raises
    ------
    DownloadError
        Every mirror failed; the message lists each mirror with its reason.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / f.name
    if final.exists():
        reason = verify(final, f)
        if reason is None:
            return final
        if _sha256(final) == f.sha256:  # the right file: the size the config gives it is wrong
            raise DownloadError(_wrong_size(f, final.stat().st_size, str(final)))
        log.warning("%s; downloading it again", reason)
    if not mirrors:
        raise DownloadError(f"no mirrors given to download {f.name} from.\n{_OFFLINE_HELP}")
    failures: list[tuple[str, str]] = []
    with tqdm(total=f.size, unit="B", unit_scale=True, unit_divisor=1024, desc=f.name,
              disable=None if progress else True) as bar:
        for mirror in mirrors:
            bar.reset(total=f.size)
            reason = _fetch_from(f, final, mirror, timeout, bar)
            if reason is None:
                return final
            log.warning("%s from %s failed: %s", f.name, mirror, reason)
            failures.append((mirror, reason))
    tried = "\n".join(f"  - {m}: {r}" for m, r in failures)
    raise DownloadError(
        f"could not download {f.name} ({f.size} bytes, sha256 {f.sha256}) from any mirror:\n"
        f"{tried}\n{_OFFLINE_HELP}"
    )


def fetch_all(
    dest_dir: Path,
    mirrors: Sequence[str],
    files: Sequence[DataFile],
    timeout: float = 30.0,
    progress: bool = True,
) -> list[Path]:
    """Fetch every file in ``files`` into ``dest_dir``; see :func:`fetch_file`."""
    return [fetch_file(f, dest_dir, mirrors, timeout=timeout, progress=progress) for f in files]


def _fetch_from(f: DataFile, final: Path, mirror: str, timeout: float, bar: tqdm) -> str | None:
    """Try one mirror; None on success (file in place), else the reason it failed."""
    # A hand-made name opened with "xb" (not NamedTemporaryFile) so the file gets the umask's
    # permissions rather than 0600 once it is moved into place.
    tmp = final.with_name(f".{f.name}.part-{secrets.token_hex(6)}")
    done = False
    try:
        with open(tmp, "xb") as out:
            reason = _download(f, mirror, out, timeout, bar)
        if reason is None:
            os.replace(tmp, final)
            done = True
        return reason
    finally:
        if not done:
            tmp.unlink(missing_ok=True)


def _download(f: DataFile, mirror: str, out: BinaryIO, timeout: float, bar: tqdm) -> str | None:
    """Stream ``f`` from ``mirror`` into ``out``; None when size and sha256 match, else why not."""
    try:
        src, content_type = _open(mirror, f.name, timeout)
        with src:
            whole = _local_size(src)
            if whole is not None and whole != f.size:  # a local file: no need to read it to know
                if whole < f.size and _copy(src, out, f.size, bar)[1] == f.sha256:
                    return _wrong_size(f, whole, mirror)
                return (f"the file there has {whole} bytes, not the {f.size} the data set's config gives it: "
                        "another file, or the size in conf/data/<name>.yaml is wrong")
            size, digest, head = _copy(src, out, f.size, bar)
    except urllib.error.HTTPError as e:
        return f"HTTP error {e.code} {e.reason}"
    except urllib.error.URLError as e:
        return _describe_oserror(e.reason, timeout)
    except http.client.IncompleteRead as e:
        return f"connection dropped mid-file ({e})"
    except (OSError, http.client.HTTPException) as e:
        return _describe_oserror(e, timeout)
    if (size, digest) == (f.size, f.sha256):
        return None
    if content_type.startswith("text/html") or head.lstrip()[:1] == b"<":
        return f"got an HTML page ({size} bytes, Content-Type {content_type!r}), not the file"
    if size < f.size and digest == f.sha256:
        return _wrong_size(f, size, mirror)
    if size < f.size:
        return (f"got only {size} of {f.size} bytes (the connection dropped, the file there is truncated, or the "
                "size in conf/data/<name>.yaml is wrong)")
    if size > f.size:
        return (f"got more than the expected {f.size} bytes (another file, or the size in conf/data/<name>.yaml "
                "is wrong)")
    return f"sha256 mismatch: got {digest}, expected {f.sha256}"


def _local_size(src: BinaryIO) -> int | None:
    """The size of a local file being read (None for a network stream)."""
    try:
        return os.fstat(src.fileno()).st_size if isinstance(src, io.BufferedReader) else None
    except (OSError, ValueError):
        return None


def _open(mirror: str, name: str, timeout: float) -> tuple[BinaryIO, str]:
    """An open byte stream for ``name`` on ``mirror`` and its Content-Type ('' when unknown)."""
    if "://" not in mirror:
        return open(Path(mirror) / name, "rb"), ""
    url = urllib.parse.urljoin(mirror if mirror.endswith("/") else mirror + "/", name)
    if urllib.parse.urlsplit(url).scheme.lower() == "file":
        return open(_file_url_to_path(url), "rb"), ""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    response = urllib.request.urlopen(request, timeout=timeout)
    return response, response.headers.get("Content-Type", "").lower()


def _copy(src: BinaryIO, out: BinaryIO, expected: int, bar: tqdm) -> tuple[int, str, bytes]:
    """Copy at most ``expected + 1`` bytes; return (bytes copied, sha256 hex, first bytes)."""
    digest = hashlib.sha256()
    size, head = 0, b""
    while size <= expected:
        chunk = src.read(min(_CHUNK, expected + 1 - size))
        if not chunk:
            break
        if not head:
            head = chunk[:512]
        out.write(chunk)
        digest.update(chunk)
        size += len(chunk)
        bar.update(len(chunk))
    return size, digest.hexdigest(), head


def _describe_oserror(err: object, timeout: float) -> str:
    if isinstance(err, TimeoutError):
        return f"timed out (no data for {timeout:g} s)"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, FileNotFoundError):
        return f"no such file: {err.filename}"
    return f"{type(err).__name__}: {err}"
