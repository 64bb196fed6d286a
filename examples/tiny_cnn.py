"A small 1-D CNN classifier on synthetic series: a task written only against perf_opt's public API, fast to train."
import torch
from torch.utils.data import TensorDataset
from perf_opt import Task, TaskData

class TinyCNN(Task):
    "Which half of a noisy series has the larger mean: two convolutions, pooling, a linear head; tuple batches."
    name = 'tiny_cnn'
    def data(self, cfg):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(4096, 1, 64, generator=g)
        y = (x[:, 0, :32].mean(1) > x[:, 0, 32:].mean(1)).long()
        return TaskData(TensorDataset(x[:3584], y[:3584]), TensorDataset(x[3584:], y[3584:]))
    def build_model(self, cfg):
        c = cfg.model.get('channels', 16)
        return torch.nn.Sequential(torch.nn.Conv1d(1, c, 5, padding=2), torch.nn.ReLU(),
                                   torch.nn.Conv1d(c, c, 5, padding=2), torch.nn.ReLU(),
                                   torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(), torch.nn.Linear(c, 2))
    def loss(self, model, batch):
        x, y = batch
        return torch.nn.functional.cross_entropy(model(x), y)
