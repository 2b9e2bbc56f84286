"""Helpers for the WACZ package tests: export through the command, check with `wacz validate`."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command


def export(out: Path, *args: str) -> Path:
    call_command("export_wacz", str(out), *args, stdout=io.StringIO())
    return out


def wacz_validate(path: Path) -> str:
    """Run the `wacz` package's validator (py-wacz) on a package, as a reader would."""
    exe = Path(sys.executable).with_name("wacz")
    result = subprocess.run([str(exe), "validate", "-f", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "Validation succeeded" in result.stdout, \
        f"wacz validate failed for {path}:\n{result.stdout}\n{result.stderr}"
    return result.stdout
