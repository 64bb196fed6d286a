__version__ = "0.1.0"

# the user's contract (15_your_model): write a Task, train and bench it with the package's loop
from .config import TrainConfig  # noqa: E402,F401
from .task import Task, TaskData  # noqa: E402,F401
from .trainer import fit  # noqa: E402,F401
