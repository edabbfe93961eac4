"""``streamkit template MODULE:APP``: an AWS SAM template deploying the app's mappings to Lambda.

The template is :func:`streamkit.aws.build_template`'s; this module is its command line. The
parser is declared here (``parser.py`` only calls :func:`add_template_command`); what runs
imports ``streamkit.aws`` when called.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeAlias

__all__ = ["add_template_command", "run_template"]

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_template_command(
    commands: Commands, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """Add ``template`` to the subcommands; ``func`` runs it (``commands.template``)."""
    parser = commands.add_parser(
        "template",
        help="write an AWS SAM template deploying an app's mappings to AWS Lambda",
        description=(
            "Write an AWS SAM template (JSON) with one Lambda function and one "
            "AWS::Lambda::EventSourceMapping per mapping of MODULE:APP, every option mapped to "
            "its CloudFormation property. Each table's stream ARN is a parameter. Options with "
            "no Lambda equivalent (a Python on_failure) are listed on stderr and in the "
            "template's Metadata. Deploy with 'sam build && sam deploy --guided'."
        ),
    )
    parser.set_defaults(func=func)
    parser.add_argument("app", metavar="MODULE:APP", help="the app whose mappings to deploy")
    parser.add_argument(
        "--output", metavar="FILE", default=None, help="write the template here (default: stdout)"
    )
    parser.add_argument(
        "--runtime",
        default="python3.12",
        help="the functions' Lambda runtime, python3.11 or newer (default: python3.12)",
    )
    parser.add_argument(
        "--code-uri",
        metavar="DIR",
        default=".",
        help="the folder of the app's code and its requirements.txt (which names streamkit), "
        "relative to the template (default: .)",
    )
    parser.add_argument(
        "--stream-arn",
        metavar="TABLE=ARN",
        action="append",
        default=[],
        help="default value of TABLE's stream ARN parameter (repeatable)",
    )
    return parser


def run_template(args: argparse.Namespace) -> int:
    """Write the template; list the options not deployed on stderr; return the exit status."""
    from pathlib import Path

    import orjson

    from streamkit.aws import build_template
    from streamkit.cli.apps import load_apps
    from streamkit.cli.inputs import UsageError

    app = load_apps([args.app])
    assert app is not None  # one spec was given
    arns: dict[str, str] = {}
    for given in args.stream_arn:
        table, sep, arn = given.partition("=")
        if not sep or not table or not arn:
            raise UsageError(f"--stream-arn expects TABLE=ARN, got {given!r}")
        arns[table] = arn
    template = build_template(
        app, args.app, runtime=args.runtime, code_uri=args.code_uri, stream_arns=arns
    )
    text = orjson.dumps(template.body, option=orjson.OPT_INDENT_2) + b"\n"
    if args.output is None:
        sys.stdout.write(text.decode())
    else:
        Path(args.output).write_bytes(text)
    for note in template.not_deployed:
        print(f"streamkit: template: {note}", file=sys.stderr)
    if args.output is not None:
        functions = len(app.mappings)
        print(
            f"wrote {args.output}: {functions} function(s) and event-source mapping(s), "
            f"{len(template.not_deployed)} option(s) not deployed as they are"
        )
    return 0
