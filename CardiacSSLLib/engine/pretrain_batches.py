"""Pretraining batches: which frames each step sees (reproducible per step) and random crops."""

from __future__ import annotations

import numpy as np
import torch

from CardiacSSLLib.engine import distributed as D
from CardiacSSLLib.engine.unlabelled import UnlabelledFrames
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.methods import Batch, PretrainMethod


def random_crops(images: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    """(B, 1, H, W) -> (B, 1, size, size) at random positions (the stored canvas is larger)."""
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    ys, xs = rng.integers(0, h - size + 1, len(images)), rng.integers(0, w - size + 1, len(images))
    return torch.stack([im[:, y : y + size, x : x + size] for im, y, x in zip(images, ys, xs, strict=True)])


class BatchStream:
    """Index batches per step: epochs of a rank's ``DistributedSampler`` shard, or the method's
    structured sampler (seeded by step, so a resumed run continues the same sequence)."""

    def __init__(self, frames: UnlabelledFrames, batch: int, size: int, info: D.DistInfo, seed: int) -> None:
        self.frames, self.batch, self.size, self.info, self.seed = frames, batch, size, info, seed
        if frames.images.shape[-1] < size or frames.images.shape[-2] < size:
            raise InputError(f"stored frames ({tuple(frames.images.shape[-2:])}) are smaller than the {size} crops")
        self.sampler = D.sampler(len(frames), info, seed)
        self.per_epoch = len(self.sampler) // batch
        self._epoch, self._order = -1, []

    def indices(self, step: int, method: PretrainMethod) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.info.rank, step])
        custom = method.sample_indices(self.frames.meta, self.batch, rng)
        if custom is not None:
            return custom
        if self.per_epoch == 0:  # fewer frames than a batch
            return rng.choice(len(self.frames), self.batch, replace=True)
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self.sampler.set_epoch(epoch)
            self._epoch, self._order = epoch, list(self.sampler)
        return np.asarray(self._order[k * self.batch : (k + 1) * self.batch], dtype=np.int64)

    def batch_at(self, step: int, method: PretrainMethod, device: torch.device, channels_last: bool) -> Batch:
        idx = self.indices(step, method)
        rng = np.random.default_rng([self.seed, self.info.rank, step, 2])
        images = random_crops(self.frames.images[torch.from_numpy(idx)], self.size, rng)
        images = images.to(device, non_blocking=True).float()
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        g = torch.Generator().manual_seed(
            int(np.random.default_rng([self.seed, self.info.rank, step, 1]).integers(2**62))
        )
        return Batch(
            images=images,
            volume=torch.from_numpy(self.frames.volume[idx]).to(device),
            position=torch.from_numpy(self.frames.position[idx]).to(device),
            generator=g,
        )
