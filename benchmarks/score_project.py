"""`agreement-operator score --project`: the requests it makes of Label Studio, and how long the export
takes, for a project of N tasks on the real Label Studio Community server.

    .venv/bin/python benchmarks/score_project.py --tasks 1000

The project is imported in one request (each task with two annotations and a prediction);
then the command's own export path runs with every request counted by endpoint.
"""

import argparse
import io
import tempfile
import time
from collections import Counter
from pathlib import Path

from agreement_operator.cli.score import read_export
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects
from agreement_operator.sandbox import label_studio_community

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
          '<Choice value="Positive"/><Choice value="Negative"/></Choices></View>')


def result(value: str) -> list:
    return [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [value]}}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = label_studio_community.start(Path(folder))
        try:
            print(f"Label Studio Community started in {server.started_in:.1f} s")
            project = server.call("POST", "/api/projects", {"title": "big", "label_config": CONFIG})["id"]
            tasks = [{"data": {"text": f"task {n}"},
                      "annotations": [{"result": result("Positive")}, {"result": result("Negative" if n % 3 else
                                                                                        "Positive")}],
                      "predictions": [{"result": result("Positive"), "model_version": "v1"}]}
                     for n in range(args.tasks)]
            started = time.monotonic()
            server.call("POST", f"/api/projects/{project}/import", tasks)
            print(f"imported {args.tasks:,} tasks in {time.monotonic() - started:.1f} s")
            counted: Counter[str] = Counter()

            def connect(url: str, key: str) -> LabelStudioProjects:
                return LabelStudioProjects(url, key, on_answer=lambda endpoint, status: counted.update([endpoint]))

            env = {"LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.owner.token}
            started = time.monotonic()
            export, _ = read_export(None, project, True, env, io.StringIO(), connect)
            elapsed = time.monotonic() - started
            print(f"score --project: {sum(counted.values())} requests ({dict(counted)}) in {elapsed:.1f} s for "
                  f"{len(export.tasks):,} tasks, {export.annotations:,} annotations and predictions")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
