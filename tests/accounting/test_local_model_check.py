"""bench/local_model_check.sh's plumbing, end to end in a real sandbox: the fake OpenAI-compatible
server (tests/accounting/_server.py) in its own process plays the local model (`submit`) and the
judge; the script's dry run and run print their settings and the table with tokens. (No real
open-weights model is run here: there is no model download on this machine.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]


def test_script_runs_one_sample_against_a_local_openai_compatible_server(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.accounting._server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), base_url
        env = {**os.environ, "SCENARIO": "oversight_subversion/transit_planner"}
        done = subprocess.run(
            ["bash", str(ROOT / "bench/local_model_check.sh"), "submit", base_url,
             "openai-api/local/judge", "--factor", "nudge=strong", "--factor",
             "conflict=present", "--factor", "instructed=no", "--display", "none"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "dry run: 1 sample(s); nothing was started" in out
    assert "max_retries=1" in out and "max_tokens=1024" in out
    assert "samples: 1; graded (in the rates): 1; errored: 0; limit hit: 0" in out
    assert "openai-api/local/submit: 200 input, 20 output" in out
    assert "openai-api/local/judge: 100 input, 10 output" in out
