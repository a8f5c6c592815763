"""Global then local contrastive pretraining (Chaitanya et al., NeurIPS 2020).

Stage 1 (global, encoder + g1): strategies
  G^R  SimCLR on random frames (two transformed views each);
  G^D- batches of m volumes x S partitions; x, x~, x^ of the same frame are positives,
       negatives only from *other* partitions;
  G^D  as G^D-, plus all frames of the same partition (any volume, any version) positive.
Stage 2 (local, encoder frozen, first l decoder blocks + g2): two intensity-only views;
A regions of K x K features (flattened) at the same positions in both maps;
  L^R  same region in the two views positive, other regions of the same image negative;
  L^D  additionally the same region of frames of the same partition (other volumes) positive,
       other regions of those frames negative.
Encoder and the first l decoder blocks transfer.
"""

from __future__ import annotations

import numpy as np
import torch

from CardiacSSLLib.methods import augment as A
from CardiacSSLLib.methods.base import Batch, FrameMeta, OptimSettings, PretrainMethod
from CardiacSSLLib.methods.losses import multi_positive_info_nce
from CardiacSSLLib.models.heads import ConvProjectionHead, GlobalPool, MLPHead
from CardiacSSLLib.models.unet import UNetConfig

GLOBAL_STRATEGIES = ("GR", "GD-", "GD")
LOCAL_STRATEGIES = ("LR", "LD")


def partition_of(position: torch.Tensor, n_partitions: int) -> torch.Tensor:
    """Partition index 0..S-1 of relative slice positions in [0, 1]."""
    return (position.float() * n_partitions).long().clamp(0, n_partitions - 1)


def sample_partitioned(meta: FrameMeta, batch_size: int, n_partitions: int, rng: np.random.Generator) -> np.ndarray:
    """m = batch_size // S volumes, one random frame from each of their S partitions."""
    part = np.clip((meta.position * n_partitions).astype(int), 0, n_partitions - 1)
    vols = np.unique(meta.volume)
    m = max(1, batch_size // n_partitions)
    chosen = rng.choice(vols, size=m, replace=len(vols) < m)
    out = []
    for v in chosen:
        in_vol = meta.volume == v
        for s in range(n_partitions):
            cand = np.flatnonzero(in_vol & (part == s))
            if cand.size == 0:  # short stack: nearest available partition
                cand = np.flatnonzero(in_vol)
            out.append(rng.choice(cand))
    return np.asarray(out, dtype=np.int64)


def global_masks(
    volume: torch.Tensor, partition: torch.Tensor, strategy: str, n_versions: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(positives, negatives) over ``n_versions`` stacked copies of the batch (version-major)."""
    b = volume.shape[0]
    frame = torch.arange(b, device=volume.device).repeat(n_versions)
    part = partition.repeat(n_versions)
    same_frame = frame[:, None] == frame[None, :]
    same_part = part[:, None] == part[None, :]
    if strategy == "GR":
        return same_frame, ~same_frame
    if strategy == "GD-":
        return same_frame, ~same_part
    if strategy == "GD":
        return same_part, ~same_part
    raise ValueError(f"unknown global strategy {strategy!r}; choose from {GLOBAL_STRATEGIES}")


def region_grid(h: int, w: int, k: int, n_regions: int, g: torch.Generator) -> list[tuple[int, int]]:
    """Top-left corners of ``n_regions`` non-overlapping k x k regions on a regular grid (random subset)."""
    cand = [(y, x) for y in range(0, h - k + 1, k) for x in range(0, w - k + 1, k)]
    if not cand:
        raise ValueError(f"feature map {h}x{w} is smaller than a {k}x{k} local region")
    order = torch.randperm(len(cand), generator=g)[:n_regions].tolist()
    return [cand[i] for i in order]


def region_vectors(f: torch.Tensor, corners: list[tuple[int, int]], k: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, A, C*k*k): flattened k x k regions at ``corners``."""
    return torch.stack([f[:, :, y : y + k, x : x + k].flatten(1) for y, x in corners], dim=1)


def local_masks(partition: torch.Tensor, n_regions: int, strategy: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks over embeddings ordered (view, frame, region) for views v~, v^ of B frames."""
    b = partition.shape[0]
    frame = torch.arange(b, device=partition.device).repeat_interleave(n_regions).repeat(2)
    region = torch.arange(n_regions, device=partition.device).repeat(b).repeat(2)
    part = partition.repeat_interleave(n_regions).repeat(2)
    same_region = region[:, None] == region[None, :]
    if strategy == "LR":
        group = frame[:, None] == frame[None, :]
    elif strategy == "LD":
        group = part[:, None] == part[None, :]
    else:
        raise ValueError(f"unknown local strategy {strategy!r}; choose from {LOCAL_STRATEGIES}")
    return group & same_region, group & ~same_region


class Chaitanya(PretrainMethod):
    name = "chaitanya"
    paper = "Chaitanya et al., NeurIPS 2020"
    transfer = "encoder + first l decoder blocks"
    defaults = OptimSettings(optimizer="adam", lr=1e-3, batch_size=40, epochs=100, schedule="constant")

    def __init__(
        self,
        network: UNetConfig,
        global_strategy: str = "GD",
        local_strategy: str | None = "LR",
        n_partitions: int = 4,
        temperature: float = 0.1,
        decoder_blocks: int = 3,
        region: int = 3,
        n_regions: int = 13,
        g1_hidden: int = 3200,
        g1_dim: int = 128,
        g2_dim: int = 128,
    ) -> None:
        super().__init__(network)
        if global_strategy not in GLOBAL_STRATEGIES:
            raise ValueError(f"unknown global strategy {global_strategy!r}; choose from {GLOBAL_STRATEGIES}")
        if local_strategy is not None and local_strategy not in LOCAL_STRATEGIES:
            raise ValueError(f"unknown local strategy {local_strategy!r}; choose from {LOCAL_STRATEGIES}")
        f = self.backbone.config.features
        self.l = min(decoder_blocks, len(f) - 1)
        self.pool = GlobalPool()
        self.g1 = MLPHead(f[-1], g1_hidden, g1_dim)
        c_l = f[-2 - (self.l - 1)]  # channels of decoder stage l-1
        self.g2 = ConvProjectionHead(c_l, c_l, g2_dim)
        self.global_strategy, self.local_strategy = global_strategy, local_strategy
        self.n_partitions, self.temperature, self.region, self.n_regions = n_partitions, temperature, region, n_regions
        self.spatial = A.SpatialAug(rotation_deg=15, scale=(0.9, 1.1), translate=0.05)
        self.inten = A.IntensityAug()
        self.stage = 0
        self._hp = {
            "global_strategy": global_strategy,
            "local_strategy": local_strategy,
            "n_partitions": n_partitions,
            "temperature": temperature,
            "decoder_blocks": self.l,
            "region": region,
            "n_regions": n_regions,
            "g1_hidden": g1_hidden,
            "g1_dim": g1_dim,
            "g2_dim": g2_dim,
        }

    @property
    def n_stages(self) -> int:
        return 2 if self.local_strategy else 1

    def set_stage(self, stage: int) -> None:
        self.stage = stage
        for p in self.parameters():
            p.requires_grad_(False)
        if stage == 0:
            trainable = [self.backbone.encoder, self.g1]
        else:  # encoder frozen, first l decoder blocks + g2
            trainable = [self.backbone.decoder[k] for k in range(self.l)] + [self.g2]
        for m in trainable:
            for p in m.parameters():
                p.requires_grad_(True)

    def hparams(self) -> dict:
        return dict(self._hp)

    def transfer_prefixes(self) -> list[str]:
        if not self.local_strategy:
            return ["encoder."]
        return ["encoder."] + [f"decoder.{k}." for k in range(self.l)]

    def _uses_partitions(self) -> bool:
        return (self.stage == 0 and self.global_strategy != "GR") or (self.stage == 1 and self.local_strategy == "LD")

    def sample_indices(self, meta: FrameMeta, batch_size: int, rng: np.random.Generator) -> np.ndarray | None:
        if not self._uses_partitions():
            return None
        return sample_partitioned(meta, batch_size, self.n_partitions, rng)

    def forward(self, batch: Batch, step: int, total: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, g = batch.images, batch.generator
        part = partition_of(batch.position.to(x.device), self.n_partitions)
        if self.stage == 0:
            views = [A.view(x, self.spatial, self.inten, g) for _ in range(2)]
            if self.global_strategy != "GR":
                views = [x] + views  # the untransformed frame is a third version
            z = self.g1(self.pool(self.backbone.encode(torch.cat(views))[-1]))
            pos, neg = global_masks(batch.volume.to(x.device), part, self.global_strategy, len(views))
            loss = multi_positive_info_nce(z, pos, neg, self.temperature)
            return loss, {"global": loss.detach()}
        v = torch.cat([A.intensity(x, self.inten, g), A.intensity(x, self.inten, g)])
        with torch.no_grad():
            skips = self.backbone.encode(v)
        f = self.g2(self.backbone.decode(skips, n_stages=self.l).features[-1])  # (2B, C, h, w)
        corners = region_grid(f.shape[-2], f.shape[-1], self.region, self.n_regions, g)
        e = region_vectors(f, corners, self.region).reshape(-1, f.shape[1] * self.region**2)
        pos, neg = local_masks(part, len(corners), self.local_strategy)
        loss = multi_positive_info_nce(e, pos, neg, self.temperature)
        return loss, {"local": loss.detach()}
