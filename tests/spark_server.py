"""Start a throw-away Apache Spark Connect server for the tests (local[2], loopback only, a fresh warehouse).

The server is the one the ``pyspark`` package ships (``org.apache.spark.sql.connect.service.SparkConnectServer``
through its ``spark-submit``), run on Debian's OpenJDK 17. It listens on a free port on 127.0.0.1; tables go
to a temporary warehouse folder removed on stop. Few shuffle partitions keep small test queries quick.

Command line: ``python tests/spark_server.py start`` prints ``URL PID DIR``; ``... stop PID DIR`` stops it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from pg_server import _free_port  # noqa: E402


def find_java() -> str | None:
    """The java binary: $JAVA_HOME/bin/java, the PATH, or Debian's OpenJDK 17."""
    home = os.environ.get("JAVA_HOME")
    for candidate in ([f"{home}/bin/java"] if home else []) + [shutil.which("java") or "",
                                                             "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class SparkServer:
    process: subprocess.Popen | None
    pid: int
    port: int
    base: Path

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def stop(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)


def start_server(timeout: float = 180.0) -> SparkServer:
    """spark-submit the Spark Connect server on a free loopback port; return once it accepts connections."""
    try:
        import pyspark
    except ImportError as exc:
        raise RuntimeError(f"pyspark is not installed: pip install 'rcdm[test]' ({exc})") from None
    java = find_java()
    if java is None:
        raise RuntimeError("no Java runtime: install Debian's 'openjdk-17-jre-headless'")
    spark_home = Path(pyspark.__file__).parent
    base = Path(tempfile.mkdtemp(prefix="rcdm-spark-"))
    port = _free_port()
    env = dict(os.environ, SPARK_HOME=str(spark_home), JAVA_HOME=str(Path(java).resolve().parents[1]),
               SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable, SPARK_LOG_DIR=str(base))
    conf = {
        "spark.master": "local[2]",
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.sql.warehouse.dir": str(base / "warehouse"),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.driver.memory": "1g",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={base} -Djava.io.tmpdir={base}",
    }
    cmd = [str(spark_home / "bin" / "spark-submit"), "--class",
           "org.apache.spark.sql.connect.service.SparkConnectServer", "--name", "rcdm-test-spark-connect"]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd.append("spark-internal")
    log = open(base / "server.log", "wb")
    process = subprocess.Popen(cmd, cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = SparkServer(process, process.pid, port, base)
    deadline = time.time() + timeout
    while True:
        if process.poll() is not None:
            text = (base / "server.log").read_text(errors="replace")[-3000:]
            shutil.rmtree(base, ignore_errors=True)
            raise RuntimeError(f"Spark Connect server exited ({process.returncode}):\n{text}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            if time.time() > deadline:
                server.stop()
                raise RuntimeError(f"Spark Connect server did not listen on port {port} within {timeout:.0f} s")
            time.sleep(0.5)


if __name__ == "__main__":
    if sys.argv[1:2] == ["start"]:
        s = start_server()
        print(s.url, s.pid, s.base)
    elif sys.argv[1:2] == ["stop"] and len(sys.argv) == 4:
        SparkServer(None, int(sys.argv[2]), 0, Path(sys.argv[3])).stop()
    else:
        sys.exit("usage: spark_server.py start | stop PID DIR")
