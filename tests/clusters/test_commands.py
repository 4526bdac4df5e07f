"""`manage.py check_redis`: one line, exit 1, no traceback, when Redis does not answer."""

import os
import subprocess
import sys
from pathlib import Path

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


def check_redis(url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "REDIS_URL": url}
    return subprocess.run(
        [sys.executable, str(MANAGE), "check_redis"], env=env, capture_output=True, text=True, timeout=60
    )


def test_an_unreachable_redis_is_one_line_saying_how_to_start_one():
    result = check_redis("redis://127.0.0.1:1/0")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Redis is not reachable at redis://127.0.0.1:1/0" in lines[0]
    assert "apt-get install redis-server" in lines[0]
    # docker-compose.yml's Redis asks for REDIS_PASSWORD, which REDIS_URL would then need: a bare one is simpler.
    assert "docker run -d -p 127.0.0.1:6379:6379 redis:7" in lines[0]


def test_a_running_redis_passes_silently():
    result = check_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_malformed_redis_url_is_one_line_saying_how_to_write_it():
    result = check_redis("localhost:6379")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "REDIS_URL localhost:6379 is not a Redis URL" in lines[0]
    assert "redis://127.0.0.1:6379/0" in lines[0]
