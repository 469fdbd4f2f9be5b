#!/usr/bin/env python3
"""Expected value for loss::tests::loss_matches_pytorch_reference.

A tiny conditional VAE in float64 PyTorch, written the way ../shared/bench/torch_vae.py writes its
loss (Gaussian NLL with learned log-sigma + KL), plus a softmax cross-entropy head. Weights are
p[k] = 0.3*sin(0.7*k + 0.1) laid out as genfab lays them out: for each Linear of the encoder, then
the decoder, W [n_in, n_out] row-major then b [n_out]; then log_sigma. y = x @ W + b.
Run: /tmp/peers/bin/python src/ml/testdata/reference_loss.py
"""
import math
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
n_x, n_cond, latent, hidden = 6, 2, 2, [3]
gauss, (s0, sl) = [0, 1, 5], (2, 3)
x = torch.tensor([[0.5, -1.0, 1, 0, 0, 0.3],
                  [-0.2, 0.4, 0, 1, 0, -1.1],
                  [1.5, 0.0, 0, 0, 1, 0.7],
                  [-0.7, 2.0, 0, 1, 0, 0.0]])
c = torch.tensor([[1.0, 0], [0, 1], [0, 1], [1, 0]])
eps = torch.tensor([[0.1, -0.5], [1.2, 0.3], [-0.8, 0.0], [0.4, 0.9]])

enc_sizes = [n_x + n_cond] + hidden + [2 * latent]
dec_sizes = [latent + n_cond] + hidden[::-1] + [n_x]
layers, k = [], 0
def take(n):
    global k
    v = torch.tensor([0.3 * math.sin(0.7 * (k + i) + 0.1) for i in range(n)])
    k += n
    return v
def mlp(sizes):
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        W = take(a * b).reshape(a, b)
        bias = take(b)
        out.append((W, bias))
    return out
enc, dec = mlp(enc_sizes), mlp(dec_sizes)
log_sigma = take(len(gauss))

def run(layers, h):
    for i, (W, b) in enumerate(layers):
        h = h @ W + b
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h

mu, logvar = run(enc, torch.cat([x, c], 1)).chunk(2, dim=1)
z = mu + eps * torch.exp(0.5 * logvar)
out = run(dec, torch.cat([z, c], 1))
xg, og = x[:, gauss], out[:, gauss]
nll = 0.5 * ((xg - og) / torch.exp(log_sigma)) ** 2 + log_sigma + 0.5 * math.log(2 * math.pi)
ce = F.cross_entropy(out[:, s0:s0 + sl], x[:, s0:s0 + sl].argmax(1), reduction="none")
kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp())
loss = (nll.sum(1) + ce + kl.sum(1)).mean()
print(f"{loss.item():.15f}")
