"""`manage.py optimize problem.json --budget-s 5 [--engine vroom|pyvrp]`: print the solution.

Reads the VROOM problem from a file, or stdin with `-`; prints the VROOM solution JSON on
stdout. An invalid problem exits with status 2 (VROOM's input-error code) and the message,
naming the JSON field, on stderr.
"""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crews.optimizer import ENGINES, ProblemError, optimize


class Command(BaseCommand):
    help = "Solve a VROOM JSON problem (a file, or - for stdin) and print the solution JSON."
    requires_system_checks: list[str] = []
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("problem", help="path to the problem JSON, or - for stdin")
        parser.add_argument("--budget-s", type=float, default=None,
                            help="time budget in seconds (default: VROOM, no time limit)")
        parser.add_argument("--engine", choices=ENGINES, default=None,
                            help="force an engine (default: chosen from the budget)")
        parser.add_argument("--indent", type=int, default=None)

    def handle(self, *args, problem: str, budget_s: float | None, engine: str | None,
               indent: int | None, **options):
        try:
            if problem == "-":
                text = options.get("stdin", sys.stdin).read()
            else:
                text = Path(problem).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {problem}: {exc.strerror}", returncode=2) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"invalid JSON: {exc}", returncode=2) from exc
        try:
            solution = optimize(data, budget_s=budget_s, engine=engine)
        except ProblemError as exc:
            raise CommandError(str(exc), returncode=exc.code) from exc
        self.stdout.write(json.dumps(solution, indent=indent))
