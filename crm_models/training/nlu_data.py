"""Rasa NLU training data as the trainer inbox reads and writes it.

The inbox writes one file of its own, ``inbox.yml`` in the NLU folder (Rasa 3.x YAML,
``version: "3.1"``, one ``- intent: ... examples: |`` block per intent, sorted), and
never touches the hand-written files next to it. Every write:

1. reads what the NLU folder already says: a new example whose normalised text is
   already an example of the same intent is a duplicate (not written twice); one that
   is an example of *another* intent anywhere in the folder is held back with a
   warning, unless the label is forced;
2. replaces the file atomically (a temporary file in the same folder, then rename);
3. runs ``rasa data validate`` in the Rasa environment (a subprocess: this side never
   imports rasa) and, if that fails, puts the previous file back and reports why.

The domain's intents and entities are read from its YAML files, for the same reason.

Example texts carry entities as Rasa inline markup, ``where is [541812](order_number)``
(or ``[text](entity:value)``, or ``[text]{"entity": "..."}``). A text that still holds
a masking placeholder such as ``[ORDER]`` is refused: placeholders must never become
training data. ``suggest_example`` offers a text in which each placeholder is replaced
by a realistic made-up value, annotated where the domain has an entity for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path
from typing import Any

import yaml

from crm_models.errors import ConfigError, DataError
from crm_models.feedback import masking
from crm_models.settings import ROOT, Settings

logger = logging.getLogger(__name__)

INBOX_FILE = "inbox.yml"
RASA_BIN = ROOT / ".venv-bot" / "bin" / "rasa"
YAML_VERSION = "3.1"
FALLBACK_INTENT = "nlu_fallback"  # a prediction, never a label
OUT_OF_SCOPE_INTENT = "out_of_scope"
MAX_EXAMPLE = 500  # characters of one training example
VALIDATE_TIMEOUT = 900  # seconds
_TAIL_LINES = 12

HEADER = """\
# Written by the trainer inbox (python -m crm_models.training.inbox, /console/inbox)
# from trainers' decisions on real customer messages. Every write renders this file
# anew (comments are lost); the hand-written examples are in the other files of this
# folder, which the inbox never changes.
"""

# [text](entity), [text](entity:value) or [text]{"entity": ...}.
_MARKUP = re.compile(
    r"\[(?P<text>[^\[\]]+)\]"
    r"(?:\((?P<entity>[^():]+)(?::(?P<value>[^()]+))?\)|\{(?P<json>[^{}]+)\})"
)
_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(masking.LABELS) + r")\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_EDGE_PUNCTUATION = " \t.,;:!?¡¿\"'`()"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ERROR_LINE = re.compile(r"Exception|Error\b|ERROR")

# Made-up values for masked personal data: entity name (None: plain text), values.
# Order numbers look like the shop's (six digits from 536000 to 581999); the phone
# numbers are from Ofcom's drama range, the card is a well-known test number.
_EXAMPLE_VALUES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    masking.ORDER: ("order_number", ("541812", "553107", "562331", "548902")),
    masking.EMAIL: ("email", ("sam.taylor@example.com", "jo.smith@example.org")),
    masking.PHONE: (None, ("07700 900123", "020 7946 0958")),
    masking.CARD: (None, ("4111 1111 1111 1111",)),
    masking.POSTCODE: (None, ("SW1A 1AA", "M1 1AE")),
    masking.ADDRESS: (None, ("12 Baker Street", "4 Mill Lane")),
}


# --- texts and markup -------------------------------------------------------------


def clean_line(text: str) -> str:
    """``text`` on one line: control characters and runs of blanks become one space."""
    return " ".join(_CONTROL.sub(" ", text).split())


def normalise(text: str) -> str:
    """The form two texts are compared in: case-folded, single-spaced, no edge marks.

    ``"Where is my order?"`` and ``"where  is my order"`` are the same text.
    """
    return " ".join(clean_line(text).casefold().split()).strip(_EDGE_PUNCTUATION)


def has_placeholder(text: str) -> bool:
    """Whether ``text`` still holds a masking placeholder such as ``[ORDER]``."""
    return _PLACEHOLDER.search(text) is not None


def plain_text(example: str) -> str:
    """The text of an example without its entity markup."""
    return _MARKUP.sub(lambda m: m.group("text"), example)


@dataclass(frozen=True)
class EntitySpan:
    """One annotated entity of an example."""

    entity: str
    text: str
    value: str | None = None


@dataclass(frozen=True)
class Example:
    """A checked training example: its markup as written and its plain text."""

    markup: str
    plain: str
    entities: tuple[EntitySpan, ...] = ()

    @property
    def key(self) -> str:
        """The normalised plain text, for duplicates and conflicts."""
        return normalise(self.plain)


def parse_example(text: str, *, entities: Iterable[str]) -> Example:
    """Check a trainer's example and read its entity markup.

    Args:
        text: the example, entities as Rasa inline markup.
        entities: the entity names of the domain.

    Raises:
        DataError: the text is empty or too long, still holds a masking placeholder,
            has broken markup or an entity the domain does not know.
    """
    markup = clean_line(text)
    if not markup:
        raise DataError("the example is empty")
    if len(markup) > MAX_EXAMPLE:
        raise DataError(f"the example is longer than {MAX_EXAMPLE} characters")
    found = sorted({m.group() for m in _PLACEHOLDER.finditer(markup)})
    if found:
        raise DataError(
            f"the example still holds the masking placeholder(s) {', '.join(found)}: "
            "replace each with a realistic made-up value, e.g. "
            "[541812](order_number) for [ORDER]; masked text never becomes "
            "training data"
        )
    known = set(entities)
    spans = []
    for match in _MARKUP.finditer(markup):
        if match.group("json") is not None:
            span = _json_span(match.group("text"), match.group())
        else:
            value = match.group("value")
            span = EntitySpan(
                match.group("entity").strip(),
                match.group("text"),
                value.strip() if value else None,
            )
        if span.entity not in known:
            raise DataError(
                f"unknown entity {span.entity!r} in {match.group()!r}; "
                f"the domain's entities are {', '.join(sorted(known)) or 'none'}"
            )
        if not span.text.strip():
            raise DataError(f"empty entity text in {match.group()!r}")
        spans.append(span)
    plain = plain_text(markup)
    if re.search(r"\]\(|\]\{", plain):
        raise DataError(
            f"broken entity markup in {markup!r}: write [text](entity_name)"
        )
    if not plain.strip(_EDGE_PUNCTUATION):
        raise DataError("the example has no words")
    return Example(markup=markup, plain=plain, entities=tuple(spans))


def _json_span(text: str, markup: str) -> EntitySpan:
    try:
        data = json.loads("{" + markup.split("]{", 1)[1])
    except ValueError as exc:
        raise DataError(f"the entity markup {markup!r} is not valid JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("entity"), str):
        raise DataError(f'the entity markup {markup!r} needs an "entity" name')
    value = data.get("value")
    return EntitySpan(data["entity"], text, str(value) if value is not None else None)


def suggest_example(
    masked: str,
    entities: Sequence[Mapping[str, Any]] = (),
    *,
    domain_entities: Iterable[str] = (),
) -> str:
    """A training example to start from: placeholders replaced, entities marked.

    Each placeholder becomes a made-up value (annotated when the domain has the
    entity: ``[ORDER]`` -> ``[541812](order_number)``). An entity NLU found whose
    (masked) value occurs once in the text, and that the domain knows, is annotated
    too. The trainer sees and edits the result before it is used.

    Args:
        masked: the customer's masked text.
        entities: the entities NLU predicted (``MessageLog.entities``).
        domain_entities: the entity names of the domain.
    """
    known = set(domain_entities)
    text = clean_line(masked)
    for entity in entities:
        name, value = entity.get("entity"), entity.get("value")
        if (
            not isinstance(name, str)
            or name not in known
            or not isinstance(value, str)
            or has_placeholder(value)
            or not value.strip()
        ):
            continue
        pattern = re.compile(rf"(?<![\w\[]){re.escape(value)}(?![\w\]])", re.IGNORECASE)
        if len(pattern.findall(text)) == 1 and not _inside_markup(text, pattern):
            text = pattern.sub(lambda m, n=name: f"[{m.group()}]({n})", text)

    values = {label: cycle(options) for label, (_, options) in _EXAMPLE_VALUES.items()}

    def replace(match: re.Match[str]) -> str:
        label = match.group()[1:-1]
        entity, _ = _EXAMPLE_VALUES[label]
        value = next(values[label])
        return f"[{value}]({entity})" if entity in known else value

    return _PLACEHOLDER.sub(replace, text)


def _inside_markup(text: str, pattern: re.Pattern[str]) -> bool:
    match = pattern.search(text)
    return match is not None and any(
        m.start() <= match.start() < m.end() for m in _MARKUP.finditer(text)
    )


# --- the domain ---------------------------------------------------------------------


@dataclass(frozen=True)
class DomainVocabulary:
    """The intents and entities a Rasa domain declares."""

    intents: frozenset[str]
    entities: frozenset[str]

    def labels(self) -> list[str]:
        """The intents a trainer may give a message (every one but the fallback)."""
        return sorted(self.intents - {FALLBACK_INTENT})

    def check_label(self, intent: str) -> str:
        """``intent`` if a message may be labelled with it.

        Raises:
            DataError: the domain has no such intent, or it is the fallback.
        """
        if intent == FALLBACK_INTENT:
            raise DataError(
                f"{FALLBACK_INTENT} is what the bot predicts when unsure, not a label; "
                f"pick the intent the customer meant, or {OUT_OF_SCOPE_INTENT}"
            )
        if intent not in self.intents:
            raise DataError(
                f"{intent!r} is not an intent of the domain; choose one of "
                + ", ".join(self.labels())
            )
        return intent


def _yaml_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml"))


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        raise DataError(f"{where}: not valid YAML ({exc.problem})") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from exc


def _names(items: Any, path: Path, key: str) -> set[str]:
    if items is None:
        return set()
    if not isinstance(items, list):
        raise DataError(f"{path}: {key} must be a list")
    names = set()
    for item in items:
        if isinstance(item, str):
            names.add(item)
        elif isinstance(item, dict) and len(item) == 1:
            names.add(str(next(iter(item))))
        else:
            raise DataError(f"{path}: {key} has an entry that is not a name: {item!r}")
    return names


def load_domain(domain: Path) -> DomainVocabulary:
    """The intents and entities of the domain file or folder ``domain``.

    Raises:
        ConfigError: the domain is missing or declares no intent.
        DataError: a domain file is not valid YAML or has a malformed list.
    """
    if not domain.exists():
        raise ConfigError(f"no Rasa domain at {domain} (SHOP_DOMAIN_DIR)")
    intents: set[str] = set()
    entities: set[str] = set()
    for path in _yaml_files(domain):
        data = _load_yaml(path)
        if not isinstance(data, dict):
            continue
        intents |= _names(data.get("intents"), path, "intents")
        entities |= _names(data.get("entities"), path, "entities")
    if not intents:
        raise ConfigError(f"the Rasa domain at {domain} declares no intents")
    return DomainVocabulary(frozenset(intents), frozenset(entities))


# --- reading NLU data ---------------------------------------------------------------


@dataclass(frozen=True)
class ExampleSource:
    """Where an example is: its intent, file and line (from 1)."""

    intent: str
    path: Path
    line: int
    markup: str

    def describe(self, root: Path | None = None) -> str:
        """``intent in file line N``, the file relative to ``root`` when inside."""
        shown = self.path
        if root is not None:
            with contextlib.suppress(ValueError):
                shown = self.path.relative_to(root)
        line = f" line {self.line}" if self.line else ""
        return f"{self.intent} in {shown}{line}"


def _mapping_value(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _examples_of(node: yaml.Node) -> Iterator[tuple[str, int]]:
    """The examples of an ``examples:`` node with their 1-based line numbers."""
    if isinstance(node, yaml.ScalarNode):
        # A block scalar ("|") starts on the line after its indicator.
        first = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
        for offset, line in enumerate(node.value.split("\n")):
            stripped = line.strip()
            if stripped.startswith("- "):
                yield stripped[2:].strip(), first + offset
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            text = _mapping_value(item, "text")
            if isinstance(text, yaml.ScalarNode) and text.value.strip():
                yield clean_line(text.value), item.start_mark.line + 1


def read_file_examples(path: Path) -> list[ExampleSource]:
    """Every intent example of one NLU YAML file, in file order.

    Raises:
        DataError: the file is not valid YAML.
    """
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        raise DataError(f"{where}: not valid YAML ({exc.problem})") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from exc
    if not isinstance(root, yaml.MappingNode):
        return []
    nlu = _mapping_value(root, "nlu")
    if not isinstance(nlu, yaml.SequenceNode):
        return []
    found = []
    for item in nlu.value:
        if not isinstance(item, yaml.MappingNode):
            continue
        intent = _mapping_value(item, "intent")
        examples = _mapping_value(item, "examples")
        if not isinstance(intent, yaml.ScalarNode) or examples is None:
            continue
        for markup, line in _examples_of(examples):
            found.append(ExampleSource(intent.value, path, line, markup))
    return found


def read_examples(nlu_dir: Path) -> dict[str, list[ExampleSource]]:
    """Every example of the NLU folder by normalised plain text."""
    index: dict[str, list[ExampleSource]] = {}
    for path in _yaml_files(nlu_dir):
        for source in read_file_examples(path):
            index.setdefault(normalise(plain_text(source.markup)), []).append(source)
    return index


def read_inbox(path: Path) -> dict[str, list[str]]:
    """The inbox file's examples by intent (empty if there is no file).

    Raises:
        DataError: the file exists but is not inbox-shaped NLU YAML.
    """
    if not path.exists():
        return {}
    data = _load_yaml(path)
    blocks = data.get("nlu") if isinstance(data, dict) else None
    if data is not None and not isinstance(blocks, list):
        raise DataError(f"{path}: expected a top-level 'nlu' list")
    examples: dict[str, list[str]] = {}
    for number, block in enumerate(blocks or [], start=1):
        if not isinstance(block, dict) or not isinstance(block.get("intent"), str):
            raise DataError(f"{path}: nlu entry {number} has no intent")
        text = block.get("examples") or ""
        if not isinstance(text, str):
            raise DataError(f"{path}: nlu entry {number} examples must be a '|' block")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        bad = [line for line in lines if not line.startswith("- ")]
        if bad:
            raise DataError(
                f"{path}: intent {block['intent']}: {bad[0]!r} is not a '- ' example"
            )
        examples.setdefault(block["intent"], []).extend(
            line[2:].strip() for line in lines
        )
    return examples


def render_inbox(examples: Mapping[str, Sequence[str]]) -> str:
    """The inbox file's text: the header, then one block per intent, sorted."""
    lines = [HEADER.rstrip("\n"), f'version: "{YAML_VERSION}"', "", "nlu:"]
    for intent in sorted(examples):
        if not examples[intent]:
            continue
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {clean_line(example)}" for example in examples[intent]]
    if lines[-1] == "nlu:":
        lines[-1] = "nlu: []"
    return "\n".join(lines) + "\n"


# --- writing ------------------------------------------------------------------------


@dataclass(frozen=True)
class NluPaths:
    """Where Rasa's training data is; the inbox file is ``nlu_dir / inbox.yml``."""

    nlu_dir: Path
    data_dir: Path
    domain: Path
    config: Path
    rasa_bin: Path = RASA_BIN
    cwd: Path = ROOT  # where bot.components is importable

    @classmethod
    def from_settings(cls, settings: Settings) -> NluPaths:
        """The paths of ``settings`` (the repository's by default)."""
        return cls(
            nlu_dir=settings.nlu_dir,
            data_dir=settings.data_dir,
            domain=settings.domain_dir,
            config=settings.rasa_config,
        )

    @property
    def inbox_file(self) -> Path:
        """The file the inbox writes."""
        return self.nlu_dir / INBOX_FILE

    def validate_command(self) -> list[str]:
        """``rasa data validate`` for these paths (relative to ``cwd`` when inside)."""
        return [
            str(self.rasa_bin),
            "data",
            "validate",
            "--config", self._shown(self.config),
            "--domain", self._shown(self.domain),
            "--data", self._shown(self.data_dir),
        ]  # fmt: skip

    def _shown(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.cwd.resolve()))
        except ValueError:
            return str(path)


@dataclass(frozen=True)
class ValidateResult:
    """How ``rasa data validate`` ended and the last lines it printed."""

    ok: bool
    returncode: int
    tail: list[str]


ValidateRunner = Callable[[Sequence[str], Path, Mapping[str, str]], ValidateResult]


def run_validate(
    command: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> ValidateResult:
    """Run the validate command; stdout and stderr are kept, not shown."""
    try:
        done = subprocess.run(
            list(command),
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=VALIDATE_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        return ValidateResult(
            False, 127, [f"{command[0]} not found: build the Rasa environment"]
        )
    except subprocess.TimeoutExpired:
        return ValidateResult(False, -1, [f"no answer within {VALIDATE_TIMEOUT} s"])
    return ValidateResult(
        done.returncode == 0, done.returncode, _tail(done.stdout + done.stderr)
    )


def _tail(output: str) -> list[str]:
    """What explains a validation's outcome: from its first error, else the end."""
    lines = [_ANSI.sub("", line).rstrip() for line in re.split(r"[\r\n]+", output)]
    lines = [line for line in lines if line.strip() and "it/s" not in line]
    for number, line in enumerate(lines):
        if _ERROR_LINE.search(line):
            return lines[number : number + _TAIL_LINES]
    return lines[-_TAIL_LINES:]


def validate_env(cwd: Path) -> dict[str, str]:
    """The environment of the validate subprocess: ours, with the repo importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(cwd)
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["RASA_TELEMETRY_ENABLED"] = "false"  # no usage data or crash reports sent
    return env


@dataclass(frozen=True)
class Label:
    """One example to write under an intent.

    ``forced``: written even if another intent has the same text. ``ref`` lets the
    caller match results to its own records (the inbox passes decision ids).
    """

    intent: str
    example: Example
    forced: bool = False
    ref: int | None = None


@dataclass
class WriteReport:
    """What a write did: examples added, duplicates, held back; warnings, error."""

    path: Path
    added: list[Label] = field(default_factory=list)
    duplicates: list[Label] = field(default_factory=list)
    held: list[Label] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changed: bool = False  # the file was replaced (and validated)
    error: str | None = None  # validation failed: the previous file is back
    removed: list[str] = field(default_factory=list)  # examples taken out (undo)

    @property
    def ok(self) -> bool:
        """No error (held-back labels are warnings, not errors)."""
        return self.error is None

    def handled(self, ref: int) -> bool:
        """Whether every label with ``ref`` is now in the file (added or there)."""
        mine = [x for x in (*self.added, *self.duplicates, *self.held) if x.ref == ref]
        return bool(mine) and self.ok and all(x not in self.held for x in mine)


def conflicts(
    label: Label, index: Mapping[str, Sequence[ExampleSource]]
) -> list[ExampleSource]:
    """Where ``label``'s text is already an example of another intent."""
    return [s for s in index.get(label.example.key, ()) if s.intent != label.intent]


def conflict_warning(label: Label, sources: Sequence[ExampleSource], root: Path) -> str:
    """The trainer-facing warning for a text another intent already has."""
    where = "; ".join(s.describe(root) for s in sources[:3])
    return (
        f"{label.example.plain!r} is already an example of {where}: "
        f"not written as {label.intent}. Pick that intent, change the text, or "
        "force it if the existing example is wrong."
    )


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (and threads) that write the inbox."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` at once (a temporary file, then a rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class NluWriter:
    """Writes labels into the inbox's NLU file, validating every change.

    Args:
        paths: the training data, domain and config.
        runner: runs ``rasa data validate`` (tests pass a fake).
        lock: the lock file that serialises writers.
    """

    def __init__(
        self,
        paths: NluPaths,
        *,
        runner: ValidateRunner = run_validate,
        lock: Path,
    ) -> None:
        self.paths = paths
        self.runner = runner
        self.lock = lock

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the writers' lock (callers that check, write and record in one go)."""
        return file_lock(self.lock)

    def write(self, labels: Sequence[Label]) -> WriteReport:
        """Add ``labels`` to the inbox file; the caller holds ``locked()``.

        Labels are taken in order; of two labels for the same text, the later one
        decides. Nothing is written when nothing changes.
        """
        path = self.paths.inbox_file
        report = WriteReport(path)
        current = read_inbox(path)
        index = read_examples(self.paths.nlu_dir)
        examples = {intent: list(lines) for intent, lines in current.items()}
        inbox_keys = {
            normalise(plain_text(line)): intent
            for intent, lines in current.items()
            for line in lines
        }

        for label in labels:
            key = label.example.key
            in_inbox = inbox_keys.get(key)
            hand_written = [s for s in index.get(key, ()) if s.path != path]
            if in_inbox == label.intent or any(
                s.intent == label.intent for s in hand_written
            ):
                report.duplicates.append(label)
                continue
            others = [s for s in hand_written if s.intent != label.intent]
            if in_inbox is not None:
                others.append(self._inbox_source(index, key, in_inbox))
            if others and not label.forced:
                report.held.append(label)
                report.warnings.append(conflict_warning(label, others, self.paths.cwd))
                continue
            if in_inbox is not None:  # forced: the latest label moves the example
                examples[in_inbox] = [
                    e for e in examples[in_inbox] if normalise(plain_text(e)) != key
                ]
                report.warnings.append(
                    f"{label.example.plain!r} moved from {in_inbox} to {label.intent}"
                )
            if hand_written and others:
                report.warnings.append(
                    f"{label.example.plain!r} written as {label.intent} although it "
                    f"is an example of {others[0].describe(self.paths.cwd)} (forced)"
                )
            examples.setdefault(label.intent, []).append(label.example.markup)
            inbox_keys[key] = label.intent
            report.added.append(label)

        if report.added:
            self._replace(path, render_inbox(examples), report)
        return report

    def remove(self, intent: str, keys: Collection[str]) -> WriteReport:
        """Take ``intent``'s examples whose normalised text is in ``keys`` out of
        the inbox file, and validate; the caller holds ``locked()``.

        The same text under another intent (a later, forced label) stays.
        """
        path = self.paths.inbox_file
        report = WriteReport(path)
        current = read_inbox(path)
        lines = current.get(intent, [])
        kept = [e for e in lines if normalise(plain_text(e)) not in keys]
        report.removed = [e for e in lines if e not in kept]
        if report.removed:
            current[intent] = kept
            self._replace(path, render_inbox(current), report)
        return report

    def _inbox_source(
        self, index: Mapping[str, Sequence[ExampleSource]], key: str, intent: str
    ) -> ExampleSource:
        path = self.paths.inbox_file
        for source in index.get(key, ()):
            if source.path == path and source.intent == intent:
                return source
        return ExampleSource(intent, path, 0, key)  # added earlier in this write

    def _replace(self, path: Path, text: str, report: WriteReport) -> None:
        previous = path.read_bytes() if path.exists() else None
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)
        result = self.runner(
            self.paths.validate_command(), self.paths.cwd, validate_env(self.paths.cwd)
        )
        if result.ok:
            report.changed = True
            logger.info(
                "training.nlu_data.written added=%d duplicates=%d held=%d removed=%d",
                len(report.added),
                len(report.duplicates),
                len(report.held),
                len(report.removed),
            )
            return
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write(path, previous.decode("utf-8"))
        logger.error("training.nlu_data.validate_failed code=%d", result.returncode)
        detail = " | ".join(result.tail[:6]) or "no output"
        report.error = (
            f"rasa data validate failed (exit code {result.returncode}); "
            f"{path.name} was put back as it was. {detail}"
        )
