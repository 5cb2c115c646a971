"""The pieces of scripts/benchmark.py: timed rounds and their statistics (`timing`), and the keras.applications
contender of the model comparison (`keras_reference`)."""
