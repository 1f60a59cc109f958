"""The cold-start base model, small: trained once per session on sandbox histories (the same
path the product's cold start takes); the fixtures small_base_data, small_model and base_model
build on it."""

from apps.predictions.training import BaseSpec

SMALL = BaseSpec(
    scenarios=("memory-leak", "cpu-saturation", "node-not-ready", "healthy"),
    train_seeds=(1, 2),
    holdout_seeds=(101,),
    hours=1.5,
)
