"""Training engines: supervised / few-shot, semi-supervised and pretraining loops."""
