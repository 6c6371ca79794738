"""The trainer inbox's command line: ``python -m crm_models.training.inbox``.

    list [--limit N] [--examples K]       the groups, largest first
    label GROUP INTENT [--text EXAMPLE]... [--messages IDS] [--trainer NAME]
        [--force] [--no-write]            confirm or correct the intent
    out-of-scope GROUP [same options]     intent out_of_scope
    skip GROUP [--messages IDS] [--trainer NAME]
    write                                 write recorded labels into the NLU file
    summary                               counts, without grouping

Exit codes: 0 done, 1 nothing recorded or written (a conflict warning or a failed
``rasa data validate``; the reason is printed), 2 bad input.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence

from crm_models.errors import ShopBotError
from crm_models.settings import get_settings
from crm_models.store.schema import InboxDecisionKind
from crm_models.training.inbox import (
    Action,
    DecisionRequest,
    DecisionResult,
    Group,
    TrainerInbox,
    UndoResult,
)
from crm_models.training.nlu_data import WriteReport

logger = logging.getLogger(__name__)


def _id_list(raw: str) -> tuple[int, ...]:
    try:
        ids = tuple(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a list of message ids such as 12,15,31"
        ) from exc
    if not ids:
        raise argparse.ArgumentTypeError("name at least one message id")
    return ids


def _default_trainer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "trainer"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m crm_models.training.inbox",
        description="The trainer inbox: label what the bot got wrong.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="the groups, largest first")
    listing.add_argument("--limit", type=int, default=20, help="groups shown (20)")
    listing.add_argument(
        "--examples", type=int, default=5, help="texts shown per group (5)"
    )
    for name, helptext in (
        ("label", "confirm or correct the intent of a group"),
        ("out-of-scope", "mark a group out of scope (intent out_of_scope)"),
        ("skip", "take a group out of the inbox without a label"),
    ):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("group", type=int, help="the group's number from list")
        if name == "label":
            command.add_argument("intent", help="an intent of the domain")
        command.add_argument(
            "--messages",
            type=_id_list,
            default=(),
            help="only these message ids of the group, e.g. 12,15",
        )
        command.add_argument("--trainer", default=_default_trainer())
        if name != "skip":
            command.add_argument(
                "--text",
                action="append",
                default=[],
                help="a training example, entities as [541812](order_number); "
                "repeat for more (default: the suggested example)",
            )
            command.add_argument(
                "--force",
                action="store_true",
                help="write even if another intent has the same text",
            )
            command.add_argument(
                "--no-write",
                action="store_true",
                help="record only; `write` puts the labels into the NLU file",
            )
    commands.add_parser("write", help="write recorded labels into the NLU file")
    undo = commands.add_parser(
        "undo",
        help="take a decision back: its examples leave the NLU file and its "
        "messages return to the inbox",
    )
    undo.add_argument("decision", type=int, help="the decision's number")
    commands.add_parser("summary", help="counts of the inbox (no grouping)")
    return parser


def format_groups(groups: Sequence[Group], *, examples: int = 5) -> str:
    """The groups as the ``list`` command prints them."""
    if not groups:
        return "The inbox is empty."
    lines = [
        f"{len(groups)} group(s), {sum(g.size for g in groups)} message(s), "
        "largest first:"
    ]
    for group in groups:
        reasons = ", ".join(f"{r.label} {n}" for r, n in group.reasons)
        predicted = ", ".join(f"{name} {n}" for name, n in group.predicted)
        top = group.predicted[0][0]
        guess = f"   guess: {group.guess}" if group.guess not in (None, top) else ""
        lines += [
            "",
            f"group {group.id}: {group.size} message(s), "
            f"{len(group.variants)} text(s); {reasons}",
            f"  predicted: {predicted}{guess}",
        ]
        lines += [f"  {v.count:4d}x  {v.text}" for v in group.variants[:examples]]
        if len(group.variants) > examples:
            lines.append(f"        ... {len(group.variants) - examples} more text(s)")
        lines.append(f"  suggested example: {group.suggestion}")
    return "\n".join(lines)


def format_report(report: WriteReport) -> list[str]:
    """What a write did, one line each."""
    lines = [f"warning: {w}" for w in report.warnings]
    if report.error:
        lines.append(f"error: {report.error}")
    elif report.changed:
        lines.append(
            f"wrote {report.path}: {len(report.added)} example(s) added, "
            f"{len(report.duplicates)} already there; rasa data validate passed"
        )
    elif report.duplicates:
        lines.append(f"{report.path}: every example was there already")
    return lines


def format_result(result: DecisionResult) -> list[str]:
    """What came of a decision, one line each."""
    lines: list[str] = []
    if result.recorded:
        what = (
            "skipped"
            if result.kind is InboxDecisionKind.SKIPPED
            else f"labelled {result.intent} ({result.kind})"
        )
        lines.append(
            f"decision {result.decision_id}: {len(result.message_ids)} message(s) "
            f"{what}"
        )
        lines += [f"  example: {e}" for e in result.examples]
    if result.report is not None:
        lines += format_report(result.report)
    else:
        lines += [f"warning: {w}" for w in result.warnings]
    if not result.recorded:
        if result.error and result.report is None:
            lines.append(f"error: {result.error}")
        lines.append("nothing recorded")
    elif result.kind is not InboxDecisionKind.SKIPPED and result.report is None:
        lines.append("not written yet: run `python -m crm_models.training.inbox write`")
    return lines


def format_undo(result: UndoResult) -> list[str]:
    """What came of an undo, one line each."""
    report = result.report
    if not result.undone:
        return [f"error: {report.error}", f"decision {result.decision_id} kept"]
    lines = [
        f"decision {result.decision_id} taken back: "
        f"{len(result.message_ids)} message(s) back in the inbox"
    ]
    if report.removed:
        lines.append(
            f"removed from {report.path}: {len(report.removed)} example(s); "
            "rasa data validate passed"
        )
        lines += [f"  example: {e}" for e in report.removed]
    return lines


def main(
    argv: Sequence[str] | None = None, *, inbox: TrainerInbox | None = None
) -> int:
    """Command line; 2 for bad input, 1 when nothing could be recorded or written."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    out = sys.stdout
    try:
        inbox = inbox or TrainerInbox(get_settings())
        if args.command == "list":
            groups = inbox.groups(limit=max(args.limit, 1))
            out.write(format_groups(groups, examples=max(args.examples, 1)) + "\n")
            return 0
        if args.command == "summary":
            summary = inbox.summary()
            reasons = ", ".join(f"{k} {v}" for k, v in summary.by_reason.items())
            out.write(
                f"queued: {summary.messages} message(s), {summary.texts} text(s)"
                f"{'; ' + reasons if reasons else ''}\n"
                f"decided: {summary.decisions} decision(s) on "
                f"{summary.decided_messages} message(s); "
                f"{summary.unwritten} label(s) not written yet\n"
            )
            return 0
        if args.command == "write":
            report = inbox.write()
            lines = format_report(report) or ["nothing to write"]
            out.write("\n".join(lines) + "\n")
            return 0 if report.ok else 1
        if args.command == "undo":
            undone = inbox.undo(args.decision)
            out.write("\n".join(format_undo(undone)) + "\n")
            return 0 if undone.undone else 1
        action = {
            "label": Action.LABEL,
            "out-of-scope": Action.OUT_OF_SCOPE,
            "skip": Action.SKIP,
        }[args.command]
        result = inbox.decide(
            DecisionRequest(
                action=action,
                trainer=args.trainer,
                group_id=args.group,
                message_ids=args.messages,
                intent=getattr(args, "intent", None),
                texts=tuple(getattr(args, "text", ())),
                force=getattr(args, "force", False),
                write=not getattr(args, "no_write", False),
            )
        )
        out.write("\n".join(format_result(result)) + "\n")
        return 0 if result.recorded else 1
    except ShopBotError as exc:
        sys.stderr.write(f"inbox: {exc}\n")
        return 2
