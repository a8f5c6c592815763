"""InfoNCE losses written with one similarity matrix and ``logsumexp``.

``nt_xent`` gives the same value as MONAI's ``ContrastiveLoss`` (checked in the tests)
without its (2N, 2N, D) intermediate, so Pix2Rep can contrast 2 x 8 x 1000 pixels.
``multi_positive_info_nce`` handles several positives per anchor and anchors whose
negatives exclude some samples (PCL, Chaitanya's G^D-, G^D, L^R, L^D).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent: z1[i] and z2[i] are positives, the other 2N-2 samples negatives.

    z1, z2: (N, D). Returns the mean over the 2N anchors of
    -log(exp(s_ij / t) / sum_{k != i} exp(s_ik / t)) with cosine similarity s.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0).float(), dim=1)  # (2N, D)
    logits = z @ z.t() / temperature  # (2N, 2N)
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, target)


def multi_positive_info_nce(
    z: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """InfoNCE with explicit positive and negative sets per anchor.

    z: (N, D) embeddings; positives, negatives: (N, N) boolean masks (diagonal ignored).
    For each positive pair (i, p): -log(exp(s_ip/t) / (exp(s_ip/t) + sum_{n in neg(i)} exp(s_in/t))),
    averaged over the positives of an anchor, then over anchors that have at least one positive.
    With one positive per anchor and all other samples negative this is ``nt_xent``.
    """
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    positives = positives.to(z.device) & ~eye
    negatives = negatives.to(z.device) & ~eye & ~positives
    zn = F.normalize(z.float(), dim=1)
    logits = zn @ zn.t() / temperature  # (N, N)
    neg_lse = torch.logsumexp(logits.masked_fill(~negatives, float("-inf")), dim=1, keepdim=True)  # (N, 1)
    # log(exp(a) + exp(b)) per positive pair, then -log softmax of the positive
    pair_loss = torch.logaddexp(logits, neg_lse.expand_as(logits)) - logits  # (N, N)
    n_pos = positives.sum(dim=1)
    has_pos = n_pos > 0
    if not bool(has_pos.any()):
        raise ValueError("no anchor has a positive: check the batch composition")
    per_anchor = (pair_loss * positives).sum(dim=1)[has_pos] / n_pos[has_pos]
    return per_anchor.mean()
