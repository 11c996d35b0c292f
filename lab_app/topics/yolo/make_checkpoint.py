"""Train the YOLO v1 the YOLO tab ships with and save it with its card (no Qt):

    python -m lab_app.topics.yolo.make_checkpoint [--seconds 900] [--out ...]

The tab's default configuration (3 classes, 256 px scenes of 1-8 objects, trained on 1-24), seed 0,
stopped by a training-time budget (so the step count, and the result, depend on the machine and
its load). A few MB.
"""

from lab_app.detection import make_checkpoint
from lab_app.topics.yolo import task

if __name__ == "__main__":
    raise SystemExit(make_checkpoint.main(task, task.Config(), "python -m lab_app.topics.yolo.make_checkpoint",
                                          __doc__.splitlines()[0]))
