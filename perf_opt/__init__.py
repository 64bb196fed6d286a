__version__ = "0.1.0"

# the user's contract (14_your_model): write a Task, train and bench it with the package's loop
from .trainer import Task, TaskData, TrainConfig, fit  # noqa: E402,F401
