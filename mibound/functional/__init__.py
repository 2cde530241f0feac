"""Pure functions: exact Gaussian MI, the bounds as functions of a score matrix, KSG and the plug-ins, copulas.

Nothing here trains or keeps state; the estimators in :mod:`mibound.estimators` are thin classes on top.
"""
