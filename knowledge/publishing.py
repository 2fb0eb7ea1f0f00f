"""Publishing an index behind the golden questions (knowledge.golden): the new index is built beside the published
one, the golden questions run on both, and it is swapped in only when none of them got worse. The last few
published indexes are kept for a rollback.

A published index carries the knowledge it was built from (its `knowledge/` folder, golden.yml included): the bot
serves exactly what was published whatever the editors' folder holds meanwhile (knowledge.live), and a rollback
restores the answers together with the vectors."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from knowledge.calibration import calibration_fingerprint
from knowledge.encoders import Encoder
from knowledge.golden import (EXPECT_HANDOFF, GoldenQuestion, GoldenResult, golden_path, load_golden, parse_golden,
                              run_golden)
from knowledge.index import BuildReport, IndexManifest, IndexMismatch, load_index
from knowledge.indexing import build_index
from knowledge.loader import GOLDEN_FILE, KnowledgeError, knowledge_files, load_knowledge
from knowledge.model import Entry, KnowledgeBase, News
from knowledge.retriever import Retriever

KEEP = 5  # earlier published indexes kept for a rollback
SNAPSHOT = "knowledge"  # inside a published index: the knowledge files it was built from
ROLLED_BACK = "rolled-back.json"  # inside a published index: it was restored by a rollback
CANDIDATE = ".candidate"
MANIFEST = "manifest.json"


def kept_root(index_dir: Path) -> Path:
    """Beside the published index: the earlier ones (numbered, the highest the latest), the candidate, the lock."""
    index_dir = Path(index_dir)
    return index_dir.with_name(index_dir.name + ".kept")


def published_knowledge(index_dir: Path) -> Optional[Path]:
    """The knowledge files a published index was built from; None for an index built without them."""
    snapshot = Path(index_dir) / SNAPSHOT
    return snapshot if snapshot.is_dir() else None


def kept_indexes(index_dir: Path) -> List[Path]:
    """The earlier published indexes, the oldest first."""
    root = kept_root(index_dir)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.name.isdigit() and p.is_dir()), key=lambda p: int(p.name))


@contextmanager
def publishing_lock(index_dir: Path) -> Iterator[None]:
    """One build, publish or rollback at a time per index."""
    root = kept_root(index_dir)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- the published index, and what changed since -------------------------------------------------------------


@dataclass
class Published:
    directory: Path
    manifest: Optional[IndexManifest]
    kb: Optional[KnowledgeBase] = None  # the knowledge it serves; None when it cannot be compared
    golden: List[GoldenQuestion] = field(default_factory=list)  # the golden questions it was published with
    retriever: Optional[Retriever] = None
    problem: str = ""  # why it cannot be compared
    has_knowledge: bool = False  # it carries the knowledge it serves: only publishing replaces it

    @property
    def rolled_back(self) -> Optional[dict]:
        marker = self.directory / ROLLED_BACK
        return json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None


def open_published(index_dir: Path, encoder: Encoder, kb: Optional[KnowledgeBase] = None) -> Optional[Published]:
    """The index serving now, ready to answer the golden questions; None when there is none. An index built
    without its knowledge is opened with `kb` (the folder's) when it fits it."""
    index_dir = Path(index_dir)
    try:
        manifest = IndexManifest(**json.loads((index_dir / MANIFEST).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as error:
        return Published(index_dir, None, problem=f"its manifest cannot be read ({error})")
    snapshot = published_knowledge(index_dir)
    if snapshot is None:
        problem = "it was built before indexes kept their knowledge"
        try:
            if kb is not None:
                return Published(index_dir, manifest, kb, [],
                                 Retriever(kb, load_index(index_dir, kb=kb, encoder_name=encoder.name), encoder))
        except (IndexMismatch, OSError, ValueError):
            problem += ", and the knowledge folder has changed since"
        return Published(index_dir, manifest, problem=problem)
    try:
        kb = load_knowledge(snapshot)
        retriever = Retriever(kb, load_index(index_dir, kb=kb, encoder_name=encoder.name), encoder)
        golden = load_golden(snapshot)
    except (KnowledgeError, IndexMismatch, OSError, ValueError) as error:
        return Published(index_dir, manifest, problem=f"it cannot be loaded ({error})")
    return Published(index_dir, manifest, kb, golden, retriever, has_knowledge=True)


@dataclass
class Changes:
    added: List[str] = field(default_factory=list)
    changed: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)

    def describe(self, what: str) -> str:
        parts = [f"{len(ids)} {label}" + (f" ({', '.join(ids)})" if ids else "")
                 for label, ids in (("added", self.added), ("changed", self.changed), ("removed", self.removed))]
        return f"{what}: " + ", ".join(parts)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def _entry_content(entry: Entry) -> tuple:
    return entry.topic, sorted(entry.questions.items()), sorted(entry.answer.items()), entry.handoff


def _news_content(news: News) -> tuple:
    return news.about, sorted(news.text.items()), news.until


def _compare(before: Dict[str, object], after: Dict[str, object]) -> Changes:
    return Changes(added=sorted(set(after) - set(before)),
                   changed=sorted(i for i in set(after) & set(before) if after[i] != before[i]),
                   removed=sorted(set(before) - set(after)))


def entry_changes(published: Optional[Published], kb: KnowledgeBase) -> Changes:
    if published is not None and published.kb is not None:
        before = {e.id: _entry_content(e) for e in published.kb.entries}
        return _compare(before, {e.id: _entry_content(e) for e in kb.entries})
    # an index without its knowledge still knows its entries' contents by their hashes
    before = dict(published.manifest.entry_hashes) if published and published.manifest else {}
    return _compare(before, {e.id: e.content_hash() for e in kb.entries})


def news_changes(published: Optional[Published], kb: KnowledgeBase) -> Changes:
    before = {n.id: _news_content(n) for n in published.kb.news} if published and published.kb else {}
    return _compare(before, {n.id: _news_content(n) for n in kb.news})


def same_knowledge(a: KnowledgeBase, b: KnowledgeBase) -> bool:
    return not _compare({e.id: _entry_content(e) for e in a.entries}, {e.id: _entry_content(e) for e in b.entries}) \
        and not _compare({n.id: _news_content(n) for n in a.news}, {n.id: _news_content(n) for n in b.news})


# --- the gate -----------------------------------------------------------------------------------------------------


@dataclass
class GoldenCheck:
    after: GoldenResult  # on the new index
    before: Optional[GoldenResult]  # on the published one, when it can be compared
    known: bool  # a golden question of the published index already
    expect_missing: bool = False  # the expected entry is not in the new knowledge

    @property
    def question(self) -> GoldenQuestion:
        return self.after.question

    @property
    def failed_before(self) -> bool:
        return self.known and self.before is not None and not self.before.passed

    @property
    def blocks(self) -> bool:
        """Fails now, and either passed on the published index or is new: only a question that failed there
        already may go on failing."""
        return not self.after.passed and not self.failed_before

    @property
    def status(self) -> str:
        if self.after.passed:
            return "fixed" if self.before is not None and not self.before.passed else "ok"
        return "FAIL" if self.blocks else "fails"

    def describe(self) -> str:
        question = self.question
        missing = " (not an entry of the knowledge)" if self.expect_missing else ""
        line = (f'"{question.text}" ({question.where}): expected {question.expect}{missing}, '
                f"got {self.after.got.describe()}")
        if self.before is not None:
            line += f"; on the published index: {self.before.got.describe()}"
        if self.blocks and not self.known:
            line += "; a new golden question"
        elif not self.blocks and not self.after.passed:
            line += "; it failed on the published index too, so it does not stop the publish"
        return line


def check_golden(questions: Sequence[GoldenQuestion], new: Retriever,
                 published: Optional[Published]) -> List[GoldenCheck]:
    after = run_golden(questions, new)
    comparable = published is not None and published.retriever is not None
    before = run_golden(questions, published.retriever) if comparable else [None] * len(after)
    known = {q.key() for q in published.golden} if comparable else set()
    return [GoldenCheck(a, b, a.question.key() in known,
                        a.expected != EXPECT_HANDOFF and new.kb.get(a.expected) is None)
            for a, b in zip(after, before)]


@dataclass
class Candidate:
    """A new index built beside the published one, with its golden results and its changes."""

    directory: Path
    index_dir: Path
    kb: KnowledgeBase
    report: BuildReport
    published: Optional[Published]
    checks: List[GoldenCheck]
    entries: Changes
    news: Changes

    @property
    def failures(self) -> List[GoldenCheck]:
        return [check for check in self.checks if check.blocks]

    @property
    def passes_gate(self) -> bool:
        return not self.failures

    @property
    def replaces_a_serving_index(self) -> bool:
        """The published index serves on whatever the folder holds (an index built without its knowledge would
        be rebuilt from the folder by the bot itself)."""
        return self.published is not None and self.published.retriever is not None and self.published.has_knowledge

    def golden_summary(self) -> str:
        if not self.checks:
            return f"golden questions: none (add some to {GOLDEN_FILE}: docs/editors.md)"
        after = sum(check.after.passed for check in self.checks)
        text = f"golden questions: {after} of {len(self.checks)} pass"
        if self.checks[0].before is not None:
            text += f" (on the published index: {sum(check.before.passed for check in self.checks)})"
        elif self.published is not None:
            text += f" (not compared with the published index: {self.published.problem})"
        return text

    def failure_lines(self) -> List[str]:
        return ["  " + check.describe() for check in self.failures]


def prepare(knowledge_dir: Path, index_dir: Path, encoder: Encoder) -> Candidate:
    """Build the knowledge folder's index beside the published one and run the golden questions on both. Raises
    KnowledgeError (file and line) when the knowledge or golden.yml is broken; nothing is built then."""
    knowledge_dir, index_dir = Path(knowledge_dir), Path(index_dir)
    root = kept_root(index_dir)
    candidate_dir, snapshot = root / CANDIDATE, root / (CANDIDATE + "-" + SNAPSHOT)
    for leftover in (candidate_dir, snapshot):
        shutil.rmtree(leftover, ignore_errors=True)
    kb, golden = _copy_knowledge(knowledge_dir, snapshot)
    published = open_published(index_dir, encoder, kb)
    try:
        report = build_index(kb, encoder, candidate_dir, reuse=index_dir if published else None)
        report.live_after = None  # that early write reached the candidate only
        os.replace(snapshot, candidate_dir / SNAPSHOT)
        new = Retriever(kb, load_index(candidate_dir, kb=kb, encoder_name=encoder.name), encoder)
        checks = check_golden(golden, new, published)
    except BaseException:
        shutil.rmtree(candidate_dir, ignore_errors=True)
        shutil.rmtree(snapshot, ignore_errors=True)
        raise
    return Candidate(candidate_dir, index_dir, kb, report, published, checks,
                     entry_changes(published, kb), news_changes(published, kb))


def _copy_knowledge(knowledge_dir: Path, snapshot: Path) -> Tuple[KnowledgeBase, List[GoldenQuestion]]:
    """Copy the knowledge files, then load the copy: the index is built from exactly what it will serve. Problems
    name the editors' files."""
    files = knowledge_files(knowledge_dir)
    if golden_path(knowledge_dir).is_file():
        files.append(golden_path(knowledge_dir))
    for path in files:
        target = snapshot / path.relative_to(knowledge_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    snapshot.mkdir(parents=True, exist_ok=True)
    problems: List[Tuple[str, int, str]] = []
    kb = None
    try:
        kb = load_knowledge(snapshot)
    except KnowledgeError as error:
        problems.extend(error.problems)
    # an expected entry that is gone is the gate's to report, with what the bot does instead
    golden = parse_golden(golden_path(snapshot), None, problems)
    if problems:
        shutil.rmtree(snapshot, ignore_errors=True)
        raise KnowledgeError([(_in_folder(path, snapshot, knowledge_dir), line, message)
                              for path, line, message in problems])
    golden = [GoldenQuestion(q.text, q.expect, str(knowledge_dir / GOLDEN_FILE), q.line) for q in golden]
    return KnowledgeBase(directory=str(knowledge_dir), entries=kb.entries, news=kb.news), golden


def _in_folder(path: str, snapshot: Path, knowledge_dir: Path) -> str:
    try:
        return str(knowledge_dir / Path(path).relative_to(snapshot))
    except ValueError:
        return path


# --- publishing, discarding, rolling back -------------------------------------------------------------------------


def publish(candidate: Candidate) -> Optional[Path]:
    """Swap the candidate in; the index it replaces is kept for a rollback (where, returned), unless it was built
    without its knowledge: that one could not be served again."""
    index_dir, root = candidate.index_dir, kept_root(candidate.index_dir)
    kept, retired = None, None
    if index_dir.exists():
        if published_knowledge(index_dir) is not None:
            kept = root / str(max((int(p.name) for p in kept_indexes(index_dir)), default=0) + 1)
            os.replace(index_dir, kept)
        else:
            retired = root / f".retired-{time.time_ns()}"
            os.replace(index_dir, retired)
    os.replace(candidate.directory, index_dir)
    candidate.report.directory = index_dir
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
    for old in kept_indexes(index_dir)[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return kept


def discard(candidate: Candidate) -> None:
    shutil.rmtree(candidate.directory, ignore_errors=True)


class NothingToRollBack(RuntimeError):
    pass


def rollback(index_dir: Path, encoder: Encoder) -> str:
    """Serve the latest kept index again; the one serving now is dropped, so that rolling back again goes one
    further back. Returns what was done."""
    index_dir = Path(index_dir)
    with publishing_lock(index_dir):
        kept = kept_indexes(index_dir)
        if not kept:
            raise NothingToRollBack(f"no earlier index is kept for {index_dir}: nothing to roll back to")
        target = kept[-1]
        restored = open_published(target, encoder)
        if restored is None or not restored.has_knowledge:
            raise NothingToRollBack(f"the kept index {target} cannot be served again: "
                                    f"{restored.problem if restored else 'it has no manifest'}")
        replaced = _read_manifest(index_dir)
        (target / ROLLED_BACK).write_text(json.dumps({"at": time.time()}), encoding="utf-8")
        os.utime(target / MANIFEST)  # the bot follows the manifest's time stamp: it must change
        retired = kept_root(index_dir) / f".retired-{time.time_ns()}"
        if index_dir.exists():
            os.replace(index_dir, retired)
        os.replace(target, index_dir)
        shutil.rmtree(retired, ignore_errors=True)
    return "\n".join([
        f"rolled back: {index_dir} serves the index built at {_when(restored.manifest)} again "
        f"({len(restored.kb)} entries)" + (f", instead of the one built at {_when(replaced)}" if replaced else ""),
        f"{len(kept) - 1} earlier {'index is' if len(kept) == 2 else 'indexes are'} still kept for rollback",
        "the knowledge folder is not changed: 'supportbot run' keeps serving this index, and the next "
        "'supportbot index' publishes the folder again"])


def _read_manifest(index_dir: Path) -> Optional[IndexManifest]:
    try:
        return IndexManifest(**json.loads((Path(index_dir) / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _when(manifest: Optional[IndexManifest]) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(manifest.built_at)) if manifest else "an unknown time"


# --- what the commands do -----------------------------------------------------------------------------------------


@dataclass
class Verdict:
    published: bool
    ok: bool  # the command succeeded (exit status 0)
    lines: List[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def index_and_publish(knowledge_dir: Path, index_dir: Path, encoder: Encoder, force: bool = False,
                      dry_run: bool = False) -> Verdict:
    """`supportbot index`: build, check the golden questions, and publish only when none got worse (or forced);
    with `dry_run`, show the change and publish nothing."""
    with publishing_lock(index_dir):
        candidate = prepare(knowledge_dir, index_dir, encoder)
        if dry_run:
            discard(candidate)
            return _dry_run(candidate)
        if candidate.passes_gate or force:
            return _published(candidate, publish(candidate), forced=force)
        discard(candidate)
        left = (f"{index_dir} was left as it was and keeps serving" if candidate.published is not None
                else "nothing was published")
        return Verdict(False, False, [
            _built(candidate),
            candidate.golden_summary(),
            f"REFUSED: {_count(candidate.failures)} {_fail(candidate.failures)}; {left}",
            *candidate.failure_lines(),
            "fix the knowledge (or golden.yml) and run 'supportbot index' again; --dry-run shows the whole change, "
            "--force publishes anyway",
        ])


def ensure_published(knowledge_dir: Path, index_dir: Path, encoder: Encoder) -> str:
    """For the bot's start: publish the knowledge folder when it changed, behind the same gate as `supportbot
    index`. When the gate refuses, the published index keeps serving and the answer says why; with no index that
    can serve, the new one is published, naming the golden questions that fail. An index restored by a rollback
    is kept until `supportbot index` runs. Raises KnowledgeError when the knowledge is broken."""
    knowledge_dir, index_dir = Path(knowledge_dir), Path(index_dir)
    with publishing_lock(index_dir):
        kb = load_knowledge(knowledge_dir)
        if _is_current(kb, index_dir, encoder):
            return f"knowledge index up to date: {len(kb)} entries from {knowledge_dir}"
        published = open_published(index_dir, encoder)
        if published is not None and published.has_knowledge and published.rolled_back:
            return (f"serving the index restored by 'supportbot index --rollback' ({index_dir}); the changes in "
                    f"{knowledge_dir} are not published: 'supportbot index' publishes them")
        candidate = prepare(knowledge_dir, index_dir, encoder)
        if candidate.passes_gate:
            return _published(candidate, publish(candidate), forced=False).text
        if not candidate.replaces_a_serving_index:
            publish(candidate)
            return "\n".join([
                candidate.report.summary(), candidate.golden_summary(),
                f"WARNING: published although {_count(candidate.failures)} {_fail(candidate.failures)}: "
                "there was no index that could serve instead",
                *candidate.failure_lines()])
        discard(candidate)
        return "\n".join([
            f"WARNING: the changed knowledge in {knowledge_dir} was NOT published: {_count(candidate.failures)} "
            f"{_fail(candidate.failures)}; the bot serves the published index {index_dir}",
            *candidate.failure_lines(),
            "    'supportbot index --dry-run' shows the change; 'supportbot index --force' publishes it anyway"])


def _is_current(kb: KnowledgeBase, index_dir: Path, encoder: Encoder) -> bool:
    """The index serves this knowledge, with this encoder and this version of the calibration."""
    snapshot = published_knowledge(index_dir)
    try:
        served = load_knowledge(snapshot) if snapshot is not None else kb
        load_index(index_dir, kb=served, encoder_name=encoder.name, calibration=calibration_fingerprint())
    except (KnowledgeError, IndexMismatch, OSError, ValueError):
        return False
    return snapshot is None or same_knowledge(served, kb)


def _count(failures: Sequence[GoldenCheck]) -> str:
    return f"{len(failures)} golden question" + ("s" if len(failures) != 1 else "")


def _fail(failures: Sequence[GoldenCheck]) -> str:
    return "fails" if len(failures) == 1 else "fail"


def _built(candidate: Candidate) -> str:
    report = candidate.report
    return (f"built {report.entries} entries ({report.rows} texts) beside {candidate.index_dir}: "
            f"{report.embedded} texts embedded, {report.reused} reused in {report.seconds:.1f} s")


def _published(candidate: Candidate, kept: Optional[Path], forced: bool) -> Verdict:
    lines = [candidate.report.summary(), candidate.golden_summary()]
    if forced and candidate.failures:
        lines.append(f"published anyway (--force), although {_count(candidate.failures)} {_fail(candidate.failures)}:")
        lines.extend(candidate.failure_lines())
    else:
        lines.append(f"published: {candidate.index_dir} serves the new index now" + (" (--force)" if forced else ""))
    if kept is not None:
        lines.append(f"the one it replaced is kept for 'supportbot index --rollback' "
                     f"({len(kept_indexes(candidate.index_dir))} kept)")
    elif candidate.published is not None:
        lines.append("the one it replaced was built without its knowledge, so it is not kept for a rollback")
    return Verdict(True, True, lines)


def _dry_run(candidate: Candidate) -> Verdict:
    lines = [f"dry run: nothing was published; {candidate.index_dir} keeps serving",
             candidate.entries.describe("entries")]
    if candidate.news:
        lines.append(candidate.news.describe("news"))
    lines.append(candidate.golden_summary())
    for check in candidate.checks:
        question = check.question
        before = check.before.got.describe() if check.before is not None else "-"
        lines.append(f"  {check.status:<5} \"{question.text}\" ({question.where}) expects {question.expect}: "
                     f"before {before}, after {check.after.got.describe()}"
                     + ("  <- stops the publish" if check.blocks else ""))
    if candidate.passes_gate:
        lines.append("'supportbot index' would publish it")
    else:
        lines.append(f"'supportbot index' would refuse it: {_count(candidate.failures)} {_fail(candidate.failures)}")
    return Verdict(False, candidate.passes_gate, lines)
