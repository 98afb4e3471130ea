"""A small from-scratch neural-network library in NumPy, with PyTorch's names."""
from .activations import GELU, LeakyReLU, ReLU, Sigmoid, Tanh, make_activation
from .layers import Dropout, InputDropout, Linear, ReLUDropout
from .loss import CrossEntropyLoss
from .lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR
from .model import MLP
from .module import Module, Parameter, Sequential, Workspace
from .optim import SGD, Adam, AdamW, Optimizer, RMSprop

__all__ = [
    "GELU", "LeakyReLU", "ReLU", "Sigmoid", "Tanh", "make_activation",
    "Dropout", "InputDropout", "Linear", "ReLUDropout", "CrossEntropyLoss",
    "CosineAnnealingLR", "LRScheduler", "StepLR",
    "MLP", "Module", "Parameter", "Sequential", "Workspace",
    "SGD", "Adam", "AdamW", "Optimizer", "RMSprop",
]
