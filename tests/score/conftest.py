"""Projects on the real Label Studio Community server, and their exports, for the score tests.

Ten projects, one per result type (and one with two controls), built through the real API:
four tasks; annotations posted by three users with their own tokens; a skipped annotation, an
empty result, ground truth, one annotator twice on a task, predictions from two model versions,
and a task nobody annotated.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

LIBRARY = Path(__file__).parents[2] / "examples" / "metrics"
TEXT = '<Text name="text" value="$text"/>'
IMAGE = '<Image name="image" value="$image"/>'


def choice(name, values, kind="choices"):
    return {"from_name": name, "to_name": "text", "type": kind, "value": {kind: values}}


def region(kind, to, value, labels):
    return {"from_name": kind, "to_name": to, "type": kind, "original_width": 800, "original_height": 600,
            "value": {**value, kind: labels}}


# result type -> (library metric, labeling config, data of a task, result of variant a, b, c)
PROJECTS = {
    "choices": ("choices.yaml", f'<View>{TEXT}<Choices name="sentiment" toName="text"><Choice value="Positive"/>'
                '<Choice value="Negative"/></Choices></View>', {"text": "fine"},
                {v: [choice("sentiment", [c])] for v, c in (("a", "Positive"), ("b", "Negative"), ("c", "Positive"))}),
    "multichoice": ("multichoice.yaml", f'<View>{TEXT}<Choices name="topics" toName="text" choice="multiple">'
                    '<Choice value="A"/><Choice value="B"/><Choice value="C"/></Choices></View>', {"text": "x"},
                    {"a": [choice("topics", ["A", "B"])], "b": [choice("topics", ["B"])],
                     "c": [choice("topics", ["A", "C"])]}),
    "text-spans": ("text-spans.yaml", f'<View>{TEXT}<Labels name="label" toName="text"><Label value="PER"/>'
                   '<Label value="ORG"/></Labels></View>', {"text": "Ana works at Acme"},
                   {"a": [region("labels", "text", {"start": 0, "end": 3, "text": "Ana"}, ["PER"])],
                    "b": [region("labels", "text", {"start": 13, "end": 17, "text": "Acme"}, ["ORG"])],
                    "c": [region("labels", "text", {"start": 0, "end": 3, "text": "Ana"}, ["PER"]),
                          region("labels", "text", {"start": 13, "end": 17, "text": "Acme"}, ["ORG"])]}),
    "rectangles": ("rectangles.yaml", f'<View>{IMAGE}<RectangleLabels name="rectanglelabels" toName="image">'
                   '<Label value="Car"/></RectangleLabels></View>', {"image": "https://example.com/a.jpg"},
                   {v: [region("rectanglelabels", "image", {"x": x, "y": 10, "width": 20, "height": 20, "rotation": 0},
                               ["Car"])] for v, x in (("a", 10), ("b", 20), ("c", 60))}),
    "polygons": ("polygons.yaml", f'<View>{IMAGE}<PolygonLabels name="polygonlabels" toName="image">'
                 '<Label value="Lake"/></PolygonLabels></View>', {"image": "https://example.com/b.jpg"},
                 {v: [region("polygonlabels", "image", {"points": [[x, 10], [x + 20, 10], [x + 20, 30], [x, 30]]},
                             ["Lake"])] for v, x in (("a", 10), ("b", 15), ("c", 70))}),
    "keypoints": ("keypoints.yaml", f'<View>{IMAGE}<KeyPointLabels name="keypointlabels" toName="image">'
                  '<Label value="Eye"/></KeyPointLabels></View>', {"image": "https://example.com/c.jpg"},
                  {v: [region("keypointlabels", "image", {"x": x, "y": 20, "width": 1}, ["Eye"])]
                   for v, x in (("a", 20), ("b", 21), ("c", 80))}),
    "rating": ("rating-number.yaml", f'<View>{TEXT}<Rating name="rating" toName="text" maxRating="5"/></View>',
               {"text": "r"}, {v: [{"from_name": "rating", "to_name": "text", "type": "rating",
                                    "value": {"rating": r}}] for v, r in (("a", 4), ("b", 2), ("c", 5))}),
    "textarea": ("textarea.yaml", f'<View>{TEXT}<TextArea name="answer" toName="text"/></View>', {"text": "t"},
                 {v: [{"from_name": "answer", "to_name": "text", "type": "textarea", "value": {"text": [t]}}]
                  for v, t in (("a", "a cat"), ("b", "a dog"), ("c", "a cat"))}),
    "taxonomy": ("taxonomy.yaml", f'<View>{TEXT}<Taxonomy name="taxonomy" toName="text"><Choice value="Animal">'
                 '<Choice value="Cat"/><Choice value="Dog"/></Choice></Taxonomy></View>', {"text": "pet"},
                 {v: [choice("taxonomy", [p], kind="taxonomy")]
                  for v, p in (("a", ["Animal", "Cat"]), ("b", ["Animal", "Dog"]), ("c", ["Animal"]))}),
    "two-controls": ("choices.yaml", f'<View>{TEXT}<Choices name="sentiment" toName="text"><Choice value="Positive"/>'
                     '<Choice value="Negative"/></Choices><Choices name="tone" toName="text"><Choice value="Calm"/>'
                     '<Choice value="Angry"/></Choices></View>', {"text": "ok"},
                     {"a": [choice("sentiment", ["Positive"]), choice("tone", ["Calm"])],
                      "b": [choice("sentiment", ["Positive"]), choice("tone", ["Angry"])],
                      "c": [choice("sentiment", ["Negative"]), choice("tone", ["Angry"])]}),
}


@pytest.fixture(scope="session")
def people(community):
    return {name: community.sign_up(f"{name}@example.com") for name in ("ana", "bo", "chiara")}


def build(community, people, config: str, data: dict, results: dict) -> int:
    """A project with four tasks annotated the ways real projects are (see the module's docstring)."""
    project = community.call("POST", "/api/projects", {"title": "agreement", "label_config": config})["id"]
    community.call("POST", f"/api/projects/{project}/import", [data] * 4)
    tasks = [task["id"] for task in community.call("GET", f"/api/tasks?project={project}&page_size=100")["tasks"]]

    def annotate(task, who, variant=None, **fields):
        body = {"result": results[variant] if variant else [], **fields}
        return community.call("POST", f"/api/tasks/{task}/annotations/", body, token=people[who].token)

    annotate(tasks[0], "ana", "a")
    annotate(tasks[0], "bo", "a")
    annotate(tasks[0], "chiara", "b")
    annotate(tasks[1], "ana", "b")
    annotate(tasks[1], "bo", "c")
    annotate(tasks[1], "chiara", was_cancelled=True)  # skipped
    annotate(tasks[1], "ana", "c")  # one annotator twice on a task
    annotate(tasks[2], "ana")  # an empty result
    truth = annotate(tasks[2], "bo", "a")
    community.call("PATCH", f"/api/annotations/{truth['id']}/", {"ground_truth": True}, token=people["bo"].token)
    annotate(tasks[2], "chiara", "b")
    for model, variant in (("model-v1", "a"), ("model-v2", "c")):
        community.call("POST", "/api/predictions/", {"task": tasks[2], "result": results[variant],
                                                     "model_version": model, "score": 0.5})
    return project  # tasks[3]: nobody annotated it


@pytest.fixture(scope="session")
def projects(community, people) -> dict[str, int]:
    return {kind: build(community, people, config, data, results)
            for kind, (_, config, data, results) in PROJECTS.items()}


@dataclass
class RealExports:
    """Exports the real server writes, as files."""

    community: object
    projects: dict[str, int]
    folder: Path

    def metric(self, kind: str) -> Path:
        return LIBRARY / PROJECTS[kind][0]

    def download(self, project: int, query: str = "exportType=JSON") -> Path:
        return download(self.community, project, self.folder, query)

    def snapshot(self, kind: str, details: bool = True) -> Path:
        path = self.folder / f"snapshot-{kind}-{details}.json"
        return path if path.exists() else snapshot(self.community, self.projects[kind], self.folder, details, path)


@pytest.fixture(scope="session")
def real(community, projects, tmp_path_factory) -> RealExports:
    return RealExports(community, projects, tmp_path_factory.mktemp("exports"))


def download(community, project: int, tmp_path: Path, query: str = "exportType=JSON") -> Path:
    status, body = community.request("GET", f"/api/projects/{project}/export?{query}")
    assert status == 200, body
    path = tmp_path / f"export-{project}-{abs(hash(query))}.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


def snapshot(community, project: int, tmp_path: Path, details: bool, path: Path | None = None) -> Path:
    options = {"annotations__completed_by": {"only_id": not details}, "predictions": {"only_id": not details}}
    made = community.call("POST", f"/api/projects/{project}/exports/", {"title": "t", "serialization_options": options})
    body = community.call("GET", f"/api/projects/{project}/exports/{made['id']}/download?exportType=JSON")
    path = path or tmp_path / f"snapshot-{project}-{details}.json"
    path.write_text(json.dumps(body))
    return path
