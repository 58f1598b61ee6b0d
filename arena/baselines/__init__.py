"""Reference downstream models, each a model file for ``arena-eval baseline:NAME``.

Every baseline follows the model-file contract of :mod:`arena.eval.modelfile`: ``INPUT``,
``HPARAMS`` and ``build_model(spec)``. They need torch (``[eval]``).

- ``mlp``: an MLP on the flat parameter vector.
- ``gnn``: the message-passing GNN over neural graphs (Kofinas et al., ICLR 2024).
- ``dws``: a DWSNet (Navon et al., ICML 2023).
- ``transformer``: the Relational Transformer over neural graphs (Kofinas et al., ICLR 2024).
"""

NAMES = ("mlp", "gnn", "dws", "transformer")
