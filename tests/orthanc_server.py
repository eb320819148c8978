"""Start a throw-away Orthanc PACS (Debian's ``orthanc`` + ``orthanc-dicomweb``) for the tests.

Orthanc listens on 127.0.0.1 only, on free ports: HTTP (REST + DICOMweb under ``/dicom-web``) with basic
authentication, and DICOM (C-FIND, C-MOVE, C-GET, C-STORE). Storage and index live in a fresh temporary
folder, removed on stop. ``modalities`` registers the AE titles Orthanc may C-MOVE to (rcdm's storage SCP).

Command line (for benchmarks): ``python tests/orthanc_server.py start`` prints the HTTP URL and the folder.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass, field
from pathlib import Path

USER, PASSWORD = "rcdm", "orthanc-test-password"
AET = "ORTHANC"


def find_orthanc() -> str | None:
    """The Orthanc server binary (Debian installs it as /usr/sbin/Orthanc)."""
    return shutil.which("Orthanc") or next((p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")
                                            if os.path.exists(p)), None)


def find_dicomweb_plugin() -> str | None:
    candidates = glob.glob("/usr/share/orthanc/plugins*/libOrthancDicomWeb.so*") + \
        glob.glob("/usr/lib/orthanc/plugins*/libOrthancDicomWeb.so*")
    return sorted(candidates)[0] if candidates else None


from pg_server import _free_port as free_port  # noqa: E402  (tests/ is on sys.path)


@dataclass
class OrthancServer:
    folder: Path
    http_port: int
    dicom_port: int
    process: subprocess.Popen
    modalities: dict = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """The rcdm address of its DICOMweb service, credentials included."""
        return f"dicomweb+http://{USER}:{PASSWORD}@127.0.0.1:{self.http_port}/dicom-web"

    @property
    def dimse_url(self) -> str:
        return f"dimse://RCDM@{AET}@127.0.0.1:{self.dicom_port}"

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> bytes:
        req = urllib.request.Request(self.base + path, data=body, method=method)
        req.add_header("Authorization", "Basic " + b64encode(f"{USER}:{PASSWORD}".encode()).decode())
        if body is not None:
            req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.read()

    def upload(self, paths) -> int:
        """POST each DICOM file to /instances; returns how many Orthanc stored."""
        stored = 0
        for path in paths:
            answer = json.loads(self.request("POST", "/instances", Path(path).read_bytes(), "application/dicom"))
            stored += answer.get("Status") in ("Success", "AlreadyStored")
        return stored

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server(modalities: dict[str, tuple[str, str, int]] | None = None,
                 http_port: int | None = None) -> OrthancServer:
    """Start Orthanc; returns once its REST API answers. ``modalities``: name → (AET, host, port)."""
    binary, plugin = find_orthanc(), find_dicomweb_plugin()
    if not binary or not plugin:
        raise RuntimeError("Orthanc not found: install Debian's 'orthanc' and 'orthanc-dicomweb' packages")
    folder = Path(tempfile.mkdtemp(prefix="rcdm-orthanc-"))
    http_port = http_port or free_port()
    dicom_port = free_port()
    config = {
        "Name": "rcdm-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": AET,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "DicomAlwaysAllowStore": True,
        "UnknownSopClassAccepted": True,
        "StorageAccessOnFind": "Always",
        "DefaultEncoding": "Utf8",  # C-FIND answers in UTF-8 (Latin-1 by default: other scripts are lost)
        "DicomModalities": {name: list(value) for name, value in (modalities or {}).items()},
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
        "HttpThreadsCount": 8,
        "LimitFindResults": 0,
        "LimitFindInstances": 0,
    }
    (folder / "orthanc.json").write_text(json.dumps(config, indent=1))
    log = open(folder / "orthanc.log", "wb")
    process = subprocess.Popen([binary, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT,
                               cwd=folder)
    server = OrthancServer(folder, http_port, dicom_port, process, modalities or {})
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            text = (folder / "orthanc.log").read_text(errors="replace")[-4000:]
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"Orthanc exited with {process.returncode}:\n{text}")
        try:
            server.request("GET", "/system")
            return server
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("Orthanc did not answer within 60 s") from None
            time.sleep(0.2)


if __name__ == "__main__":  # pragma: no cover - used by benchmarks
    if sys.argv[1:2] == ["start"]:
        srv = start_server()
        print(srv.dicomweb_url, srv.folder)
