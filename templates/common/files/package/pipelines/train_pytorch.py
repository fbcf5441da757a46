"""Train the example model with PyTorch: CUDA with mixed precision when present, else CPU.

``train()`` receives named columns (feature name -> NumPy array, in data-contract order; see
``features.py``), fits the features transform on them and returns a net that carries it, so
``predict_proba()`` takes the same named columns and serving applies the same transform.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import features as feature_transform
from .features import Columns, Features

# The distribution this module trains with; its version is part of every run's identity.
FRAMEWORK = "torch"
# train() and predict_proba() take named columns (not a positional matrix).
INPUT = "columns"
ARTIFACT = "model.pt"
DEFAULTS: dict[str, Any] = {"epochs": 60, "lr": 0.01, "hidden": 32, "seed": 7}


class ChurnNet(nn.Module):
    """A small MLP over standardized features; the scaler travels with the weights."""

    def __init__(self, n_features: int, hidden: int, features: Features | None = None) -> None:
        super().__init__()
        self.features = features or Features()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.body = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - self.mean) / self.std).squeeze(-1)


def device() -> torch.device:
    """The GPU when CUDA is available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train(columns: Columns, y: np.ndarray, params: dict[str, Any] | None = None) -> ChurnNet:
    """Full-batch Adam on a weighted BCE loss; ``params`` override :data:`DEFAULTS`."""
    hp = {**DEFAULTS, **(params or {})}
    torch.manual_seed(int(hp["seed"]))
    features = Features().fit(columns)
    x = features.transform(columns)
    dev = device()
    xt = torch.as_tensor(x, dtype=torch.float32, device=dev)
    yt = torch.as_tensor(y, dtype=torch.float32, device=dev)
    model = ChurnNet(x.shape[1], int(hp["hidden"]), features).to(dev)
    model.mean.copy_(xt.mean(0))
    model.std.copy_(xt.std(0).clamp_min(1e-6))
    positives = yt.sum().clamp_min(1)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=(len(yt) - positives) / positives)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(hp["lr"]))
    use_amp = dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    model.train()
    for _ in range(int(hp["epochs"])):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=use_amp):
            loss = loss_fn(model(xt), yt)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return model.eval()


def predict_proba(model: ChurnNet, columns: Columns) -> np.ndarray:
    """Probability of the positive class for each row."""
    dev = next(model.parameters()).device
    x = model.features.transform(columns)
    with torch.no_grad():
        logits = model(torch.as_tensor(x, dtype=torch.float32, device=dev))
    return torch.sigmoid(logits).float().cpu().numpy()


def save(model: ChurnNet, directory: Path) -> Path:
    """Write the weights (and the layer sizes needed to rebuild the net)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ARTIFACT
    first = model.body[0]
    assert isinstance(first, nn.Linear)
    sizes = {"n_features": first.in_features, "hidden": first.out_features}
    torch.save({**sizes, "state": model.state_dict()}, path)
    feature_transform.save(model.features, directory)
    return path


def load(directory: Path) -> ChurnNet:
    """Rebuild the net (and its features transform) from :func:`save`'s artifact, on the CPU."""
    saved = torch.load(directory / ARTIFACT, map_location="cpu", weights_only=True)
    features = feature_transform.load(directory)
    model = ChurnNet(saved["n_features"], saved["hidden"], features)
    model.load_state_dict(saved["state"])
    return model.eval()
