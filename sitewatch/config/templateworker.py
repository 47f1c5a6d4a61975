"""The worker process a config's templates render in (``templating._Worker``).

It reads one JSON line per batch from stdin (``[[source, context, html,
as_json], ...]``) and writes one line back (``[[true, text] | [false, why],
...]``). Its address space is capped once the imports are done, so a template
that builds a huge value fails here with a ``MemoryError``, or ends this
process, and never touches sitewatch's own memory.
"""

from __future__ import annotations

import json
import resource
import sys

from sitewatch.config.templating import MAX_MEMORY, TemplateError, compile_template, render_here


def _one(job: list[object]) -> list[object]:
    source, context, html, as_json = job
    try:
        text = render_here(str(source), dict(context), html=bool(html), as_json=bool(as_json))  # type: ignore[call-overload]
    except TemplateError as exc:
        return [False, str(exc)]
    except MemoryError:
        return [False, f"the template needed more than {MAX_MEMORY >> 20} MiB of memory"]
    return [True, text]


def main() -> None:
    compile_template("{{ warm }}")  # the Jinja machinery loaded before the cap
    resource.setrlimit(resource.RLIMIT_AS, (MAX_MEMORY, MAX_MEMORY))
    for line in sys.stdin.buffer:
        try:
            answers = [_one(job) for job in json.loads(line)]
        except MemoryError:
            answers = []
        sys.stdout.write(json.dumps(answers) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
