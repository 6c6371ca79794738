"""Go back to the models that were live before the last promotion: ``make rollback``.

    python -m crm_models.training.rollback [--only rasa|scoring] [--no-switch]

The Rasa model goes back to the version promoted before the current one (its copy
becomes ``shop.tar.gz`` and a running Rasa loads it), the scoring models to theirs
(the action server follows the ``current`` pointer by itself). Each rollback is
logged in the family's ``history.jsonl``; rolling back again steps further back.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from crm_models import artifacts
from crm_models.errors import ArtifactMissing, DataError
from crm_models.logs import quiet_http_logs
from crm_models.scoring.features import FEATURES
from crm_models.settings import Settings, get_settings
from crm_models.training.rasa_models import (
    Busy,
    RasaModels,
    RasaProject,
    exclusive,
    switch_running_model,
)

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; 1 when nothing could be rolled back."""
    parser = argparse.ArgumentParser(
        prog="python -m crm_models.training.rollback",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--only", choices=("rasa", "scoring"))
    parser.add_argument("--no-switch", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    quiet_http_logs()  # no request URL (the API token) in the log
    settings = get_settings()
    try:
        with exclusive(settings.models_dir):
            return _rollback(settings, only=args.only, switch=not args.no_switch)
    except Busy as exc:
        print(f"rollback: {exc}", file=sys.stderr)  # noqa: T201
        return 1


def _rollback(settings: Settings, *, only: str | None, switch: bool) -> int:
    done = 0
    if only in (None, "rasa"):
        models = RasaModels(
            settings.models_dir / "rasa", RasaProject.from_settings(settings)
        )
        try:
            was = models.current()
            version = models.rollback()
        except (ArtifactMissing, DataError) as exc:
            print(f"rasa: {exc}", file=sys.stderr)  # noqa: T201
        else:
            done += 1
            print(f"rasa: {was} -> {version}")  # noqa: T201
            if switch:
                result = switch_running_model(
                    models.served, rasa_url=settings.rasa_url, token=settings.rasa_token
                )
                print(f"rasa: {result.message}")  # noqa: T201
    if only in (None, "scoring"):
        root = settings.models_dir / "scoring"
        try:
            was = artifacts.current_version(root)
            version = artifacts.rollback_target(root)
            features = artifacts.read_metadata(root / version).get("features")
            if features != list(FEATURES):
                # Trained before the features changed: the scorer could not load it.
                raise ArtifactMissing(
                    f"{version} was trained on other features than this code "
                    "computes; not rolled back (train again instead)"
                )
            artifacts.promote(root, version, reason="rollback")
        except (ArtifactMissing, DataError) as exc:
            print(f"scoring: {exc}", file=sys.stderr)  # noqa: T201
        else:
            done += 1
            print(f"scoring: {was} -> {version}")  # noqa: T201
    return 0 if done else 1


if __name__ == "__main__":
    raise SystemExit(main())
