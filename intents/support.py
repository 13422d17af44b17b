"""What the running controller can honour, as data, so validation can say so up front.

The schema describes everything an intent file may declare. A given netpilot version
carries out only part of it. The rule for the difference:

- a feature whose neglect would make netpilot act AGAINST what the file says is an error
  (``mode: approve`` without an approval path would act unapproved; a ``timeWindow`` on an
  expectation the loop enforces would be acted on outside the window);
- a feature netpilot merely cannot carry out yet is a warning (an expectation type without a
  policy, a target nothing measures): the intent is admitted, reported as not enforced, and
  nothing is changed on its behalf.

As the loop learns more, the lead widens :data:`CURRENT_SUPPORT`; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from controller.model import ExpectationType, IntentMode

__all__ = ["CURRENT_SUPPORT", "FULL_SUPPORT", "Support", "controller_support"]


@dataclass(frozen=True, slots=True)
class Support:
    """The features a controller version carries out.

    Args:
        modes: intent modes it honours.
        measured_targets: per enforced expectation type, the target names it measures
            (a type absent here has no policy: its intents are admitted, not enforced).
        contexts: context names the loop honours on enforced expectations.
        site_pairs: whether an e2e-qos expectation between two sites is measured.
        subscriber_groups: whether a video-experience expectation's ``subscriberGroup`` is
            honoured (the devices report subscribers without their group: the policy would
            act for every subscriber of the selected nodes, not the group's alone).
        twin_arbitration: whether every plan is checked on a what-if twin against the
            other intents' targets before it is applied (the controller has a topology:
            ``topology:`` in its config). Then an energy-saving expectation that loses a
            sleep-vs-headroom conflict to an e2e-qos path keeps acting, and its plans are
            refused at run time where the twin predicts they would break the path's latency
            or loss, instead of being narrowed away at admission (see intents.conflicts).
    """

    modes: frozenset[IntentMode]
    measured_targets: Mapping[ExpectationType, frozenset[str]] = field(default_factory=dict)
    contexts: frozenset[str] = frozenset()
    site_pairs: bool = False
    subscriber_groups: bool = False
    twin_arbitration: bool = False

    def enforces(self, expectation_type: ExpectationType) -> bool:
        """Whether the controller has a policy for this expectation type."""
        return expectation_type in self.measured_targets

    def measures(self, expectation_type: ExpectationType, target: str) -> bool:
        """Whether the controller measures this target."""
        return target in self.measured_targets.get(expectation_type, frozenset())


# This version (policies.decide runs one policy per type; policies.decide.measure and
# analytics.kpi.evaluate_intent measure the targets):
# - e2e-qos acts on latency and loss measured by path probes;
# - energy-saving acts on the power draw against the fully-awake reference
#   (powerReductionRatio, powerBudgetWatts: measured with the topology's power profiles, so
#   they need `topology:`) and keeps maxUtilization (sensed port utilisation), honouring
#   redundancy and wakeLeadTimeSeconds (the MILP's N+1 rows, the forecast horizon);
# - video-experience acts on stallRatio (the stall model's answer per subscriber flow).
#   bitrateKbps is computed alongside, but no action is chosen for it, and nothing
#   measures startupDelaySeconds: both stay warnings;
# - timeWindow: outside its window no expectation is acted on (policies.decide.propose),
#   and energy saving wakes what it put to sleep (policies.energy).
CURRENT_SUPPORT = Support(
    modes=frozenset({IntentMode.AUTO, IntentMode.DRY_RUN, IntentMode.APPROVE}),
    measured_targets={
        ExpectationType.E2E_QOS: frozenset({"latencyMs", "lossRatio"}),
        ExpectationType.ENERGY_SAVING: frozenset(
            {"powerReductionRatio", "powerBudgetWatts", "maxUtilization"}
        ),
        ExpectationType.VIDEO_EXPERIENCE: frozenset({"stallRatio"}),
    },
    contexts=frozenset({"timeWindow", "redundancy", "wakeLeadTimeSeconds"}),
)

# Everything the schema allows (schema-only checks, and tests of the schema itself).
FULL_SUPPORT = Support(
    modes=frozenset(IntentMode),
    measured_targets={
        ExpectationType.E2E_QOS: frozenset(
            {"latencyMs", "lossRatio", "throughputMbps", "availability"}
        ),
        ExpectationType.ENERGY_SAVING: frozenset(
            {"powerReductionRatio", "powerBudgetWatts", "maxUtilization"}
        ),
        ExpectationType.VIDEO_EXPERIENCE: frozenset(
            {"stallRatio", "startupDelaySeconds", "bitrateKbps"}
        ),
    },
    contexts=frozenset({"timeWindow", "redundancy", "wakeLeadTimeSeconds"}),
    site_pairs=True,
    subscriber_groups=True,
)


def controller_support(*, topology: bool) -> Support:
    """What a controller of this version honours, given whether its config has a topology.

    The one place ``netpilot run`` and the commands that admit as it does (``intents
    describe``, ``intents plan`` with ``--config``) take it from: with a topology every plan
    is checked on the what-if twin, so admission leaves a sleep-vs-path-headroom conflict to
    that check (``twin_arbitration``).
    """
    return replace(CURRENT_SUPPORT, twin_arbitration=topology)
