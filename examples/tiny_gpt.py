"""A small causal Transformer (GPT-style) on the characters of the Gutenberg poem corpus.

A model of another family than perf_opt's RNNs, written only against perf_opt's public API, as a user would:
`perf_opt_train examples/tiny_gpt.py:TinyGPTTask` trains it, `perf_opt_bench --task examples/tiny_gpt.py:TinyGPTTask`
measures which optimizations pay for it.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset
from perf_opt import Task, TaskData
from perf_opt.data import poem_lines


class Block(nn.Module):
    "Pre-norm Transformer block: causal self-attention (PyTorch's SDPA kernel), then a 4x MLP."
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads, self.ln1, self.ln2 = heads, nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(B, T, D))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    "Token and position embeddings, `layers` blocks, a linear head over the characters."
    def __init__(self, vocab: int, d: int = 128, layers: int = 4, heads: int = 4, context: int = 64):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.Sequential(*[Block(d, heads) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        return self.head(self.ln(self.blocks(x)))


class TinyGPTTask(Task):
    "Next-character prediction on poem lines cut into chunks of `context + 1` characters; quality: validation loss."
    name, metric, higher_is_better = 'tiny_gpt', 'loss', False
    options = ('d', 'layers', 'heads', 'context')

    def data(self, cfg):
        text = '\n'.join(poem_lines(cfg.n_lines or 20_000))
        self.chars = sorted(set(text))
        ids = self._encode(text)
        T = cfg.model.get('context', 64) + 1
        chunks = ids[:len(ids) // T * T].view(-1, T)
        cut = int(len(chunks) * 0.95)
        return TaskData(TensorDataset(chunks[:cut]), TensorDataset(chunks[cut:]))  # no lengths: every chunk is full

    def _encode(self, text):
        index = {c: i for i, c in enumerate(self.chars)}
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def build_model(self, cfg):
        unknown = sorted(set(cfg.model) - set(self.options))
        if unknown: raise ValueError(f"unknown model option {unknown[0]!r}; the options are {', '.join(self.options)}")
        return TinyGPT(len(self.chars), **cfg.model)

    def loss(self, model, batch):
        (x,) = batch
        logits = model(x[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
