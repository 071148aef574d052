"""The way public CPPN code renders, as a yardstick for `make bench`.

Whole frame in one pass; z repeated and concatenated onto every pixel's (x, y, r) row;
nn.Linear layers with torch.tanh between them, unfused, fp32. Same weights as ours, so
the two render the same picture and differ only in how they compute it.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cppn_anim.network import Weights
from cppn_anim.render import sample_grid


class BaselineCPPN(nn.Module):
    def __init__(self, w: Weights):
        super().__init__()
        assert set(w.activations) == {"tanh"} and w.color == "rgb" and w.inputs == ("x", "y", "r")
        width = w.first.shape[1]
        self.inp = nn.Linear(3 + w.first_z.shape[0], width)
        self.inp.weight.data = torch.tensor(np.concatenate([w.first, w.first_z]).T, dtype=torch.float32)
        self.inp.bias.data = torch.tensor(w.first_bias, dtype=torch.float32)
        self.hidden = nn.ModuleList()
        for m, b in w.hidden:
            layer = nn.Linear(width, width)
            layer.weight.data, layer.bias.data = torch.tensor(m.T, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
            self.hidden.append(layer)
        self.out = nn.Linear(width, 3)
        self.out.weight.data, self.out.bias.data = torch.tensor(w.out.T, dtype=torch.float32), torch.tensor(w.out_bias, dtype=torch.float32)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.inp(rows))
        for layer in self.hidden:
            h = torch.tanh(layer(h))
        return torch.sigmoid(self.out(h))


@torch.no_grad()
def render(model: BaselineCPPN, z: np.ndarray, width: int, height: int) -> np.ndarray:
    """One whole frame (view at rest) -> (H, W, 3) uint8."""
    x, y = sample_grid(width, height, 1, 0, width * height)
    coords = torch.tensor(np.stack([x, y, np.sqrt(x * x + y * y)], axis=1), dtype=torch.float32)  # (P, 3)
    zs = torch.tensor(z, dtype=torch.float32).expand(len(coords), -1)  # (P, latent_dim)
    rgb = model(torch.cat([coords, zs], dim=1))  # (P, 3)
    return (rgb * 255 + 0.5).clamp(0, 255).to(torch.uint8).reshape(height, width, 3).numpy()
