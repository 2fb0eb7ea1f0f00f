"""supportbot: index the knowledge, ask the bot, run it, evaluate it."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from typing import Iterable, List, Optional

from supportbot.settings import Settings


def cmd_index(args: argparse.Namespace) -> int:
    from knowledge.encoders import load_encoder
    from knowledge.indexing import build_index
    from knowledge.loader import KnowledgeError, load_knowledge

    settings = Settings().with_overrides(args.knowledge)
    try:
        kb = load_knowledge(settings.knowledge_dir)
    except KnowledgeError as error:
        print(f"knowledge is invalid; the index in {settings.index_dir} was left as it was:", file=sys.stderr)
        print(error, file=sys.stderr)
        return 1
    report = build_index(kb, load_encoder(settings.encoder), settings.index_dir)
    print(report.summary())
    return 0


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
    settings = Settings().with_overrides(args.knowledge)
    url = args.url
    if url and not settings.rest_api_token and rest_token_file(settings).exists():  # a bot run on this machine
        settings.rest_api_token = rest_token_file(settings).read_text(encoding="utf-8").strip()
    stack = None
    scratch = None
    if not url:
        os.environ.setdefault("RATE_LIMIT", "off")  # a script feeding many turns is not a flood
        # a database of its own, empty: a second run must not continue the first one's conversations, and its
        # handoffs must not wait in the real agents' queue
        scratch = settings.project_root / "var" / "run" / f"ask-{os.getpid()}.db"
        settings = private_settings(settings, database_url=scratch_database(scratch))
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

    settings = Settings().with_overrides(args.knowledge, gateway_port=args.port)
    try:
        print("==> " + ensure_index(settings), flush=True)
    except KnowledgeError as error:
        print(f"the knowledge is invalid:\n{error}", file=sys.stderr)
        return 1
    ensure_model(settings)
    new_token = ensure_rest_token(settings)
    debug = os.environ.get("LOG_LEVEL", "").upper() == "DEBUG"
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
        token_hint = "$REST_API_TOKEN" if os.environ.get("REST_API_TOKEN") else f"$(cat {rest_token_file(settings)})"
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


def _first_agent_notice(settings: Settings) -> str:
    """With no agent yet, create one so the console can be tried at once; its password is shown only now."""
    import secrets

    from handoff.store import HandoffStore

    store = HandoffStore.open(settings.database_url)
    if store.agents():
        return ""
    password = secrets.token_urlsafe(9)
    store.create_agent("admin", "Admin", password)
    return (f"\n==> created the first agent: username 'admin', password '{password}' (shown once; change it with\n"
            "    supportbot agents create admin --name Admin)\n")


def cmd_agents(args: argparse.Namespace) -> int:
    import getpass

    from handoff.store import HandoffStore

    store = HandoffStore.open(Settings().database_url)
    if args.action == "list":
        for agent in store.agents():
            print(f"{agent.username}\t{agent.display_name}")
        return 0
    if not args.username:
        raise SystemExit("agents create: give a username")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if password != getpass.getpass("again: "):
            raise SystemExit("the passwords differ")
    try:
        agent = store.create_agent(args.username, args.name or args.username.capitalize(), password)
    except ValueError as error:
        raise SystemExit(str(error))
    print(f"agent {agent.username} ({agent.display_name}) can log in to the console")
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

    settings = Settings().with_overrides(args.knowledge)
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


def cmd_db(args: argparse.Namespace) -> int:
    from handoff.db import migrate

    settings = Settings()
    migrate(settings.database_url, args.revision)
    print(f"the database at {settings.database_url} is at revision {args.revision}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from supportbot import evaluation

    return evaluation.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supportbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    index = sub.add_parser("index", help="validate the knowledge files and (re)index them")
    index.add_argument("--knowledge", help="knowledge directory (default: KNOWLEDGE_DIR or the demo)")
    index.set_defaults(func=cmd_index)

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

    agents = sub.add_parser("agents", help="create or list the human agents who log in to the console")
    agents.add_argument("action", choices=["create", "list"])
    agents.add_argument("username", nargs="?")
    agents.add_argument("--name", help="the name customers see, e.g. Mari")
    agents.add_argument("--password-stdin", action="store_true", help="read the password from stdin instead of asking")
    agents.set_defaults(func=cmd_agents)

    stats = sub.add_parser("stats", help="for editors: the answers customers found unhelpful, and the handoffs by reason")
    stats.add_argument("--knowledge", help="knowledge directory, for the entries' titles")
    stats.set_defaults(func=cmd_stats)

    db = sub.add_parser("db", help="migrate the database schema (the run command does it too)")
    db.add_argument("action", choices=["upgrade"])
    db.add_argument("revision", nargs="?", default="head")
    db.set_defaults(func=cmd_db)

    evaluate = sub.add_parser("eval", help="benchmarks; writes figures to docs/benchmarks.md")
    evaluate.add_argument("benchmark", nargs="?", default="all",
                          choices=["all", "knowledge", "live", "indexing", "crosslingual", "banking77", "clinc150", "sentiment", "handoff", "latency", "load", "profile"])
    evaluate.add_argument("--shared", help="path of the shared benchmark data (default ../shared/benchmarks)")
    evaluate.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    evaluate.add_argument("--no-routing", action="store_true",
                          help="knowledge: skip the routing table (it loads the trained Rasa model)")
    evaluate.add_argument("--levels", help="load: concurrent conversations x messages each, e.g. 1x40,8x12,50x6,200x20")
    evaluate.add_argument("--cprofile", action="store_true", help="profile: also list the Rasa turn's heaviest functions")
    evaluate.set_defaults(func=cmd_eval)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
