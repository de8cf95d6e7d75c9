#!/usr/bin/env bash
# Deploy the gateway to AWS Lambda with SAM (template.yaml): `make deploy-aws`.
#
# First use: creates the master key in Secrets Manager (if absent), runs
# `sam build` and `sam deploy --guided` (answers saved in samconfig.toml).
# Later uses: `sam build && sam deploy` with the saved answers.
# Ends by printing the endpoint and the two Claude Code export lines.
#
#   ./scripts/deploy-aws.sh             build and deploy
#   ./scripts/deploy-aws.sh --exports   only print the export lines (eval "$(...)")
#
# Environment: STACK_NAME (default claude-gateway), MASTER_KEY_SECRET_NAME
# (default claude-gateway/master-key), AWS_REGION / AWS_PROFILE as usual.
# Needs: aws CLI v2, SAM CLI, Go and make (sam build runs `make build-GatewayFunction`).
set -euo pipefail
cd "$(dirname "$0")/.."

STACK_NAME=${STACK_NAME:-claude-gateway}
SECRET_NAME=${MASTER_KEY_SECRET_NAME:-claude-gateway/master-key}

die() { echo "deploy-aws: $*" >&2; exit 1; }

# The stack name sam saved on the first (guided) deploy, if any.
if [ -f samconfig.toml ]; then
  saved=$(sed -n 's/^stack_name *= *"\(.*\)"/\1/p' samconfig.toml | head -n1)
  STACK_NAME=${saved:-$STACK_NAME}
fi

output() {
  aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

print_exports() {
  output ClaudeCodeBaseUrl
  output ClaudeCodeAuthToken
}

if [ "${1:-}" = "--exports" ]; then
  print_exports
  exit 0
fi

for tool in aws sam go make; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done

# The master key lives in Secrets Manager, never in the template or its parameters.
arn=$(aws secretsmanager describe-secret --secret-id "$SECRET_NAME" --query ARN --output text 2>/dev/null || true)
if [ -z "$arn" ] || [ "$arn" = "None" ]; then
  echo "==> creating the master key secret $SECRET_NAME"
  key="sk-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  arn=$(aws secretsmanager create-secret --name "$SECRET_NAME" \
    --description "claude-gateway master key (clients send it as x-api-key or Bearer)" \
    --secret-string "$key" --query ARN --output text)
  unset key
fi

echo "==> sam build"
sam build

if [ -f samconfig.toml ]; then
  echo "==> sam deploy (stack $STACK_NAME, saved settings)"
  sam deploy --no-fail-on-empty-changeset
else
  echo "==> sam deploy --guided (first deploy; accept MasterKeySecretArn=$arn)"
  sam deploy --guided --stack-name "$STACK_NAME" --capabilities CAPABILITY_IAM \
    --parameter-overrides "MasterKeySecretArn=$arn"
  if [ -f samconfig.toml ]; then
    saved=$(sed -n 's/^stack_name *= *"\(.*\)"/\1/p' samconfig.toml | head -n1)
    STACK_NAME=${saved:-$STACK_NAME}
  fi
fi

echo
echo "Gateway: $(output GatewayUrl)"
echo "Connect Claude Code:"
print_exports | sed 's/^/  /'
