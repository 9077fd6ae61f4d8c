#!/usr/bin/env bash
# The quality gate: the multi-set eval on the dev sets with --fail-under gates (exit 2 below a
# gate). Gates sit at the figures in the README's "Measured" section less a noise margin
# (one or two questions' worth). Needs ../shared/data beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
if [ ! -d ../shared/data/galaxy_s10 ] || [ ! -d ../shared/data/contoso_hr_benefits ]; then
  echo "quality gate: ../shared/data not found, skipped." >&2
  exit 0
fi
echo "quality gate: supportbot eval on the dev sets (a few minutes)"
supportbot eval --out "${SUPPORTBOT_GATE_REPORTS:-reports/quality-gate}" \
  --fail-under answerable_abstain_rate=0.03 \
  --fail-under contoso_hr_benefits:hit@5=0.93 \
  --fail-under contoso_hr_benefits:mrr@10=0.785 \
  --fail-under contoso_hr_benefits:citation_hit=0.84 \
  --fail-under contoso_hr_benefits:f1=0.40 \
  --fail-under contoso_hr_benefits:rouge_l=0.305 \
  --fail-under contoso_hr_benefits:abstention_recall=0.48 \
  --fail-under galaxy_s10:hit@5=0.92 \
  --fail-under galaxy_s10:mrr@10=0.86 \
  --fail-under galaxy_s10:citation_hit=0.86 \
  --fail-under galaxy_s10:f1=0.56 \
  --fail-under galaxy_s10:rouge_l=0.545
echo "quality gate: passed"
