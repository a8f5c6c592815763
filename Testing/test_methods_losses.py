"""Each pretraining / semi-supervised loss against a plain reference written here on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from monai.losses import ContrastiveLoss

from CardiacSSLLib.engine.semisupervised import consistency_loss, cps_loss, sigmoid_rampup
from CardiacSSLLib.methods.ccm import ccm_loss
from CardiacSSLLib.methods.chaitanya import global_masks, local_masks, partition_of
from CardiacSSLLib.methods.losses import barlow_twins, dino_loss, masked_mse, multi_positive_info_nce, nt_xent
from CardiacSSLLib.methods.masking import complementary_masks, random_patch_mask
from CardiacSSLLib.methods.pcl import positional_masks


def cos(a, b):
    return float(a @ b / (a.norm() * b.norm()))


def ref_nt_xent(z1, z2, t):
    """Loop over the 2N anchors: -log exp(s_ij/t) / sum_{k != i} exp(s_ik/t)."""
    z = torch.cat([z1, z2]).double()
    n = z1.shape[0]
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        den = sum(math.exp(cos(z[i], z[k]) / t) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(cos(z[i], z[j]) / t) / den)
    return total / (2 * n)


def ref_multi(z, pos, neg, t):
    z = z.double()
    losses = []
    for i in range(z.shape[0]):
        ps = [p for p in range(z.shape[0]) if p != i and pos[i, p]]
        if not ps:
            continue
        negs = [k for k in range(z.shape[0]) if k != i and neg[i, k] and not pos[i, k]]
        terms = []
        for p in ps:
            num = math.exp(cos(z[i], z[p]) / t)
            terms.append(-math.log(num / (num + sum(math.exp(cos(z[i], z[k]) / t) for k in negs))))
        losses.append(sum(terms) / len(terms))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("n,d,t", [(3, 5, 0.1), (4, 2, 0.5), (2, 7, 0.07)])
def test_nt_xent_matches_monai_and_reference(n, d, t):
    g = torch.Generator().manual_seed(n * d)
    z1, z2 = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    ours = float(nt_xent(z1, z2, t))
    assert ours == pytest.approx(ref_nt_xent(z1, z2, t), rel=1e-4)
    assert ours == pytest.approx(float(ContrastiveLoss(temperature=t)(z1, z2)), rel=1e-4)


def test_multi_positive_reduces_to_nt_xent_and_matches_reference():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    eye = torch.eye(6, dtype=torch.bool)
    pos = eye.roll(3, dims=1)
    assert float(multi_positive_info_nce(torch.cat([z1, z2]), pos, ~pos, 0.2)) == pytest.approx(
        float(nt_xent(z1, z2, 0.2)), rel=1e-5
    )
    z = torch.randn(7, 3, generator=g)
    pos = torch.rand(7, 7, generator=g) < 0.3
    pos = pos | pos.t()
    neg = ~pos & (torch.rand(7, 7, generator=g) < 0.7)
    assert float(multi_positive_info_nce(z, pos, neg, 0.1)) == pytest.approx(ref_multi(z, pos, neg, 0.1), rel=1e-4)


def test_multi_positive_refuses_batch_without_positives():
    with pytest.raises(ValueError, match="positive"):
        multi_positive_info_nce(
            torch.randn(3, 2), torch.zeros(3, 3, dtype=torch.bool), torch.ones(3, 3, dtype=bool), 0.1
        )


def test_barlow_twins_matches_reference():
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    lam = 0.01
    a = (z1 - z1.mean(0)) / (z1.std(0) + 1e-6)
    b = (z2 - z2.mean(0)) / (z2.std(0) + 1e-6)
    ref = 0.0
    for i in range(3):
        for j in range(3):
            c = float(sum(a[n, i] * b[n, j] for n in range(6)) / 6)
            ref += (1 - c) ** 2 if i == j else lam * c**2
    assert float(barlow_twins(z1, z2, lam)) == pytest.approx(ref, rel=1e-4)
    # identical, decorrelated twins cost less than independent ones
    assert float(barlow_twins(z1, z1, lam)) < float(barlow_twins(z1, z2, lam))


def test_masked_mse_only_counts_masked_pixels():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    target = torch.zeros_like(pred)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert float(masked_mse(pred, target, mask)) == pytest.approx((1 + 16) / 2)


def test_dino_loss_matches_reference():
    g = torch.Generator().manual_seed(2)
    student = [torch.randn(2, 5, generator=g) for _ in range(3)]  # 2 global + 1 local
    teacher = [torch.randn(2, 5, generator=g) for _ in range(2)]
    center = torch.randn(1, 5, generator=g)
    ref, n = 0.0, 0
    for ti in range(2):
        q = F.softmax((teacher[ti] - center) / 0.04, dim=-1)
        for si in range(3):
            if si != ti:
                ref += float((-q * F.log_softmax(student[si] / 0.1, dim=-1)).sum(-1).mean())
                n += 1
    assert float(dino_loss(student, teacher, center, 0.1, 0.04)) == pytest.approx(ref / n, rel=1e-5)


def test_ccm_loss_is_mse_plus_infonce():
    g = torch.Generator().manual_seed(3)
    x, ra, rb = (torch.randn(3, 1, 4, 4, generator=g) for _ in range(3))
    za, zb = torch.randn(3, 6, generator=g), torch.randn(3, 6, generator=g)
    total, rec, con = ccm_loss(x, ra, rb, za, zb, temperature=0.07, lambd=0.5)
    ref_rec = 0.5 * (float(((x - ra) ** 2).mean()) + float(((x - rb) ** 2).mean()))
    assert float(rec) == pytest.approx(ref_rec, rel=1e-5)
    assert float(con) == pytest.approx(ref_nt_xent(za, zb, 0.07), rel=1e-4)
    assert float(total) == pytest.approx(ref_rec + 0.5 * float(con), rel=1e-5)


def test_cps_and_consistency_losses():
    g = torch.Generator().manual_seed(4)
    la, lb = torch.randn(2, 4, 3, 3, generator=g), torch.randn(2, 4, 3, 3, generator=g)
    ref = 0.5 * (float(F.cross_entropy(la, lb.argmax(1))) + float(F.cross_entropy(lb, la.argmax(1))))
    assert float(cps_loss(la, lb)) == pytest.approx(ref, rel=1e-5)
    assert float(cps_loss(la, la)) < float(cps_loss(la, lb))
    ref_c = float(((la.softmax(1) - lb.softmax(1)) ** 2).mean())
    assert float(consistency_loss(la, lb)) == pytest.approx(ref_c, rel=1e-5)
    assert sigmoid_rampup(0, 10) == pytest.approx(math.exp(-5)) and sigmoid_rampup(10, 10) == 1.0


def test_patch_masks_exact_ratio_and_complementary():
    g = torch.Generator().manual_seed(0)
    m = random_patch_mask(3, (80, 96), 32, 0.75, g)  # 3 x 3 patch grid with partial last row
    assert m.shape == (3, 1, 80, 96)
    grid = m[:, 0, ::32, ::32]  # one value per patch
    assert torch.all(grid.flatten(1).sum(1) == round(0.75 * 9))
    assert torch.equal(m[:, :, :32, :32], m[:, :, :1, :1].expand(-1, -1, 32, 32))  # constant per patch
    a, b = complementary_masks(2, (64, 64), 16, g)
    assert torch.equal(a + b, torch.ones_like(a)) and float(a.mean()) == 0.5


def test_positional_and_partition_masks():
    pos, neg = positional_masks(torch.tensor([0.0, 0.05, 0.5]), 0.1)
    assert pos.shape == (6, 6)
    assert pos[0, 1] and pos[0, 3] and pos[0, 4] and not pos[0, 2] and neg[0, 2] and neg[0, 5]
    part = partition_of(torch.tensor([0.0, 0.3, 0.99, 1.0]), 4)
    assert part.tolist() == [0, 1, 3, 3]
    vol, part = torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0])
    p, n = global_masks(vol, part, "GR", 2)
    assert p[0, 3] and not p[0, 2] and n[0, 2] and n[0, 1]
    p, n = global_masks(vol, part, "GD-", 3)  # frames 0 and 2 share partition 0: neither positive nor negative
    assert p[0, 3] and p[0, 6] and not p[0, 2] and not n[0, 2] and n[0, 1]
    p, n = global_masks(vol, part, "GD", 3)
    assert p[0, 2] and p[0, 5] and not p[0, 1] and n[0, 1]
    p, n = local_masks(torch.tensor([0, 0]), 2, "LR")  # order (view, frame, region): 2 x 2 x 2
    assert p[0, 4] and not p[0, 5] and n[0, 1] and n[0, 5] and not n[0, 2] and not p[0, 2]
    p, n = local_masks(torch.tensor([0, 0]), 2, "LD")
    assert p[0, 2] and p[0, 6] and n[0, 3]
