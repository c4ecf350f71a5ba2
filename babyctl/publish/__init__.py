"""``babyctl publish`` and ``babyctl card``: release LoRA adapters to the Hugging Face Hub.

Small modules, one job each:

* :mod:`.licenses` -- what each known base-model license asks of a derivative;
* :mod:`.release`  -- find the run to release and everything it is tied to;
* DVC state (``dvc.lock``, ``dvc status``) comes from :mod:`babyctl.tracked`, as for audit;
* :mod:`.card`     -- render the model card (README.md with YAML metadata);
* :mod:`.gates`    -- every reason not to publish, collected;
* :mod:`.stage`    -- write the release folder (allowlist only, SHA256SUMS);
* :mod:`.hub`      -- push a staged folder: one commit, then one tag;
* :mod:`.flow`     -- the two commands, tying the above together.

Nothing here imports torch, transformers or peft: a release is files and hashes.
"""
