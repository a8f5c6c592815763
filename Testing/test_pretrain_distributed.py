"""DDP on CPU: two processes (Gloo, env:// rendezvous) train a few steps and end with identical weights."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from CardiacSSLLib.engine.distributed import DistInfo, init_from_env, sampler


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, method: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        OMP_NUM_THREADS="1",
    )
    torch.set_num_threads(1)
    from safetensors.torch import save_file

    from CardiacSSLLib.engine.pretrain import PretrainConfig, pretrain
    from CardiacSSLLib.engine.unlabelled import UnlabelledFrames

    g = torch.Generator().manual_seed(0)
    frames = UnlabelledFrames(
        images=torch.rand(16, 1, 32, 32, generator=g).half(),
        volume=np.repeat(np.arange(4), 4),
        position=np.tile(np.linspace(0, 1, 4, dtype=np.float32), 4),
    )
    cfg = PretrainConfig(
        method=method,
        out=out,
        iterations=3,
        batch_size=2,
        image_size=32,
        features=(8, 16, 32, 64),
        hparams={"proj_hidden": 16, "proj_dim": 8} if method == "simclr" else {},
        device="cpu",
        seed=rank * 0,
        checkpoint_every=2,
        log_every=1,
    )
    result = pretrain(cfg, frames=frames)
    state = {k: v.detach().clone().contiguous() for k, v in result.method.backbone.state_dict().items()}
    save_file(state, os.path.join(out, f"rank{rank}.safetensors"))
    torch.distributed.destroy_process_group()


@pytest.mark.parametrize("method", ["simclr"])  # encoder-only: the unused decoder exercises DDP
def test_two_gloo_processes_end_with_identical_weights(tmp_path, method):
    from safetensors.torch import load_file

    out = tmp_path / method
    out.mkdir()
    mp.start_processes(_worker, args=(2, _free_port(), str(out), method), nprocs=2, join=True, start_method="spawn")
    a, b = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "DDP ranks diverged"
    from safetensors.torch import load_file as lf

    saved = lf(str(out / "backbone.safetensors"))  # written by rank 0 only
    assert all(torch.equal(saved[k], a[k]) for k in saved)
    log = (out / "log.jsonl").read_text()
    assert '"world_size": 2' in log
    # the ranks really saw different frames and the weights really moved
    torch.manual_seed(0)
    from CardiacSSLLib.methods import build_method
    from CardiacSSLLib.models.unet import UNetConfig

    fresh = build_method(method, UNetConfig(features=(8, 16, 32, 64))).backbone.state_dict()
    assert any(not torch.equal(fresh[k], a[k]) for k in a if k in fresh)


def test_sampler_shards_are_disjoint():
    s0 = list(sampler(10, DistInfo(rank=0, world_size=2), seed=1))
    s1 = list(sampler(10, DistInfo(rank=1, world_size=2), seed=1))
    assert len(s0) == len(s1) == 5 and not set(s0) & set(s1)


def test_single_process_without_environment(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = init_from_env(use_cuda=False)
    assert info == DistInfo() and info.is_main and not info.enabled
