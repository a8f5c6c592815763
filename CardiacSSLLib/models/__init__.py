"""Networks: the 2D U-Net backbone and the small heads the pretraining methods add."""
