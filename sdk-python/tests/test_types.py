"""The stubs are honest (stubtest) and useful (mypy --strict accepts typed use, rejects misuse)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).parent


def mypy(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "mypy", *args], capture_output=True, text=True, cwd=HERE)


def test_typed_usage_passes_strict_mypy() -> None:
    result = mypy("--strict", "--no-incremental", "typed_usage.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_misuse_is_caught(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import naano\n"
        "naano.Client().track_signup(session_id=1, email='a@b.io', company='A')\n"
        "x: int = naano.Client().stats()\n"
    )
    result = mypy("--strict", "--no-incremental", str(bad))
    assert result.returncode == 1
    assert 'incompatible type "int"; expected "str"' in result.stdout
    assert "Incompatible types in assignment" in result.stdout


def test_stubs_match_the_compiled_module() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy.stubtest", "naano._naano"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
