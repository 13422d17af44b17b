"""Intents: the 28.312-shaped schema, loading, conflicts, revisions, diffs, plans. Pure.

- :mod:`intents.schema`: the catalogue of expectation types, targets, units, contexts, and
  the JSON Schema built from it;
- :mod:`intents.yamldoc`, :mod:`intents.load`: YAML text to intents, with located errors;
- :mod:`intents.conflicts`: conflicts between intents and their priority resolution;
- :mod:`intents.revisions`: the GitOps state machine (admit, refuse, quarantine);
- :mod:`intents.diff`, :mod:`intents.plan`, :mod:`intents.report`: semantic diffs, plan
  reports, 28.312 fulfilment reports.

The IO around them lives in controller/ (intent_store.py, gitops.py, cli_intents.py).
"""
