"""`seqit train`: response-only SFT over phases (full / LoRA / QLoRA) with contamination-free packing.

    from seqit.config import load_config
    from seqit.train import TrainConfig, run_train
    model_dir = run_train(load_config(TrainConfig, "configs/train/tiny-cpu.yaml", ["model.path=/tmp/tiny"]))
"""

from seqit.train.config import BatchConfig, LoraSettings, ModelConfig, OptimConfig, PhaseConfig, TrainConfig


def run_train(cfg, dry_run=False, argv=None):
    """Lazy wrapper around seqit.train.loop.run_train (keeps `import seqit.train` free of torch)."""
    from seqit.train.loop import run_train as _run

    return _run(cfg, dry_run=dry_run, argv=argv)


__all__ = ["BatchConfig", "LoraSettings", "ModelConfig", "OptimConfig", "PhaseConfig", "TrainConfig", "run_train"]
