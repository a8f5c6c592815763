"""MONAI 2D augmentation for supervised and few-shot training (dictionary transforms).

Strong on purpose: rotations over the full circle and flips (scanner orientation and
vendor conventions vary), scale 0.7-1.4 (pixel spacing of the ACDC HDF5 is unknown),
elastic-free affine, gamma / contrast / noise / blur / bias field for vendor and
sequence variation.
"""

from __future__ import annotations

import math

from monai import transforms as T


def training_transforms(patch: int, strong: bool = True):
    keys = ["image", "label"]
    xforms = [
        T.SpatialPadd(keys, spatial_size=(patch, patch), mode="constant"),
        T.RandCropByPosNegLabeld(
            keys, label_key="label", spatial_size=(patch, patch), pos=2, neg=1, num_samples=1, allow_smaller=True
        ),
        T.RandAffined(
            keys,
            prob=0.9 if strong else 0.5,
            rotate_range=(math.pi,),
            scale_range=(0.3, 0.3) if strong else (0.15, 0.15),
            translate_range=(patch * 0.1, patch * 0.1),
            mode=("bilinear", "nearest"),
            padding_mode="zeros",
        ),
        T.RandFlipd(keys, prob=0.5, spatial_axis=0),
        T.RandFlipd(keys, prob=0.5, spatial_axis=1),
    ]
    if strong:
        xforms += [
            T.RandBiasFieldd(["image"], prob=0.2, coeff_range=(0.0, 0.3)),
            T.RandAdjustContrastd(["image"], prob=0.3, gamma=(0.6, 1.6)),
            T.RandScaleIntensityd(["image"], factors=0.2, prob=0.3),
            T.RandGaussianSmoothd(["image"], prob=0.15, sigma_x=(0.3, 1.0), sigma_y=(0.3, 1.0)),
            T.RandGaussianNoised(["image"], prob=0.2, std=0.05),
        ]
    xforms.append(T.ToTensord(keys, track_meta=False))
    return T.Compose(xforms)
