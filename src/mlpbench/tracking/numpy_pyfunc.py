"""The NumPy MLP's pyfunc model, logged as code (MLflow's models-from-code), not as a pickle.

``models.log_numpy_model`` logs this file: MLflow copies it into the logged model and, when the
model is loaded, runs it, which defines ``NumpyMLPModel`` and hands an instance to ``set_model``.
The model's code comes from the installed ``mlpbench`` package (``model_io``, ``models.softmax``),
never from the artifact store; its one artifact is the ``weights.npz`` it reads (NumPy arrays, read
with ``allow_pickle=False``).
"""
import mlflow.pyfunc
import numpy as np
from mlflow.models import set_model


class NumpyMLPModel(mlflow.pyfunc.PythonModel):
    """The from-scratch NumPy MLP as an ``mlflow.pyfunc`` model.

    Its one artifact ``weights`` is the ``weights.npz`` written by ``model_io.save_model``;
    ``predict`` takes pixels (n, 784) in [0, 1] and returns class probabilities (n, classes) float32.
    """

    def load_context(self, context) -> None:
        from mlpbench import model_io

        self.model = model_io.load_model(context.artifacts["weights"])

    def predict(self, context, model_input: np.ndarray, params=None) -> np.ndarray:
        # The np.ndarray hint tells MLflow not to infer a signature from it (an untyped input
        # makes MLflow warn when this class is defined).
        from mlpbench.tracking.models import softmax

        return softmax(self.model.logits(np.asarray(model_input, dtype=np.float32)))


set_model(NumpyMLPModel())
