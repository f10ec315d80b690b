"""Reference losses: torch-free factory functions (see hashbench.contract)."""
from __future__ import annotations

from typing import Any, Optional

from hashbench.contract import choice, number

TRIPLET_WEIGHTINGS = ("original", "uniform")


def batch_all_triplet(margin: float = 14.0, weighting: str = "original",
                      multi_label: bool = False) -> Any:
    """Batch-all triplet loss of the original repo (squared L2 distances, margin).

    Every (anchor, positive, negative) in the batch with anchor index < positive index contributes
    ``relu(margin + ||x_a - x_p||^2 - ||x_a - x_n||^2)``; the loss is the mean over triplets, zero ones
    included. Keys:

    - ``margin`` (> 0, default 14): the original used 14 for 48 bits and 20 for 64 ("a bit more than a
      quarter of the bits"; ``||a - b||^2`` between +-1 codes is 4 x Hamming distance).
    - ``weighting``: ``"original"`` (default) counts each class's triplets once per member of that class
      in the batch, exactly like the original repo (single-label data only); ``"uniform"`` is the
      textbook mean over distinct triplets (also for multi-label data: positive = share a class).

    ``multi_label`` is injected from the dataset. A batch without any valid triplet gives a zero loss
    that is still connected to the graph.
    """
    margin = number("loss.margin", margin, 0, low_open=True, note=" (the original used 14 for 48 bits, 20 for 64)")
    choice("loss.weighting", weighting, TRIPLET_WEIGHTINGS)
    if multi_label and weighting == "original":
        raise ValueError("loss.weighting: 'original' is defined for single-label data only and this"
                          " dataset is multi-label; set weighting = \"uniform\" (positive = share a class)")
    from .triplet import BatchAllTripletLoss

    return BatchAllTripletLoss(margin=margin, weighting=weighting)


MEMORIES = ("bank", "batch")


def csq(lam: float = 1e-4, apply_tanh: bool = True, bits: int = 64, num_classes: int = 2,
        multi_label: bool = False, seed: int = 0) -> Any:
    """Central Similarity Quantization (Yuan et al., CVPR 2020): codes pulled to per-class hash centres.

    Centres: the rows of [H; -H] (H the Hadamard matrix of order ``bits``) when ``bits`` is a power of 2
    and classes <= 2 * bits; otherwise random centres with exactly bits/2 entries -1 (best of 20
    draws: min pairwise Hamming > bits/4, mean >= bits/2), drawn from the experiment's seed.
    Multi-label: the sign of the sum of the label centres (ties broken by a fixed random vector).
    Loss: BCE((u + 1) / 2, (c + 1) / 2) + ``lam`` * mean((|u| - 1)^2) with u = tanh(codes).

    - ``lam``: weight of the quantisation term (default 1e-4, DeepHash-pytorch's CSQ.py; the CSQ
      authors' image code uses 0.05, their video code 0).
    - ``apply_tanh``: squash the codes with tanh first (default true: use the ``linear`` head, as
      DeepHash-pytorch does; set false after a head that already outputs (-1, 1)).
    Reference followed: DeepHash-pytorch ``CSQ.py`` (centre rule of the CSQ authors' notebook).
    """
    from .csq import CSQLoss

    return CSQLoss(bits, num_classes, multi_label, number("loss.lam", lam, 0), bool(apply_tanh), seed)


def dpsh(alpha: float = 0.1, weighting: str = "mean", bits: int = 64, num_classes: int = 2,
         multi_label: bool = False, num_train: int = 0) -> Any:
    """Deep Pairwise-Supervised Hashing (Li et al., IJCAI 2016): pairwise likelihood against a memory bank.

    The bank holds the latest codes and labels of every training clip (by index, updated before the
    loss is computed, zeros until seen). With theta = u U^T / 2 over batch x bank and s = share a
    label: mean(log(1 + exp(theta)) - s * theta) + ``alpha`` * mean((u - sign(u))^2).

    - ``alpha``: weight of the quantisation term (default 0.1). Use the ``linear`` head.
    - ``weighting``: ``"mean"`` (default; the paper's and DeepHash-pytorch's plain mean over pairs) or
      ``"balanced"`` (FIRe's: similar and dissimilar pairs weighted as HashNet does; for many classes).
    Reference followed: DeepHash-pytorch ``DPSH.py`` (``"balanced"``: FIRe's ``dpsh.py``).
    """
    from .dpsh import DPSHLoss
    from .pairwise import PAIR_WEIGHTINGS

    return DPSHLoss(bits, num_classes, multi_label, num_train, number("loss.alpha", alpha, 0),
                    choice("loss.weighting", weighting, PAIR_WEIGHTINGS))


def hashnet(alpha: float = 0.1, memory: str = "bank", bits: int = 64, num_classes: int = 2,
            multi_label: bool = False, num_train: int = 0) -> Any:
    """HashNet (Cao et al., ICCV 2017): weighted pairwise cross entropy, positives and negatives balanced.

    With d = ``alpha`` * u U^T and s = share a label: log(1 + exp(d)) - s * d, each positive pair
    weighted by S / S1 and each negative by S / S0 (S1, S0 their counts), summed and divided by S.
    Pair with the ``scaled_tanh`` head: its continuation (tanh(beta x), beta = sqrt(1 + (epoch - 1) // 20),
    1-based epochs)
    is HashNet's.

    - ``alpha``: the sigmoid's scale (default 0.1).
    - ``memory``: ``"bank"`` (default; pairs of the batch with every training clip's latest code, the
      paper's and DeepHash-pytorch's formulation until 2022) or ``"batch"`` (pairs within the batch,
      DeepHash-pytorch's HashNet.py today).
    Reference followed: DeepHash-pytorch ``HashNet.py`` (the memory-bank version, commit 6fe706c).
    """
    from .hashnet import HashNetLoss

    return HashNetLoss(bits, num_classes, multi_label, num_train, number("loss.alpha", alpha, 0),
                       choice("loss.memory", memory, MEMORIES))


def dsh(alpha: float = 0.1, margin: Optional[float] = None, memory: str = "bank", bits: int = 64,
        num_classes: int = 2, multi_label: bool = False, num_train: int = 0) -> Any:
    """Deep Supervised Hashing (Liu et al., CVPR 2016): contrastive loss on squared distances + a regulariser.

    Similar pairs: d / 2; dissimilar pairs: max(0, margin - d) / 2 (d the squared Euclidean distance),
    averaged, + ``alpha`` * mean(| |u| - 1 |). Use the ``linear`` head.

    - ``alpha``: weight of the regulariser (default 0.1); ``margin``: default 2 * bits.
    - ``memory``: ``"bank"`` (default, DeepHash-pytorch: pairs with every training clip's latest code)
      or ``"batch"`` (pairs within the batch, the paper's formulation).
    Reference followed: DeepHash-pytorch ``DSH.py``.
    """
    from .dsh import DSHLoss

    margin_value = 2.0 * bits if margin is None else number("loss.margin", margin, 0, low_open=True)
    return DSHLoss(bits, num_classes, multi_label, num_train, number("loss.alpha", alpha, 0), margin_value,
                   choice("loss.memory", memory, MEMORIES))


def greedyhash(alpha: float = 0.1, lr_multiplier: float = 1.0, bits: int = 64, num_classes: int = 2,
               multi_label: bool = False) -> Any:
    """GreedyHash (Su et al., NeurIPS 2018): classify through the sign, straight-through gradient.

    b = sign(u) (backward: identity); a bias-free linear classifier on b trained with cross entropy
    (multi-label: the label-smoothed form, FIRe), + ``alpha`` * mean(| (|u| - 1)^3 |). The classifier is
    the loss's own parameter (in the optimizer at ``lr * lr_multiplier``, in checkpoints). Use the
    ``linear`` head (the loss binarises).

    - ``alpha``: weight of the cubic regulariser (default 0.1; 1 for ImageNet in the references).
    Reference followed: DeepHash-pytorch ``GreedyHash.py``; FIRe ``greedyhash.py`` for multi-label.
    """
    from .greedyhash import GreedyHashLoss

    return GreedyHashLoss(bits, num_classes, multi_label, number("loss.alpha", alpha, 0),
                          number("loss.lr_multiplier", lr_multiplier, 0, low_open=True))


ORTHO_MARGINS = ("cos", "arc")
QUANTISATION_TYPES = ("cs", "l1", "l2")


def orthohash(s: float = 8.0, m: float = 0.2, margin_type: str = "cos", quan: float = 0.0,
              quan_type: str = "cs", learn_codebook: bool = False, lr_multiplier: float = 1.0,
              bits: int = 64, num_classes: int = 2, multi_label: bool = False, seed: int = 0) -> Any:
    """OrthoHash (Hoe et al., NeurIPS 2021): one cosine-margin cross entropy against a ±1 codebook.

    The codebook has a random ±1 (Bernoulli) row per class, drawn from the experiment's seed; logits
    are the cosines between codes and rows, ``s * (cos - m)`` for the true class (``margin_type =
    "arc"``: ``s * cos(acos + m)``). Multi-label: cross entropy against the normalised multi-hot row
    (label smoothing). Optional quantisation ``quan`` * (1 - cos(u, sign u)) (``quan_type`` cs; l1,
    l2). Use the ``bn`` head (Linear + BatchNorm, OrthoHash's hash layer).

    - ``s`` scale (8), ``m`` margin (0.2), ``learn_codebook``: train the codebook (false, as the authors).
    Reference followed: kamwoh/orthohash ``OrthoHashLoss`` (FIRe's ``orthocos``/``orthoarc`` agree).
    """
    from .orthohash import OrthoHashLoss

    return OrthoHashLoss(bits, num_classes, multi_label, number("loss.s", s, 0, low_open=True),
                         number("loss.m", m, 0),
                         choice("loss.margin_type", margin_type, ORTHO_MARGINS), number("loss.quan", quan, 0),
                         choice("loss.quan_type", quan_type, QUANTISATION_TYPES), bool(learn_codebook),
                         number("loss.lr_multiplier", lr_multiplier, 0, low_open=True), seed)


def dpn(m: float = 1.0, p: float = 0.5, adaptive: bool = False, bits: int = 64, num_classes: int = 2,
        multi_label: bool = False, seed: int = 0, num_train: int = 0) -> Any:
    """Deep Polarized Network (Fan et al., IJCAI 2020): push every code bit past a margin towards its target.

    Targets: a random ±1 vector per class with exactly ``int(bits * p)`` entries -1, drawn from the
    experiment's seed; multi-label: the sign of the sum of the label targets. Loss: mean(max(0, m - u * t)).
    ``adaptive`` (DPN-A): after every epoch the targets become the sign of the class sums of the
    training codes' polarised bits (a memory bank). Use the ``linear`` head.

    - ``m`` margin (1.0), ``p`` share of -1 entries of a target (0.5).
    Reference followed: DeepHash-pytorch ``DPN.py``.
    """
    from .dpn import DPNLoss

    share = number("loss.p", p, 0, 1, low_open=True, high_open=True, note=" (the share of -1 entries)")
    return DPNLoss(bits, num_classes, multi_label, number("loss.m", m, 0, low_open=True), share, bool(adaptive),
                   seed, num_train)


def dtsh(alpha: float = 5.0, lmbd: float = 1.0, num_classes: int = 2, multi_label: bool = False) -> Any:
    """DTSH (Wang et al., ACCV 2016): the likelihood of (anchor, positive, negative) triplets in a batch.

    For every anchor with a positive and a negative in the batch: mean over its triplets of
    -log sigmoid(u_a.u_p - u_a.u_n - ``alpha``) (scores clamped to [-100, 50]), averaged over the anchors,
    + ``lmbd`` * mean((u - sign u)^2). Use the ``linear`` head.

    - ``alpha``: the triplet margin on inner products (default 5, FIRe's template).
    - ``lmbd``: weight of the quantisation term (default 1).
    Reference followed: FIRe ``functions/loss/dtsh.py`` (= DeepHash-pytorch ``DTSH.py``).
    """
    from .dtsh import DTSHLoss

    return DTSHLoss(num_classes, multi_label, number("loss.alpha", alpha), number("loss.lmbd", lmbd, 0))


def orthoarc(s: float = 8.0, m: float = 0.2, quan: float = 0.0, quan_type: str = "cs", learn_codebook: bool = False,
             lr_multiplier: float = 1.0, bits: int = 64, num_classes: int = 2, multi_label: bool = False,
             seed: int = 0) -> Any:
    """OrthoArc (FIRe's arc-margin OrthoHash): cross entropy over cosines to OrthoHash's ±1 codebook with
    an additive angular margin, ``s * cos(acos(cos) + m)`` for the true class.

    The same codebook as ``orthohash`` (a seeded Bernoulli ±1 row per class); multi-label: cross entropy
    against the normalised multi-hot row. Optional quantisation ``quan`` of ``quan_type`` (cs, l1, l2).
    Use the ``bn`` head.

    - ``s`` scale (8, FIRe's template), ``m`` angular margin in radians (0.2), ``learn_codebook`` (false).
    Reference followed: FIRe ``functions/loss/orthoarc.py`` with its template ``orthoarc.yaml``.
    """
    from .orthoarc import OrthoArcLoss

    return OrthoArcLoss(bits, num_classes, multi_label, number("loss.s", s, 0, low_open=True), number("loss.m", m, 0),
                        number("loss.quan", quan, 0), choice("loss.quan_type", quan_type, QUANTISATION_TYPES),
                        bool(learn_codebook), number("loss.lr_multiplier", lr_multiplier, 0, low_open=True), seed)


def dfh(mu: float = 1.0, vul: float = 1.0, m: float = 1.0, eta: float = 0.5, weighting: str = "mean", bits: int = 64,
        num_classes: int = 2, multi_label: bool = False, num_train: int = 0) -> Any:
    """DFH (Li et al., BMVC 2019): a margin pairwise likelihood over a memory bank + quantisation towards
    codes pulled to discrete class centres.

    With theta = u U^T / 2 over batch x bank (clamped to [-100, 50]) and s = share a label:
    mean(s log(1 + exp(m - theta)) + (1 - s) log(1 + exp(m + theta))) + ``eta`` * mean((b - u)^2), where
    b = sign(``mu`` * y C + u) and the ±1 class centres C are updated every batch by discrete cyclic
    coordinate descent (``vul`` weighs their separation). Bank and centres are checkpointed. Use the
    ``linear`` head.

    - ``m`` margin (1), ``eta`` quantisation weight (0.5), ``mu`` pull to the centres (1), ``vul`` (1).
    - ``weighting``: ``"mean"`` (default, FIRe's) over all pairs, or ``"balanced"`` (similar and
      dissimilar pairs averaged apart, as HashNet; for many classes).
    Reference followed: FIRe ``functions/loss/dfh.py`` (= DeepHash-pytorch ``DFH.py``), its template.
    """
    from .dfh import DFHLoss
    from .pairwise import PAIR_WEIGHTINGS

    return DFHLoss(bits, num_classes, multi_label, num_train, number("loss.mu", mu, 0), number("loss.vul", vul, 0),
                   number("loss.m", m, 0), number("loss.eta", eta, 0), choice("loss.weighting", weighting, PAIR_WEIGHTINGS))


def sdh_c(lmbd0: float = 0.001, lmbd1: float = 0.001, alpha: float = 1.0, lmbd2: float = 0.001,
          lr_multiplier: float = 1.0, bits: int = 64, num_classes: int = 2, multi_label: bool = False) -> Any:
    """SDH-C (FIRe's classification form of SDH, Liong et al., CVPR 2015): quantisation, code variance,
    the cross entropy of a linear classifier on the codes and the hash layer's weight term J3.

    ``lmbd0`` * mean((u - sign u)^2) - ``lmbd1`` * sum(u^2) / bits / 2 + ``alpha`` * CE(Linear(bits, C)(u))
    + ``lmbd2`` * mean((P P^T - 1)^2), P the head's ``hash_weight`` (bits, D).
    The classifier (with bias) is the loss's own parameter (at ``lr * lr_multiplier``, checkpointed; runs
    report top1/top5). Single-label data only. Use the ``tanh`` head (the variance term needs bounded codes).

    - ``lmbd0`` (0.001), ``lmbd1`` (0.001), ``alpha`` (1), ``lmbd2`` (0.001): FIRe's template ``sdhc.yaml``.
    Reference followed: FIRe ``functions/loss/sdh.py`` (``SDHLossC``).
    """
    from .sdh_c import SDHCLoss

    return SDHCLoss(bits, num_classes, multi_label, number("loss.lmbd0", lmbd0, 0), number("loss.lmbd1", lmbd1, 0),
                    number("loss.alpha", alpha, 0), number("loss.lr_multiplier", lr_multiplier, 0, low_open=True),
                    lmbd2=number("loss.lmbd2", lmbd2, 0))


CE_INPUTS = ("codes", "features")


def cross_entropy(on: str = "codes", quantization: float = 0.0, lr_multiplier: float = 1.0, bits: int = 64,
                  num_classes: int = 2, multi_label: bool = False, feature_dim: int = 0) -> Any:
    """Classification: a linear classifier (with bias) on the codes or the backbone's features, cross entropy.

    The objective of video classification projects (pytorch-video-recognition,
    Video_Classification_ResNet3D); runs with it also report ``top1``/``top5`` on the query split.
    Multi-label: cross entropy against the normalised multi-hot row.

    - ``on``: ``"codes"`` (default: the classifier reads the head's codes, so hashing learns from
      classes) or ``"features"`` (the classifier reads the backbone's features: classification
      fine-tuning, e.g. the first stage of a two-stage recipe).
    - ``quantization``: weight of an optional mean((|u| - 1)^2) term on the codes (default 0).
    - ``lr_multiplier``: the classifier's learning rate multiplier (default 1; pytorch-video-recognition
      uses 10 for its last layer).
    """
    from .cross_entropy import CrossEntropyLoss

    return CrossEntropyLoss(bits, num_classes, multi_label, choice("loss.on", on, CE_INPUTS), feature_dim,
                            number("loss.quantization", quantization, 0),
                            number("loss.lr_multiplier", lr_multiplier, 0, low_open=True))


FACTORIES: dict = {"batch_all_triplet": batch_all_triplet, "csq": csq, "dpsh": dpsh, "hashnet": hashnet,
                   "dsh": dsh, "greedyhash": greedyhash, "orthohash": orthohash, "dpn": dpn,
                   "cross_entropy": cross_entropy}
FACTORIES.update({"dtsh": dtsh})
FACTORIES.update({"orthoarc": orthoarc})
FACTORIES.update({"dfh": dfh})
FACTORIES.update({"sdh_c": sdh_c})


def dbdh(alpha: float = 0.1, power: int = 2, memory: str = "bank", weighting: str = "mean", bits: int = 64,
         num_classes: int = 2, multi_label: bool = False, num_train: int = 0) -> Any:
    """Deep Balanced Discrete Hashing (Zheng et al., 2020): pairwise likelihood + a bit-balance term.

    u = clamp(codes, -1, 1); with theta = u U^T / 2 over batch x bank and s = share a label:
    mean(log(1 + exp(theta)) - s * theta) + ``alpha`` * mean_i (mean_k u_ik)^``power``. Use the ``linear`` head.

    - ``alpha``: weight of the balance term (default 0.1, FIRe's template); ``power``: 2 (default) or 1 (abs).
    - ``memory``: ``"bank"`` (default; FIRe's ``keep_train_size``: pairs with every training clip's latest
      code) or ``"batch"`` (pairs within the batch).
    - ``weighting``: ``"mean"`` (default, FIRe's plain mean over pairs) or ``"balanced"`` (similar and
      dissimilar pairs weighted as HashNet does, as for ``dpsh``; for many classes).
    Reference followed: FIRe ``functions/loss/dbdh.py``.
    """
    from .dbdh import DBDH_POWERS, DBDHLoss
    from .pairwise import PAIR_WEIGHTINGS

    return DBDHLoss(bits, num_classes, multi_label, num_train, number("loss.alpha", alpha, 0),
                    choice("loss.power", power, DBDH_POWERS), choice("loss.memory", memory, MEMORIES),
                    choice("loss.weighting", weighting, PAIR_WEIGHTINGS))


FACTORIES.update({"dbdh": dbdh})


def jmlh(lmbd: float = 0.1, stochastic: bool = True, lr_multiplier: float = 1.0, bits: int = 64,
         num_classes: int = 2, multi_label: bool = False, seed: int = 0) -> Any:
    """JMLH (Shen et al., ICCV workshops 2019): classify stochastic binary codes, KL to a fair coin.

    q = sigmoid(codes); b = (sign(q - eps) + 1) / 2 with eps uniform while training (0.5 otherwise),
    backward d b / d codes = q (1 - q); a linear classifier (with bias, the loss's own parameter) on b,
    cross entropy + ``lmbd`` * mean_i sum_k KL(q_ik || 1/2). eps comes from the loss's generator,
    reseeded every epoch from the experiment's seed: deterministic, and exact after ``--resume``.
    Use the ``linear`` head (the retrieval code is sign(codes)).

    - ``lmbd``: weight of the KL term (default 0.1, FIRe's template).
    - ``stochastic``: draw eps (default true); false thresholds at 0.5 while training too.
    Reference followed: FIRe ``functions/loss/jmlh.py`` with ``arch_jmlh.py`` (its stochastic binary layer).
    """
    from .jmlh import JMLHLoss

    return JMLHLoss(bits, num_classes, multi_label, number("loss.lmbd", lmbd, 0), bool(stochastic),
                    number("loss.lr_multiplier", lr_multiplier, 0, low_open=True), seed)


FACTORIES.update({"jmlh": jmlh})


def video_retrieval(margin: float = 0.3, triplet: float = 1.0, ce: float = 0.1, ap: float = 0.1,
                    anneal: float = 0.01, lr_multiplier: float = 1.0, bits: int = 64, num_classes: int = 2,
                    multi_label: bool = False, feature_dim: int = 0) -> Any:
    """Video_Retrieval's released objective (its train.py): batch-hard triplet + 0.1 CE + 0.1 Smooth-AP.

    ``triplet`` * open-reid's batch-hard triplet (Euclidean distances, hardest positive and negative per
    anchor, ``margin``) + ``ce`` * cross entropy of relu(Linear(feature_dim, C)) on the backbone's
    features (the loss's own classifier) + ``ap`` * (1 - Smooth-AP of the inner products, sigmoid
    temperature ``anneal``). The release pairs it with the ``tanh`` head; on batches where most anchors have
    a positive that collapses to one code, so the zoo uses the ``linear`` head with ``ce = 1`` (see the
    module). The README's "all triplets" is ``batch_all_triplet``.

    - ``margin`` 0.3 (its parse_config); weights ``triplet`` 1, ``ce`` 0.1 (0: no classifier, no
      features), ``ap`` 0.1; ``anneal`` 0.01 (Smooth-AP's default).
    Reference followed: zhongzhou-code/Video_Retrieval train.py, triplet_loss.py, ap_loss.py (bf51c0c).
    """
    from .video_retrieval import VideoRetrievalLoss

    return VideoRetrievalLoss(bits, num_classes, multi_label, feature_dim,
                              number("loss.margin", margin, 0), number("loss.triplet", triplet, 0),
                              number("loss.ce", ce, 0), number("loss.ap", ap, 0),
                              number("loss.anneal", anneal, 0, low_open=True),
                              number("loss.lr_multiplier", lr_multiplier, 0, low_open=True))


FACTORIES.update({"video_retrieval": video_retrieval})


def adsh(gamma: float = 200.0, every: int = 1, bits: int = 64, num_classes: int = 2, multi_label: bool = False,
         num_train: int = 0) -> Any:
    """Asymmetric Deep Supervised Hashing (Jiang and Li, AAAI 2018): queries through the network, database
    codes V as variables updated in closed form between epochs.

    (sum_ij (u_i . V_j - bits * S_ij)^2 + ``gamma`` * sum_i ||V_idx_i - u_i||^2) / (N B), S the soft
    similarity s (1 + r) - r; before every ``every``-th epoch one sweep of discrete cyclic coordinate
    descent sets V from every clip's latest code (a memory bank). V, the bank and the update epoch are
    buffers (``--resume`` restores them). Use the ``tanh`` head.

    - ``gamma``: weight of the quantisation term (default 200, the authors'); ``every``: epochs between
      V updates (default 1).
    Reference followed: the authors' jiangqy/ADSH-AAAI2018 ADSH_pytorch (FIRe's adsh.py is another method).
    """
    from .adsh import ADSHLoss

    every = number("loss.every", every, 1)
    if int(every) != every:
        raise ValueError(f"loss.every: a whole number of epochs, got {every!r}")
    return ADSHLoss(bits, num_classes, multi_label, num_train, number("loss.gamma", gamma, 0), int(every))


FACTORIES.update({"adsh": adsh})
