"""Platform faults on a real Synapse: ``bench/faults_platform.py --synapse`` at a small size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_synapse_faults_lose_no_step_and_show_every_failure_on_its_case() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        (str(ROOT / "src"), str(ROOT), str(ROOT / "bench")))}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "faults_platform.py"), "--synapse",
                           "--small", "--steps", "12"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "kept    0 steps lost" in done.stdout
    assert "kept    every failed try is on its case" in done.stdout
    assert "kept    all done in the end" in done.stdout
