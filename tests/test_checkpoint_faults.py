"""Damaged and crafted checkpoints: every one is reported in one line; a damaged one falls back to
the previous intact checkpoint; a crafted ``.metadata`` runs nothing; a save that runs out of
space (a real file-size limit on a real process) names the path and the bytes and leaves no
``.tmp`` directory."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from repro.errors import ReproError
from repro.trainer.checkpoint import (MANIFEST, file_digests, load_checkpoint, resume_checkpoint, save_checkpoint,
                                      verify_checkpoint)
from repro.trainer.run import truncate_metrics

ROOT = Path(__file__).resolve().parents[1]


def make():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    return model, torch.optim.AdamW(model.parameters(), lr=1e-2)


def step(model, optimizer):
    loss = model(torch.randn(4, 6)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


@pytest.fixture
def three(tmp_path):
    """checkpoints of iterations 1-3 (all kept), ``latest`` naming 3."""
    model, opt = make()
    for it in (1, 2, 3):
        step(model, opt)
        save_checkpoint(tmp_path, it, model, opt, {"note": it}, keep_last=3)
    return tmp_path


def reseal(path: Path) -> None:
    """What a careful forger does: a manifest that matches the edited files."""
    (path / MANIFEST).write_text(json.dumps({"files": file_digests(path)}))


def distcp(path: Path) -> Path:
    return next(path.glob("*.distcp"))


def resume(root):
    said: list[str] = []
    return resume_checkpoint(root, said.append), said


def test_an_intact_checkpoint_verifies_and_resumes(three):
    assert verify_checkpoint(three / "iter_000003") == {"iteration": 3, "note": 3}
    assert resume(three) == (three / "iter_000003", [])


def test_random_bytes_in_the_tensor_file_fall_back_to_the_previous_checkpoint(three):
    data = bytearray(distcp(three / "iter_000003").read_bytes())
    data[100:100 + 4096] = os.urandom(4096)[:len(data) - 100]
    distcp(three / "iter_000003").write_bytes(bytes(data))
    path, said = resume(three)
    assert path == three / "iter_000002"
    assert said == [f"checkpoint iter_000003 is damaged: {distcp(three / 'iter_000003')} does not match its "
                    f"manifest (sha256 differs)", "resuming from iter_000002, the newest intact checkpoint"]
    model, opt = make()
    assert load_checkpoint(path, model, opt)["iteration"] == 2


def test_an_edited_state_iteration_is_refused_even_with_a_resealed_manifest(three):
    state = three / "iter_000003" / "state.json"
    state.write_text(json.dumps({"iteration": 2, "note": 3}))
    with pytest.raises(ReproError, match="state.json does not match its manifest"):
        verify_checkpoint(three / "iter_000003")
    reseal(three / "iter_000003")
    with pytest.raises(ReproError, match="says iteration 2, its directory iter_000003"):
        verify_checkpoint(three / "iter_000003")
    assert resume(three)[0] == three / "iter_000002"


def test_no_intact_checkpoint_stops_in_one_line(three):
    for it in (1, 2, 3):
        (three / f"iter_00000{it}" / MANIFEST).unlink()
    with pytest.raises(ReproError) as info:
        resume(three)
    message = str(info.value)
    assert message.startswith(f"no intact checkpoint in {three} (") and "no manifest.json" in message
    assert message.endswith("pass --fresh to start over") and "\n" not in message


def test_an_unreadable_pointer_falls_back_to_the_newest_intact_checkpoint(three):
    (three / "latest").write_bytes(b"\xff\xfe iter\n")
    path, said = resume(three)
    assert path == three / "iter_000003"
    assert said[0].startswith(f"checkpoint pointer {three / 'latest'} is unreadable (UnicodeDecodeError)")
    assert resume(three.parent / "none") == (None, [])


def test_a_crafted_metadata_is_refused_and_runs_nothing(three, tmp_path_factory):
    marker = tmp_path_factory.mktemp("attack") / "ran"

    target = three / "iter_000003"
    (target / ".metadata").write_bytes(pickle.dumps(Attack(marker)))
    reseal(target)
    verify_checkpoint(target)  # the manifest cannot tell: it was forged along with the file
    model, opt = make()
    with pytest.raises(ReproError, match=r"refusing checkpoint .*: posix.system is not a checkpoint metadata class"):
        load_checkpoint(target, model, opt)
    assert not marker.exists()


class Attack:
    """Pickles as a call of os.system: unpickling it runs the command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_value_in_the_tensor_file_runs_nothing(tmp_path, tmp_path_factory):
    """The optimiser's plain values (lr, betas) are pickled inside the .distcp: a forged one is
    refused by weights_only before DCP would unpickle it."""
    marker = tmp_path_factory.mktemp("attack") / "ran"
    model, opt = make()
    step(model, opt)
    opt.param_groups[0]["eps"] = Attack(marker)  # saved like any value; only unpickling it would run it
    path = save_checkpoint(tmp_path, 1, model, opt, {})
    verify_checkpoint(path)
    model, opt = make()
    with pytest.raises(ReproError, match="cannot load checkpoint .*UnpicklingError"):
        load_checkpoint(path, model, opt)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated distcp", "missing metadata", "garbage rng", "garbage state"])
def test_resealed_damage_is_a_one_line_error_on_load(three, damage):
    target = three / "iter_000003"
    if damage == "truncated distcp":
        distcp(target).write_bytes(distcp(target).read_bytes()[:1000])
    elif damage == "missing metadata":
        (target / ".metadata").unlink()
    elif damage == "garbage rng":
        (target / "rng_rank0.pt").write_bytes(os.urandom(300))
    else:
        (target / "state.json").write_bytes(b"\x00\xff not json")
    reseal(target)
    model, opt = make()
    with pytest.raises(ReproError) as info:
        verify_checkpoint(target)
        load_checkpoint(target, model, opt)
    assert "\n" not in str(info.value) and str(target) in str(info.value)


SAVE_UNDER_LIMIT = textwrap.dedent("""
    import resource, sys, torch
    from repro.errors import ReproError
    from repro.trainer.checkpoint import save_checkpoint

    model = torch.nn.Linear(300, 300)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 300)).sum().backward()
    opt.step()
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    try:
        save_checkpoint(sys.argv[1], 1, model, opt, {})
    except ReproError as e:
        print(e)
        sys.exit(2)
""")


def test_a_save_that_does_not_fit_names_the_path_and_bytes_and_leaves_no_tmp(tmp_path):
    script = tmp_path / "save.py"
    script.write_text(SAVE_UNDER_LIMIT)
    root = tmp_path / "checkpoints"
    out = subprocess.run([sys.executable, str(script), str(root)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2, out.stderr[-2000:]
    needed = 3 * (300 * 300 + 300) * 4 + 2 * 4  # weights, AdamW's two moments and step counts, float32
    # torch.save reports the short write as "unexpected pos"; DCP's own writer as EFBIG
    assert out.stdout.startswith(f"cannot write {root / 'iter_000001.tmp'}: "), out.stdout
    assert f"({needed} bytes needed, " in out.stdout and len(out.stdout.strip().splitlines()) == 1
    assert sorted(p.name for p in root.iterdir()) == []  # no .tmp directory, no `latest`


def test_a_partial_last_metrics_line_is_dropped_with_a_warning(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"iteration": 1}\n{"iteration": 2}\n{"iteration": 3, "succ')
    said: list[str] = []
    truncate_metrics(metrics, 2, said.append)
    assert metrics.read_text() == '{"iteration": 1}\n{"iteration": 2}\n'
    assert said == [f"dropping the partial last line of {metrics} (22 characters; a crash cut it short)"]
    metrics.write_text('{"iteration": 1}\n{"itera\n{"iteration": 3}\n')
    with pytest.raises(ReproError, match="line 2 is not JSON"):
        truncate_metrics(metrics, 2)
    metrics.write_text('{"iteration": 1}\n')
    with pytest.raises(ReproError, match="does not hold iterations 1-2 of the checkpoint"):
        truncate_metrics(metrics, 2)
