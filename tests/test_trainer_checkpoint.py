"""Checkpoints: model + optimiser + RNG states come back bit-exactly; `latest` moves last."""

import random

import numpy as np
import pytest
import torch

from repro.errors import ReproError
from repro.trainer.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint


def make():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    return model, torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)


def train_step(model, optimizer):
    # draws from every global generator, as a rollout + update would
    x = torch.randn(4, 6) + float(np.random.rand()) + random.random()
    loss = model(x).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_resume_is_bit_exact(tmp_path):
    torch.set_num_threads(1)
    model, opt = make()
    for _ in range(3):
        train_step(model, opt)
    path = save_checkpoint(tmp_path, 3, model, opt, {"sampler": {"pos": 7}})
    uninterrupted = [train_step(model, opt) for _ in range(4)]

    fresh_model, fresh_opt = make()
    random.seed(123), np.random.seed(123), torch.manual_seed(123)  # anything: the checkpoint restores it
    assert latest_checkpoint(tmp_path) == path
    state = load_checkpoint(path, fresh_model, fresh_opt)
    assert state == {"iteration": 3, "sampler": {"pos": 7}}
    assert [train_step(fresh_model, fresh_opt) for _ in range(4)] == uninterrupted


def test_latest_pointer_pruning_and_leftovers(tmp_path):
    model, opt = make()
    assert latest_checkpoint(tmp_path) is None
    for it in (1, 2, 3):
        train_step(model, opt)
        save_checkpoint(tmp_path, it, model, opt, {}, keep_last=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter_000002", "iter_000003", "latest"]
    # a crash in the middle of writing iteration 4 leaves a .tmp directory; `latest` still names 3
    (tmp_path / "iter_000004.tmp").mkdir()
    assert latest_checkpoint(tmp_path).name == "iter_000003"
    save_checkpoint(tmp_path, 4, model, opt, {})
    assert latest_checkpoint(tmp_path).name == "iter_000004"
    assert not (tmp_path / "iter_000004.tmp").exists()


def test_pointer_to_missing_checkpoint_is_a_one_line_error(tmp_path):
    (tmp_path / "latest").write_text("iter_000009\n")
    with pytest.raises(ReproError, match="missing or incomplete"):
        latest_checkpoint(tmp_path)
