"""supportbot: index the knowledge, ask the bot, run it, evaluate it."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from typing import Iterable, List, Optional

from supportbot.settings import Settings


def cmd_index(args: argparse.Namespace) -> int:
    from knowledge.encoders import load_encoder
    from knowledge.index import build_index
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
    from supportbot.stack import Stack, ensure_index, ensure_model, free_port, send

    lines = list(_ask_lines(args))
    settings = Settings().with_overrides(args.knowledge)
    url = args.url
    stack = None
    if not url:
        settings = settings.with_overrides(rasa_port=free_port(), action_port=free_port())
        print(ensure_index(settings), file=sys.stderr)
        ensure_model(settings)
        stack = Stack(settings, quiet=not args.verbose).start()
        url = settings.rest_url
    try:
        for turn, item in enumerate(lines):
            for reply in send(url, str(item["sender"]), item["text"]):
                out = dict(reply.get("custom") or {})
                out.update(text=reply.get("text"), sender=str(item["sender"]), turn=turn)
                if reply.get("buttons"):
                    out["buttons"] = reply["buttons"]
                print(json.dumps(out, ensure_ascii=False), flush=True)
    finally:
        if stack is not None:
            stack.stop()
    return 0


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    from knowledge.loader import KnowledgeError
    from supportbot.stack import Stack, ensure_index, ensure_model

    settings = Settings().with_overrides(args.knowledge, rasa_port=args.port)
    try:
        print("==> " + ensure_index(settings), flush=True)
    except KnowledgeError as error:
        print(f"the knowledge is invalid:\n{error}", file=sys.stderr)
        return 1
    ensure_model(settings)
    stack = Stack(settings)
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _raise_keyboard_interrupt)
    try:
        stack.start()
        print(
            "\n==> the bot is running. Talk to it over REST:\n"
            f"    curl -s -XPOST {settings.rest_url} -H 'Content-Type: application/json' "
            "-d '{\"sender\": \"me\", \"message\": \"Tere! Internet ei tööta\"}'\n"
            "    or: supportbot ask --url " + settings.rest_url + " 'How do I pay my bill?'\n"
            "    Ctrl-C stops everything.\n",
            flush=True,
        )
        return stack.wait()
    except KeyboardInterrupt:
        print("\n==> stopping", flush=True)
        return 0
    finally:
        stack.stop()


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
    run.add_argument("--port", type=int, help="Rasa server port (default 5005)")
    run.set_defaults(func=cmd_run)

    evaluate = sub.add_parser("eval", help="benchmarks; writes figures to docs/benchmarks.md")
    evaluate.add_argument("benchmark", nargs="?", default="all",
                          choices=["all", "crosslingual", "banking77", "clinc150", "latency", "tune"])
    evaluate.add_argument("--shared", help="path of the shared benchmark data (default ../shared/benchmarks)")
    evaluate.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    evaluate.set_defaults(func=cmd_eval)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
