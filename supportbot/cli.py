"""supportbot: index the knowledge, ask the bot, run it, evaluate it."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Iterable, List, Optional

from supportbot.settings import Settings, use_library_defaults

# late imports: each command imports what it needs inside its function, so that `supportbot --help`, `agents` or
# `db` start at once instead of loading the encoders, the indexing and Rasa's stack, which take seconds


def cmd_index(args: argparse.Namespace) -> int:
    from knowledge.encoders import load_encoder
    from knowledge.loader import KnowledgeError
    from knowledge.publishing import NothingToRollBack, index_and_publish, rollback

    settings = args.settings.with_overrides(args.knowledge)
    encoder = load_encoder(settings.encoder)
    if args.rollback:
        try:
            print(rollback(settings.index_dir, encoder))
        except NothingToRollBack as error:
            print(error, file=sys.stderr)
            return 1
        return 0
    try:
        verdict = index_and_publish(settings.knowledge_dir, settings.index_dir, encoder, force=args.force,
                                    dry_run=args.dry_run)
    except KnowledgeError as error:
        print(f"knowledge is invalid; the index in {settings.index_dir} was left as it was:", file=sys.stderr)
        print(error, file=sys.stderr)
        return 1
    print(verdict.text, file=sys.stdout if verdict.ok or args.dry_run else sys.stderr)
    return 0 if verdict.ok else 1


def cmd_golden(args: argparse.Namespace) -> int:
    from knowledge.golden import EXPECT_HANDOFF, GoldenRefused, append_golden, golden_path, load_golden, run_golden
    from knowledge.loader import KnowledgeError, load_knowledge

    settings = args.settings.with_overrides(args.knowledge)
    try:
        kb = load_knowledge(settings.knowledge_dir)
        if args.action == "add":
            if not args.text or not args.expect:
                raise SystemExit(f"golden add: give the question and an entry id or {EXPECT_HANDOFF}")
            questions = [append_golden(settings.knowledge_dir, args.text, args.expect, kb)]
            print(f"added to {golden_path(settings.knowledge_dir)}:{questions[0].line}: "
                  f"\"{questions[0].text}\" expects {questions[0].expect}")
        else:
            questions = load_golden(settings.knowledge_dir, kb)
    except (KnowledgeError, GoldenRefused) as error:
        print(error, file=sys.stderr)
        return 1
    if args.action == "list":
        for question in questions:
            print(f"{question.where}\t{question.expect}\t{question.text}")
        return 0
    from knowledge.encoders import load_encoder
    from knowledge.publishing import open_published

    published = open_published(settings.index_dir, load_encoder(settings.encoder), kb)
    if published is None or published.retriever is None:
        print(f"not checked on the published index {settings.index_dir}: "
              f"{published.problem if published else 'there is none yet'}", file=sys.stderr)
        return 0 if args.action == "add" else 1
    results = run_golden(questions, published.retriever)
    for result in results:
        print(f"{'ok' if result.passed else 'FAIL':<4}  \"{result.question.text}\" ({result.question.where}) "
              f"expects {result.expected}, the published index: {result.got.describe()}")
    if args.action == "add":
        return 0
    print(f"{sum(r.passed for r in results)} of {len(results)} golden questions pass on the published index")
    return 0 if all(r.passed for r in results) else 1


def _ask_lines(args: argparse.Namespace) -> Iterable[dict]:
    if args.message:
        yield {"text": " ".join(args.message), "sender": args.sender}
        return
    for number, line in enumerate(sys.stdin):
        line = line.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise SystemExit(f"stdin line {number + 1}: not JSON ({error})")
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise SystemExit(f"stdin line {number + 1}: expected an object with a 'text' string")
        item.setdefault("sender", args.sender)
        yield item


def cmd_ask(args: argparse.Namespace) -> int:
    from supportbot.stack import Stack, private_settings, remove_database, rest_token_file, scratch_database, send

    lines = list(_ask_lines(args))
    settings = args.settings.with_overrides(args.knowledge)
    url = args.url
    if url and not settings.rest_api_token and rest_token_file(settings).exists():  # a bot run on this machine
        settings.rest_api_token = rest_token_file(settings).read_text(encoding="utf-8").strip()
    stack = None
    scratch = None
    if not url:
        # a database of its own, empty: a second run must not continue the first one's conversations, and its
        # handoffs must not wait in the real agents' queue; no rate limit: a script feeding many turns is not a flood
        scratch = settings.project_root / "var" / "run" / f"ask-{os.getpid()}.db"
        settings = private_settings(settings, database_url=scratch_database(scratch), rate_limit="off")
        stack = Stack(settings, quiet=not args.verbose).start()
        url = settings.rest_url
    try:
        for turn, item in enumerate(lines):
            for reply in send(url, str(item["sender"]), item["text"], token=settings.rest_api_token):
                out = dict(reply.get("custom") or {})
                out.update(text=reply.get("text"), sender=str(item["sender"]), turn=turn)
                if reply.get("buttons"):
                    out["buttons"] = reply["buttons"]
                print(json.dumps(out, ensure_ascii=False), flush=True)
    finally:
        if stack is not None:
            stack.stop()
        if scratch is not None:
            remove_database(scratch)
    return 0


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    from knowledge.loader import KnowledgeError
    from supportbot.stack import Stack, ensure_index, ensure_model, ensure_rest_token, rest_token_file

    settings = args.settings.with_overrides(args.knowledge, gateway_port=args.port)
    try:
        print("==> " + ensure_index(settings), flush=True)
    except KnowledgeError as error:
        print(f"the knowledge is invalid:\n{error}", file=sys.stderr)
        return 1
    ensure_model(settings)
    new_token = ensure_rest_token(settings)
    debug = settings.log_level.upper() == "DEBUG"
    log_dir = settings.project_root / "var" / "log"
    stack = Stack(settings, log_dir=None if debug else log_dir)
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _raise_keyboard_interrupt)
    try:
        print("==> starting the action server, the Rasa server and the gateway"
              + ("" if debug else f" (their logs: {log_dir}/; LOG_LEVEL=DEBUG shows them here)"), flush=True)
        try:
            stack.start()
        except (RuntimeError, TimeoutError) as error:
            print(f"the bot did not start: {error}", file=sys.stderr)
            for path in stack.log_files:
                tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:] if path.exists() else []
                print(f"--- the end of {path}:\n" + "\n".join(tail), file=sys.stderr)
            return 1
        print(_first_agent_notice(settings), end="", flush=True)
        token_hint = "$REST_API_TOKEN" if args.settings.rest_api_token else f"$(cat {rest_token_file(settings)})"
        if new_token:
            print(f"\n==> created the REST channel's token: {new_token}\n    (shown once; it is kept in "
                  f"{rest_token_file(settings)}, readable by you only; REST_API_TOKEN overrides it)", flush=True)
        print(
            f"\n==> the web chat, on a demo page: http://{settings.host}:{settings.gateway_port}/\n"
            f"==> the agent console: {settings.console_url}\n"
            + ("==> Telegram: on (TELEGRAM_TOKEN is set)\n" if settings.telegram_token
               else "==> Telegram: off (set TELEGRAM_TOKEN to talk to the bot in Telegram)\n")
            + "==> the bot is running. Talk to it over REST too:\n"
            f"    curl -s -XPOST {settings.rest_url} -H 'Content-Type: application/json' "
            f"-H \"Authorization: Bearer {token_hint}\" "
            "-d '{\"sender\": \"me\", \"message\": \"Tere! Internet ei tööta\"}'\n"
            "    or: supportbot ask --url " + settings.rest_url + " 'How do I pay my bill?'\n"
            "    Ctrl-C stops everything.\n",
            flush=True,
        )
        stack.supervise()  # until Ctrl-C or a stop signal
        return 0
    except KeyboardInterrupt:
        print("\n==> stopping", flush=True)
        return 0
    finally:
        stack.stop()


def first_admin_password_file(settings: Settings) -> Path:
    return settings.project_root / "var" / "first-admin-password"


def _first_agent_notice(settings: Settings) -> str:
    """With no agent yet, create an admin so the console can be tried at once. The password is shown once and
    kept in a file only its owner can read, until it is changed."""
    import secrets

    from handoff.store import HandoffStore

    store = HandoffStore.open(settings.database_url)
    if store.agents.all(include_inactive=True):
        return ""
    password = secrets.token_urlsafe(12)
    kept = first_admin_password_file(settings)
    kept.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(password + "\n")
    store.agents.create("admin", "Admin", password, role="admin")
    return (f"\n==> created the first agent: username 'admin' (an admin), password '{password}'\n"
            f"    (shown once; kept in {kept}, readable by you only, until you change it with\n"
            "    supportbot agents create admin --name Admin --role admin)\n")


def cmd_agents(args: argparse.Namespace) -> int:
    import getpass

    from handoff.store import HandoffStore

    settings = args.settings
    store = HandoffStore.open(settings.database_url)
    if args.action == "list":
        for agent in store.agents.all(include_inactive=True):
            print(f"{agent.username}\t{agent.display_name}\t{agent.role}\t{'active' if agent.active else 'deactivated'}")
        return 0
    if not args.username:
        raise SystemExit(f"agents {args.action}: give a username")
    if args.action in ("deactivate", "activate"):
        found = [a for a in store.agents.all(include_inactive=True) if a.username == args.username]
        if not found:
            raise SystemExit(f"there is no agent {args.username}")
        try:
            agent = store.agents.set_active(found[0].id, args.action == "activate")
        except ValueError as error:
            raise SystemExit(str(error))
        print(f"agent {agent.username} is {'active' if agent.active else 'deactivated: their sessions ended'}")
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if password != getpass.getpass("again: "):
            raise SystemExit("the passwords differ")
    try:
        agent = store.agents.create(args.username, args.name or args.username.capitalize(), password, args.role)
    except ValueError as error:
        raise SystemExit(str(error))
    if agent.username == "admin":
        first_admin_password_file(settings).unlink(missing_ok=True)  # the generated password is no longer valid
    print(f"agent {agent.username} ({agent.display_name}, {agent.role}) can log in to the console")
    return 0


def feedback_report(feedback, titles) -> List[str]:
    """Lines for editors: the entries customers found unhelpful, the least helpful first."""
    rows = []
    for faq_id, counts in feedback.items():
        total = counts["helpful"] + counts["not_helpful"]
        if total:
            rows.append((counts["not_helpful"] / total, counts["not_helpful"], faq_id or "(unknown)", total))
    rows.sort(key=lambda row: (-row[0], -row[1], row[2]))
    if not rows:
        return ["no answer has been rated yet"]
    lines = [f"{'not helpful':>11}  {'ratings':>7}  entry"]
    for share, _, faq_id, total in rows:
        title = titles.get(faq_id)
        lines.append(f"{share:>10.0%}  {total:>7}  {faq_id}" + (f"  ({title})" if title else ""))
    return lines


def cmd_stats(args: argparse.Namespace) -> int:
    from handoff.store import HandoffStore
    from knowledge.loader import KnowledgeError, load_knowledge

    settings = args.settings.with_overrides(args.knowledge)
    store = HandoffStore.open(settings.database_url)
    try:
        titles = {entry.id: entry.title("en") for entry in load_knowledge(settings.knowledge_dir).entries}
    except KnowledgeError:
        titles = {}
    print("Answers, as the customers rated them (\"was this helpful?\"):")
    print("\n".join(feedback_report(store.feedback_by_entry(), titles)))
    handoffs = store.handoff_summary()
    print("\nHandoffs to a colleague, by reason:")
    for reason, row in sorted(handoffs.items(), key=lambda item: -item[1]["handoffs"]):
        rating = f", rated {row['average_rating']} on average by {row['rated']}" if row["rated"] else ""
        print(f"  {reason}: {row['handoffs']}{rating}")
    if not handoffs:
        print("  none yet")
    return 0


def cmd_gaps(args: argparse.Namespace) -> int:
    from handoff.gaps import gaps_report, report_csv, report_table
    from handoff.store import HandoffStore
    from knowledge.encoders import load_encoder
    from knowledge.loader import KnowledgeError, load_knowledge

    if args.days <= 0:
        raise SystemExit("gaps: --days must be at least 1")
    settings = args.settings.with_overrides(args.knowledge)
    try:
        kb = load_knowledge(settings.knowledge_dir)
    except KnowledgeError:
        kb = None

    def title(entry_id: str, language: str) -> Optional[str]:
        entry = kb.get(entry_id) if kb else None
        return entry.title(language) if entry else None

    store = HandoffStore.open(settings.database_url)
    try:
        report = gaps_report(store, load_encoder(settings.encoder), args.days, titles=title)
    finally:
        store.engine.dispose()
    if args.format == "json":
        print(json.dumps(report, ensure_ascii=False, indent=2))
    elif args.format == "csv":
        sys.stdout.write(report_csv(report))
    else:
        print(report_table(report))
    return 0


def _report_period(args: argparse.Namespace, default_days: Optional[int]):
    """The days --since and --until name (both included), in the business time zone, and the moment of reading."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from handoff.analytics import Period

    now = datetime.now(timezone.utc)
    try:
        zone = ZoneInfo(args.settings.business_timezone)
        return Period.parse(args.since, args.until, zone, now, default_days), now
    except (ValueError, KeyError) as error:
        raise SystemExit(f"{args.command}: {error}")


def cmd_requests(args: argparse.Namespace) -> int:
    from handoff.analytics import RequestLog, export_csv, export_json
    from handoff.store import HandoffStore

    period, now = _report_period(args, None)
    store = HandoffStore.open(args.settings.database_url)
    try:
        found = RequestLog(store.engine).requests(period, now)
    finally:
        store.engine.dispose()
    exported = export_csv(found) if args.format == "csv" else export_json(found, period)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as output:
            output.write(exported)
        print(f"wrote {len(found)} requests to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(exported)
    return 0


def analytics_table(result: dict) -> List[str]:
    """`supportbot analytics` as text: a column for all requests and one per language, each rate with its
    denominator (docs/analytics.md)."""
    from handoff.analytics import format_seconds

    blocks = [("all", result["all"])] + list(result["languages"].items())

    def share(row: Optional[dict]) -> str:
        if not row:
            return "0"
        return f"{row['count']}" + (f" ({row['percent']:.1f} %)" if row["percent"] is not None else "")

    def rows_of(path: List[str]) -> List[str]:
        keys: List[str] = []
        for _, block in blocks:
            part = block
            for key in path:
                part = part[key]
            keys += [row["key"] for row in part["rows"] if row["key"] not in keys]
        return keys

    def row_of(block: dict, path: List[str], key: str) -> Optional[dict]:
        for name in path:
            block = block[name]
        return next((row for row in block["rows"] if row["key"] == key), None)

    lines = [f"Requests begun {result['since']} to {result['until']} (days in {result['time_zone']}), "
             f"as of {result['as_of']}; definitions: docs/analytics.md", ""]
    width = 18

    def line(label: str, cells: List[str]) -> None:
        lines.append(f"{label:<34}" + "".join(f"{cell:>{width}}" for cell in cells))

    line("", [name for name, _ in blocks])
    line("requests", [str(block["requests"]) for _, block in blocks])
    for title, path in (("outcome, of the requests (100 %)", ["outcomes"]),
                        ("bot resolutions, of the contained", ["resolution", "bot"]),
                        ("agent resolutions, of those closed", ["resolution", "agent"]),
                        ("handoff reason, of the requests", ["handoff_reasons"])):
        lines.append(title)
        for key in rows_of(path):
            line(f"  {key}", [share(row_of(block, path, key)) for _, block in blocks])
    for title, key, missing in (("queue wait", "queue_wait", "not_claimed"),
                                ("first agent reply", "first_agent_reply", "no_reply")):
        line(f"{title} p50 / p90", [f"{format_seconds(b[key]['p50_seconds'])} / {format_seconds(b[key]['p90_seconds'])}"
                                    for _, b in blocks])
        line(f"  measured / {missing.replace('_', ' ')}", [f"{b[key]['measured']} / {b[key][missing]}" for _, b in blocks])
    for title, key in (("satisfied, bot only (helpful)", "bot_only"), ("satisfied, handed off (4-5)", "handed_off")):
        line(title, [f"{b['csat'][key]['satisfied']}/{b['csat'][key]['responses']}"
                     + (f" ({b['csat'][key]['percent']:.1f} %)" if b['csat'][key]['percent'] is not None else "")
                     for _, b in blocks])
    line("  average rating, handed off", [str(b["csat"]["handed_off"]["average"] or "–") for _, b in blocks])
    lines += ["", f"per {result['by']} (all languages): requests = contained + didnt_help + no_answer + handed_off"]
    lines += [f"  {row['period']}  {row['requests']:>5} = {row['contained']} + {row['didnt_help']} + {row['no_answer']}"
              f" + {row['handed_off']}" for row in result["all"]["series"]]
    entries = result["all"]["entries"]
    lines += ["", "most used entries (answers, helpful, didn't help):"]
    lines += [f"  {e['faq_id']}: {e['answers']}, {e['helpful']}, {e['not_helpful']}" for e in entries["most_used"]] or ["  none"]
    lines += ["least helpful entries (didn't help, of the verdicts):"]
    lines += [f"  {e['faq_id']}: {e['not_helpful']} of {e['helpful'] + e['not_helpful']} ({e['not_helpful_percent']:.1f} %)"
              for e in entries["least_helpful"]] or ["  none"]
    return lines


def cmd_analytics(args: argparse.Namespace) -> int:
    from handoff.analytics import DEFAULT_DAYS, analytics
    from handoff.store import HandoffStore

    period, now = _report_period(args, DEFAULT_DAYS)
    store = HandoffStore.open(args.settings.database_url)
    try:
        result = analytics(store.engine, period, now, args.by)
    except ValueError as error:
        raise SystemExit(f"analytics: {error}")
    finally:
        store.engine.dispose()
    if args.format == "json":
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print("\n".join(analytics_table(result)))
    return 0


def cmd_customers(args: argparse.Namespace) -> int:
    from handoff.customer_data import CustomerData
    from handoff.store import HandoffStore

    store = HandoffStore.open(args.settings.database_url)
    customer_data = CustomerData.for_engine(store.engine)
    try:
        if args.action == "purge":
            if args.older_than_days is None or args.older_than_days < 0:
                raise SystemExit("customers purge: give --older-than-days N (N >= 0)")
            removed = customer_data.purge_older_than(args.older_than_days)
            print(f"deleted what is older than {args.older_than_days:g} days: {removed.summary()}")
            _note_busy_log(removed)
        elif not args.channel or not args.sender:
            raise SystemExit(f"customers {args.action}: give the CHANNEL and the SENDER (e.g. telegram 123456789)")
        elif args.action == "forget":
            removed = customer_data.forget(args.channel, args.sender)
            print(f"forgot {args.channel} {args.sender}: {removed.summary()}" if removed.anything
                  else f"nothing is stored of {args.channel} {args.sender}")
            _note_busy_log(removed)
        else:
            document = customer_data.export(args.channel, args.sender)
            if document is None:
                print(f"nothing is stored of {args.channel} {args.sender}", file=sys.stderr)
                return 1
            exported = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
            if args.output:
                # personal data: readable by the owner only
                descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(descriptor, "w", encoding="utf-8") as output:
                    output.write(exported)
                print(f"wrote everything stored of {args.channel} {args.sender} to {args.output}", file=sys.stderr)
            else:
                sys.stdout.write(exported)
    finally:
        store.engine.dispose()
    return 0


def _note_busy_log(removed) -> None:
    if not removed.files_compacted:
        print("note: another process kept SQLite's write-ahead log busy; the deleted text leaves it at the next "
              "checkpoint (or run the command again)", file=sys.stderr)


def cmd_db(args: argparse.Namespace) -> int:
    from handoff.db import migrate

    settings = args.settings
    migrate(settings.database_url, args.revision)
    print(f"the database at {settings.database_url} is at revision {args.revision}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from supportbot import eval as benchmarks

    return benchmarks.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supportbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    index = sub.add_parser("index", help="validate the knowledge files, index them, and publish the index if "
                                         "the golden questions still pass (docs/editors.md)")
    index.add_argument("--knowledge", help="knowledge directory (default: KNOWLEDGE_DIR or the demo)")
    index_mode = index.add_mutually_exclusive_group()
    index_mode.add_argument("--force", action="store_true", help="publish even if golden questions fail")
    index_mode.add_argument("--dry-run", action="store_true",
                            help="show the entries added, changed and removed and the golden results; publish nothing")
    index_mode.add_argument("--rollback", action="store_true", help="serve the previously published index again")
    index.set_defaults(func=cmd_index)

    golden = sub.add_parser("golden", help="the golden questions of the knowledge (golden.yml): add, list, check")
    golden.add_argument("action", choices=["add", "list", "check"],
                        help="add: append a question; check: run them on the published index")
    golden.add_argument("text", nargs="?", help="add: the customer's question, in any language")
    golden.add_argument("expect", nargs="?", help="add: the entry id that must answer it, or handoff")
    golden.add_argument("--knowledge", help="knowledge directory (default: KNOWLEDGE_DIR or the demo)")
    golden.set_defaults(func=cmd_golden)

    ask = sub.add_parser("ask", help="send messages through the whole bot; JSON lines in, JSON lines out")
    ask.add_argument("message", nargs="*", help="one message (otherwise JSON lines on stdin)")
    ask.add_argument("--knowledge")
    ask.add_argument("--sender", default="cli")
    ask.add_argument("--url", help="a running bot's REST webhook; by default a private bot is started")
    ask.add_argument("--verbose", action="store_true", help="show the servers' logs")
    ask.set_defaults(func=cmd_ask)

    run = sub.add_parser("run", help="train if needed, index if needed, start the bot")
    run.add_argument("--knowledge")
    run.add_argument("--port", type=int, help="the public port of the web chat, REST and agent console (default 8080, GATEWAY_PORT)")
    run.set_defaults(func=cmd_run)

    agents = sub.add_parser("agents", help="create, list, deactivate or activate the human agents of the console")
    agents.add_argument("action", choices=["create", "list", "deactivate", "activate"])
    agents.add_argument("username", nargs="?")
    agents.add_argument("--name", help="the name customers see, e.g. Mari")
    agents.add_argument("--role", choices=["agent", "admin"], help="admins also manage the agents (default for a new one: agent)")
    agents.add_argument("--password-stdin", action="store_true", help="read the password from stdin instead of asking")
    agents.set_defaults(func=cmd_agents)

    stats = sub.add_parser("stats", help="for editors: the answers customers found unhelpful, and the handoffs by reason")
    stats.add_argument("--knowledge", help="knowledge directory, for the entries' titles")
    stats.set_defaults(func=cmd_stats)

    gaps = sub.add_parser("gaps", help="for editors: what customers asked that the bot could not answer well, "
                                       "grouped by meaning across languages, the biggest groups first")
    gaps.add_argument("--days", type=int, default=30, help="the last N days (default 30)")
    gaps.add_argument("--format", choices=["table", "csv", "json"], default="table")
    gaps.add_argument("--knowledge", help="knowledge directory, for the entries' titles")
    gaps.set_defaults(func=cmd_gaps)

    requests = sub.add_parser("requests", help="for managers: the service-desk log, one row per request (docs/analytics.md)")
    requests.add_argument("action", choices=["export"])
    requests.add_argument("--since", help="the first day, YYYY-MM-DD (default: from the beginning)")
    requests.add_argument("--until", help="the last day, YYYY-MM-DD, included (default: today)")
    requests.add_argument("--format", choices=["csv", "json"], default="csv")
    requests.add_argument("--output", help="the file to write (default: stdout)")
    requests.set_defaults(func=cmd_requests)

    figures = sub.add_parser("analytics", help="for managers: containment, durable resolution, handoffs, waits, "
                                               "satisfaction and entries, per language (docs/analytics.md)")
    figures.add_argument("--since", help="the first day, YYYY-MM-DD (default: 27 days before --until)")
    figures.add_argument("--until", help="the last day, YYYY-MM-DD, included (default: today)")
    figures.add_argument("--by", choices=["day", "week"], default="day", help="the series per day or per week")
    figures.add_argument("--format", choices=["table", "json"], default="table")
    figures.set_defaults(func=cmd_analytics)

    customers = sub.add_parser("customers", help="personal data: forget or export one customer, delete old conversations")
    customers.add_argument("action", choices=["forget", "export", "purge"])
    customers.add_argument("channel", nargs="?", help="forget, export: the channel (webchat, telegram, rest)")
    customers.add_argument("sender", nargs="?", help="forget, export: the customer's id on that channel")
    customers.add_argument("--output", help="export: the JSON file to write (default: stdout)")
    customers.add_argument("--older-than-days", type=float, help="purge: delete conversations and messages older than this")
    customers.set_defaults(func=cmd_customers)

    db = sub.add_parser("db", help="migrate the database schema (the run command does it too)")
    db.add_argument("action", choices=["upgrade"])
    db.add_argument("revision", nargs="?", default="head")
    db.set_defaults(func=cmd_db)

    evaluate = sub.add_parser("eval", help="benchmarks; writes figures to docs/benchmarks.md")
    evaluate.add_argument("benchmark", nargs="?", default="all",
                          choices=["all", "knowledge", "live", "indexing", "crosslingual", "banking77", "clinc150", "sentiment", "handoff", "latency", "load", "profile", "fuzz", "faults"])
    evaluate.add_argument("--params-out", metavar="PATH",
                          help="knowledge: also write the calibration settings it chose, as JSON, to PATH "
                               "(e.g. var/bench/calibration-settings.json; nothing is written without it)")
    evaluate.add_argument("--shared", help="path of the shared benchmark data (default ../shared/benchmarks)")
    evaluate.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    evaluate.add_argument("--no-routing", action="store_true",
                          help="knowledge: skip the routing table (it loads the trained Rasa model)")
    evaluate.add_argument("--levels", help="load: concurrent conversations x messages each, e.g. 1x40,8x12,50x6,200x20")
    evaluate.add_argument("--cases", type=int, help="fuzz: how many generated requests and frames in all (default 10000)")
    evaluate.add_argument("--cprofile", action="store_true", help="profile: also list the Rasa turn's heaviest functions")
    evaluate.set_defaults(func=cmd_eval)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from signals.personal_data import install_log_masking

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_log_masking()
    args = build_parser().parse_args(argv)
    args.settings = Settings.from_environ()  # read once: every command, and the benchmarks, take it from here
    use_library_defaults()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
