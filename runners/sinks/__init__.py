"""Where a finished job's results go, in order: W&B, Weave, the eval-log copy, the baseline
comparison, and last the completion event (which carries what the others recorded)."""

from evaljobs.settings import Settings
from runners.sinks.base import ResultSink, SinkContext, run_sinks
from runners.sinks.baseline import BaselineSink
from runners.sinks.completion_event import CompletionEventSink
from runners.sinks.eval_logs import EvalLogCopySink
from runners.sinks.wandb_run import WandbSink
from runners.sinks.weave_eval import WeaveSink

__all__ = [
    "BaselineSink",
    "CompletionEventSink",
    "EvalLogCopySink",
    "ResultSink",
    "SinkContext",
    "WandbSink",
    "WeaveSink",
    "default_sinks",
    "run_sinks",
]


def default_sinks(settings: Settings) -> list[ResultSink]:
    """The sinks of a deployment, in the order they run."""
    sinks: list[ResultSink] = [WandbSink(), WeaveSink()]
    if settings.eval_logs_bucket:
        sinks.append(EvalLogCopySink(settings.eval_logs_bucket))
    return [*sinks, BaselineSink(), CompletionEventSink()]
