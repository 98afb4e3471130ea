"""mlpbench: from-scratch NumPy vs PyTorch MLP, reproducibly compared."""
