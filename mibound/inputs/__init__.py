"""Inputs: one pass from what a user gives (arrays, tensors, frames, files, images) to a checked pair.

``checks`` (argument and array checks, image layouts), ``pair`` (:func:`~mibound.inputs.pair.read_pair`: the validated pair
every estimator reads), ``columns`` (constants, ties, discreteness), ``maps`` (per-column increasing
maps fitted on training rows) and ``files`` (``.npz`` / ``.npy`` / ``.csv`` and atomic writes).
"""
