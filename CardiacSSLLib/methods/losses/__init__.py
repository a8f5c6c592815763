"""Pure loss functions of the pretraining methods (no modules, no state)."""

from CardiacSSLLib.methods.losses.contrastive import multi_positive_info_nce, nt_xent
from CardiacSSLLib.methods.losses.dino import dino_loss
from CardiacSSLLib.methods.losses.reconstruction import masked_mse
from CardiacSSLLib.methods.losses.redundancy import barlow_twins

__all__ = ["barlow_twins", "dino_loss", "masked_mse", "multi_positive_info_nce", "nt_xent"]
