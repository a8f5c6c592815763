"""Health checks of a pretraining run: at the end, and at checkpoints when asked to stop once they pass.

The measurements are in ``engine/health.py``; this module decides which backbone, probe
data and frames they run on, and when a run may stop early (the issue with CPU budgets is
knowing when more steps stop helping, so a run can stop on its checks, not a step count).
"""

from __future__ import annotations

import copy
import logging

log = logging.getLogger(__name__)


def probe_root(cfg) -> str | None:
    """ACDC root for the frozen-feature probe: ``health_probe``, else the root of an ``acdc:`` source."""
    if cfg.health_probe:
        return cfg.health_probe
    for spec in cfg.sources:
        kind, _, rest = spec.partition(":")
        if kind == "acdc" and rest:
            return rest.partition(":")[0]
    return None


def run_health(cfg, method, network, frames):
    """Health report of the main backbone, or None when switched off; never fails the run."""
    if not cfg.health:
        return None
    from CardiacSSLLib.engine.health import pretraining_health

    backbone = method.backbones()["backbone"]
    was_training = backbone.training
    try:
        report = pretraining_health(
            cfg.method,
            network,
            cfg.hparams,
            cfg.seed,
            copy.deepcopy(backbone).cpu().float(),
            method.transfer_prefixes(),
            frames.images,
            probe_root(cfg),
        )
    finally:
        backbone.train(was_training)
    level = logging.INFO if report.passed else logging.WARNING
    log.log(level, "backbone health: %s", "passed" if report.passed else "; ".join(report.failures))
    return report


def healthy_stop(loop, done: int, record) -> bool:
    """At a checkpoint of the last stage with ``stop_when_healthy``: True (and noted) once the checks pass.

    Single-process runs only: a DDP run would need every rank to agree, and GPU runs are the
    ones with the budget to finish their schedule.
    """
    cfg = loop.cfg
    last_stage = loop.stage_of(done - 1) == loop.method.n_stages - 1
    if not (cfg.stop_when_healthy and cfg.health and last_stage and loop.info.world_size == 1):
        return False
    report = run_health(cfg, loop.method, loop.network, loop.frames)
    record("health", step=done, passed=report.passed, failures=report.failures, probe_dice=report.probe_dice)
    if not report.passed:
        return False
    loop.health, loop.stopped_at = report, done
    record("stop", step=done, reason="backbone health checks passed")
    return True
