"""A rich progress bar on stderr for a transformers ``Trainer``, which also collects the losses."""
from __future__ import annotations

from transformers import TrainerCallback


class TrainProgress(TrainerCallback):
    """Shows steps and the latest loss; keeps ``losses`` as (step, loss) pairs.

    The bar is drawn only when stderr is a terminal (rich's own check) and ``enabled``.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.losses: list[tuple[int, float]] = []
        self.valid_losses: list[tuple[int, float]] = []  # (step, validation loss)
        self._progress = None
        self._task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        self._progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[loss]}"), TimeElapsedColumn(),
                                  console=console, disable=not console.is_terminal, transient=False)
        self._task = self._progress.add_task("train", total=state.max_steps, loss="")
        self._progress.start()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "eval_loss" in logs:
            self.valid_losses.append((int(state.global_step), float(logs["eval_loss"])))
        if logs and "loss" in logs:
            loss = float(logs["loss"])
            self.losses.append((int(state.global_step), loss))
            if self._progress is not None:
                self._progress.update(self._task, loss=f"loss {loss:.4f}")

    def on_step_end(self, args, state, control, **kwargs):
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    def close(self) -> None:
        """Stop the bar (also after a failed run, so the terminal is left clean)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
