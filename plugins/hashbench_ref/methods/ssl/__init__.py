"""Shared building blocks of the self-supervised video hashing methods (SSVH, BTH, DKPH, MCMSH, ConMH,
S5VH, AutoSSVH), one concept per module, each documented with its paper, the released code and commit it
follows, its formula and its deliberate differences. They are plain functions and ``nn.Module`` s, not
registered methods; the methods build on them.

- :mod:`.binary`: the straight-through ``binary_tanh_unit`` (Round3's gradient mask at 0) and
  ``frame_mean`` pooling of per-frame codes.
- :mod:`.masking`: two complementary random frame masks per video (ConMH/S5VH/AutoSSVH), BERT-style frame
  corruption (BTH/DKPH), the masked frames of a batch; seeded ``torch.Generator`` draws.
- :mod:`.contrastive`: the debiased contrastive loss between two views (tau 0.5, tau+ 0.1).
- :mod:`.clustering`: seeded k-means (scikit-learn, CPU) and pseudo-labels = the nearest centroid.
- :mod:`.anchors`: the nearest anchors and BTH's anchor-graph adjacency tags (1 similar, 2 middle, 0 ignore).
- :mod:`.centres`: S5VH's hash centres: the CSQ Hadamard start, the objective, the l_p-box refinement.
- :mod:`.scan`: the selective scan in pure PyTorch (fused, hand-written backward) and the plain loop.
- :mod:`.mamba`: a mamba-ssm-compatible Mamba layer on that scan and S5VH's bidirectional block.
- :mod:`.sampler`: AutoSSVH's adversarial frame sampler (Gumbel top-k, straight-through, gradient reversal).

Preprocessing blocks work on numpy float64 arrays (N, D); training blocks on torch tensors.
"""
