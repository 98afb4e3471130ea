"""Names of the MLflow tags that the run lifecycle (``runs``) writes and the doctor (``doctor``) reads.

Kept apart from both, so that neither imports the other: ``python -m mlpbench.tracking.doctor`` then
runs without the package having imported the doctor first.
"""
PROCESS_TAG = "mlpbench.process"  # the process writing the run (mlpbench.processes.process_tag)
REASON_TAG = "killed_reason"  # why a run was ended KILLED from outside its process
# A seed group (mlpbench.run.seeds): "group" on the parent run holding the seeds' means and intervals,
# "seed" on each seed's run under it. Single runs carry neither.
GROUP_TAG = "mlpbench.seed_group"
