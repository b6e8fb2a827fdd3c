"""Watching a model in production: the prediction log, input flags, drift and live quality."""

from mlcraft.monitoring.flags import input_flags
from mlcraft.monitoring.log import LogWriter, PredictionLog, RequestRecord

__all__ = ["input_flags", "LogWriter", "PredictionLog", "RequestRecord"]
