"""``babyctl revoke``: take published releases out of public reach after consent is withdrawn.

A withdrawal (or a ``no`` at the head of a consent chain) stops every new train, eval and
publish (:mod:`babyctl.consent`), but releases already on the Hub stay downloadable until
someone acts. :func:`revoke` makes each repo private (default) or gated (manual approval)
through ``huggingface_hub.HfApi.update_repo_settings``. It deletes nothing: the release and
its tags remain, for the record, for those with access.

The token comes from ``HF_TOKEN`` or the saved login; it is never printed or written.
"""
from __future__ import annotations

from dataclasses import dataclass

from .publish.hub import HubError, _translate, resolve_token
from .publish.release import check_repo_id


@dataclass(frozen=True)
class Revoked:
    repo_id: str
    private: bool
    gated: str | bool


def revoke(repo_ids: list[str], *, gated: bool = False, endpoint: str | None = None,
           token: str | None = None) -> list[Revoked]:
    """Make each of ``repo_ids`` private (or, with ``gated``, gated with manual approval).

    Every id is checked before any request is sent. Raises a :class:`~babyctl.publish.hub.HubError`
    subclass (auth, permission, not found, network) naming the repo; repos changed before the
    failure stay changed (running the command again is harmless).
    """
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    for repo_id in repo_ids:
        check_repo_id(repo_id)
    token = resolve_token(token)
    api = HfApi(endpoint=endpoint, token=token)
    done: list[Revoked] = []
    for repo_id in repo_ids:
        step = f"changing the settings of {repo_id}"
        try:
            if gated:
                api.update_repo_settings(repo_id, gated="manual")
            else:
                api.update_repo_settings(repo_id, private=True)
        except (HfHubHTTPError, OfflineModeIsEnabled, httpx.HTTPError, OSError, ValueError) as err:
            translated = _translate(err, step=step, repo_id=repo_id, token=token)
            if done:
                translated = type(translated)(f"{translated.message} (already revoked: "
                                              f"{', '.join(d.repo_id for d in done)})")
            raise translated from None
        done.append(Revoked(repo_id, private=not gated, gated="manual" if gated else False))
    return done


__all__ = ["HubError", "Revoked", "revoke"]
