"""`repro advantages` end to end, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# The hand case of tests/test_algos.py (γ = 0.5, λ = 0.1, mean_norm); extra fields pass through.
HAND = [
    {"group": "g", "traj": "t1", "step": 1, "anchor": "A", "reward": 0, "valid": True, "note": "kept"},
    {"group": "g", "traj": "t1", "step": 2, "anchor": "B", "reward": 0, "valid": True},
    {"group": "g", "traj": "t1", "step": 3, "anchor": "C", "reward": 10, "valid": True},
    {"group": "g", "traj": "t2", "step": 1, "anchor": "A", "reward": 0, "valid": True},
    {"group": "g", "traj": "t2", "step": 2, "anchor": "B", "reward": 10, "valid": False},
    {"group": "g", "traj": "t3", "step": 1, "anchor": "A", "reward": 0, "valid": True},
    {"group": "g", "traj": "t3", "step": 2, "anchor": "B", "reward": 0, "valid": True},
    {"group": "g", "traj": "t3", "step": 3, "anchor": "B", "reward": 0, "valid": True},
]


def repro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", "advantages", *args], capture_output=True, text=True, timeout=120)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_gigpo_hand_case_to_stdout(tmp_path):
    rows = write_jsonl(tmp_path / "rows.jsonl", HAND)
    done = repro("--algo", "gigpo", "--rows", str(rows), "gamma=0.5", "invalid_penalty=0.1")
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [{k: o[k] for k in HAND[i]} for i, o in enumerate(out)] == HAND  # same objects, same order
    assert out[0]["note"] == "kept"
    expected_adv = [3.7625, 5.0375, 3.7625, 6.2625, 9.8375, -8.7375, -9.9625, -9.9625]
    assert [o["advantage"] for o in out] == pytest.approx(expected_adv)
    assert [o["step_return"] for o in out] == pytest.approx([2.5, 5, 10, 5, 9.9, 0, 0, 0])
    assert [o["step_advantage"] for o in out] == pytest.approx([0, 1.275, 0, 2.5, 6.175, -2.5, -3.725, -3.725])
    assert out[4]["episode_advantage"] == pytest.approx(3.6625)


def test_grpo_rloo_and_out_file(tmp_path):
    rows = write_jsonl(tmp_path / "rows.jsonl", HAND)
    dest = tmp_path / "sub" / "out.jsonl"
    done = repro("--algo", "grpo", "--rows", str(rows), "norm_by_std=false", "--out", str(dest))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    out = [json.loads(line) for line in dest.read_text().splitlines()]
    assert set(out[0]) == set(HAND[0]) | {"advantage"}
    assert [o["advantage"] for o in out] == pytest.approx([3.7625] * 4 + [3.6625] + [-6.2375] * 3)
    done = repro("--algo", "rloo", "--rows", str(rows))
    # a score-10 row against the other seven rows' mean (49.9 - 10) / 7 = 5.7
    assert json.loads(done.stdout.splitlines()[0])["advantage"] == pytest.approx(4.3)


def test_sgrpo_fig5(tmp_path):
    verdicts = [False] + [True] * 8
    rows = write_jsonl(tmp_path / "serial.jsonl",
                       [{"group": "q", "exit_index": i, "correct": c} for i, c in reversed(list(enumerate(verdicts)))])
    done = repro("--algo", "sgrpo", "--rows", str(rows))
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["exit_index"] for o in out] == list(range(8, -1, -1))  # input order kept
    assert [o["reward"] for o in reversed(out)] == [0, 1, 1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128]
    mean = (2 - 1 / 128) / 9
    assert out[-1]["advantage"] == pytest.approx(-mean)
    done = repro("--algo", "sgrpo", "--rows", str(rows), "reward=shortest_one")
    assert [json.loads(line)["reward"] for line in done.stdout.splitlines()] == [0] * 7 + [1, 0]


@pytest.mark.parametrize("bad_line, message", [
    ("{not json", "not valid JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"group": "g", "traj": "t9", "step": 1, "anchor": "A", "valid": true}', "missing field 'reward'"),
    ('{"group": "g", "traj": "t9", "step": "1", "anchor": "A", "reward": 0, "valid": true}', "'step' must be an integer"),
    ('{"group": "g", "traj": "t1", "step": 2, "anchor": "A", "reward": 0, "valid": true}', "step 2 appears twice"),
])
def test_malformed_line_names_it_and_writes_nothing(tmp_path, bad_line, message):
    rows = tmp_path / "rows.jsonl"
    lines = [json.dumps(r) for r in HAND[:3]]
    rows.write_text("\n".join(lines[:2] + [bad_line] + lines[2:]) + "\n")  # the bad row is line 3
    dest = tmp_path / "out.jsonl"
    done = repro("--algo", "gigpo", "--rows", str(rows), "--out", str(dest))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "rows.jsonl:3: " in done.stderr and message in done.stderr
    assert not dest.exists() and list(tmp_path.iterdir()) == [rows]


def test_unknown_option_and_algo(tmp_path):
    rows = write_jsonl(tmp_path / "rows.jsonl", HAND)
    done = repro("--algo", "gigpo", "--rows", str(rows), "omgea=0.5")
    assert done.returncode == 2 and "unknown config key 'omgea'" in done.stderr and "did you mean 'omega'" in done.stderr
    done = repro("--algo", "grpo", "--rows", str(rows), "mode=mean_std_norm")  # a gigpo option
    assert done.returncode == 2 and "unknown config key 'mode'" in done.stderr
    done = repro("--algo", "gigpo", "--rows", str(rows), "mode=std")
    assert done.returncode == 2 and "mode must be one of mean_norm, mean_std_norm" in done.stderr
    done = repro("--algo", "gipgo", "--rows", str(rows))
    assert done.returncode == 2 and "did you mean 'gigpo'" in done.stderr
    done = repro("--algo", "gigpo", "--rows", str(tmp_path / "missing.jsonl"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_similarity_needs_text_anchor(tmp_path):
    rows = write_jsonl(tmp_path / "rows.jsonl", HAND[:2] + [dict(HAND[2], anchor={"room": 1})])
    done = repro("--algo", "gigpo", "--rows", str(rows), "anchor_match=similarity", "similarity_threshold=0.9")
    assert done.returncode == 2 and "rows.jsonl:3: anchor_match=similarity needs text anchors" in done.stderr


def test_non_utf8_rows_and_non_finite_results_are_one_line(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(json.dumps(HAND[0]).encode() + b"\n" + b'{"group": "g\xff"}\n')
    done = repro("--algo", "gigpo", "--rows", str(rows))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"error: {rows}:2: not UTF-8 text (byte 0xff at column 13)"]
    huge = [dict(HAND[0], reward=1e308), dict(HAND[3], reward=-1e308)]
    write_jsonl(rows, huge)
    dest = tmp_path / "out.jsonl"
    done = repro("--algo", "grpo", "--rows", str(rows), "norm_by_std=false", "--out", str(dest))
    assert done.returncode == 2 and not dest.exists()
    assert done.stderr.strip().splitlines() == [
        f"error: {rows}:1: advantage is -inf (the rewards overflow float64 in the estimator); scale them down"]
