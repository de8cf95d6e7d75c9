#!/usr/bin/env bash
# Deploy the gateway to Google Cloud Run: `make deploy-gcp`.
#
# Idempotent set-up, then `gcloud run deploy --source .` (Cloud Build builds
# the root Dockerfile, whose CLOUDRUN_STORE build argument puts Firestore,
# the service's GATEWAY_STATE_STORE, into the lean Cloud Run build): enables the APIs, creates the service account with
# roles/aiplatform.user (Vertex AI) and roles/datastore.user (Firestore), a
# Firestore database if the project has none, and the master key in Secret
# Manager; deploys with a 60-minute request timeout for long streams. Ends by
# printing the endpoint and the two Claude Code export lines.
#
#   ./scripts/deploy-cloudrun.sh             set up and deploy
#   ./scripts/deploy-cloudrun.sh --exports   only print the export lines (eval "$(...)")
#
# Environment (defaults): PROJECT (gcloud config), REGION (gcloud run/region,
# else us-central1), SERVICE (claude-gateway), SA_NAME (claude-gateway),
# KEY_SECRET (claude-gateway-master-key), CONFIG_SECRET (unset: the image's
# bundled config.yaml; set: a Secret Manager secret holding the config, mounted
# at /etc/claude-gateway/config.yaml), FIRESTORE_LOCATION (REGION),
# MIN_INSTANCES (0), MAX_INSTANCES (20), CONCURRENCY (80).
# SSO for Claude Code (README "SSO for a team"; the config's sso block reads
# them as os.environ/SSO_*): SSO_ISSUER, SSO_CLIENT_ID, SSO_PUBLIC_URL (unset:
# the service's own URL), SSO_CLIENT_SECRET_NAME (a Secret Manager secret with
# the OAuth client secret; created from SSO_CLIENT_SECRET if it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "deploy-cloudrun: $*" >&2; exit 1; }
command -v gcloud >/dev/null || die "gcloud is not installed"

PROJECT=${PROJECT:-$(gcloud config get-value project 2>/dev/null || true)}
[ -n "$PROJECT" ] || die "no project: run 'gcloud config set project ID' or set PROJECT"
REGION=${REGION:-$(gcloud config get-value run/region 2>/dev/null || true)}
REGION=${REGION:-us-central1}
SERVICE=${SERVICE:-claude-gateway}
SA_NAME=${SA_NAME:-claude-gateway}
SA="$SA_NAME@$PROJECT.iam.gserviceaccount.com"
KEY_SECRET=${KEY_SECRET:-claude-gateway-master-key}
FIRESTORE_LOCATION=${FIRESTORE_LOCATION:-$REGION}
MIN_INSTANCES=${MIN_INSTANCES:-0}
MAX_INSTANCES=${MAX_INSTANCES:-20}
CONCURRENCY=${CONCURRENCY:-80}
g() { gcloud --project "$PROJECT" --quiet "$@"; }

print_exports() {
  url=$(g run services describe "$SERVICE" --region "$REGION" --format='value(status.url)')
  echo "export ANTHROPIC_BASE_URL=$url"
  echo "export ANTHROPIC_AUTH_TOKEN=\"\$(gcloud secrets versions access latest --secret $KEY_SECRET --project $PROJECT)\""
}

if [ "${1:-}" = "--exports" ]; then
  print_exports
  exit 0
fi

echo "==> enabling APIs in $PROJECT"
g services enable run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com \
  aiplatform.googleapis.com firestore.googleapis.com secretmanager.googleapis.com

echo "==> service account $SA"
g iam service-accounts describe "$SA" >/dev/null 2>&1 ||
  g iam service-accounts create "$SA_NAME" --display-name "claude-gateway (Cloud Run)"
for role in roles/aiplatform.user roles/datastore.user; do
  g projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:$SA" --role "$role" --condition=None >/dev/null
done

echo "==> Firestore (native mode) for the shared state"
g firestore databases describe --database='(default)' >/dev/null 2>&1 ||
  g firestore databases create --database='(default)' --location="$FIRESTORE_LOCATION" --type=firestore-native

echo "==> master key in Secret Manager ($KEY_SECRET)"
if ! g secrets describe "$KEY_SECRET" >/dev/null 2>&1; then
  printf 'sk-%s' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" |
    g secrets create "$KEY_SECRET" --replication-policy=automatic --data-file=-
fi
g secrets add-iam-policy-binding "$KEY_SECRET" --member "serviceAccount:$SA" \
  --role roles/secretmanager.secretAccessor >/dev/null

secrets="GATEWAY_MASTER_KEY=$KEY_SECRET:latest"
env="GATEWAY_STATE_STORE=firestore,GATEWAY_STATE_COLLECTION=claude-gateway,GOOGLE_CLOUD_PROJECT=$PROJECT,LOG_LEVEL=info"
if [ -n "${CONFIG_SECRET:-}" ]; then
  g secrets add-iam-policy-binding "$CONFIG_SECRET" --member "serviceAccount:$SA" \
    --role roles/secretmanager.secretAccessor >/dev/null
  secrets="$secrets,/etc/claude-gateway/config.yaml=$CONFIG_SECRET:latest"
  env="$env,GATEWAY_CONFIG=/etc/claude-gateway/config.yaml"
fi

if [ -n "${SSO_ISSUER:-}" ]; then
  SSO_CLIENT_SECRET_NAME=${SSO_CLIENT_SECRET_NAME:-claude-gateway-sso-client-secret}
  if ! g secrets describe "$SSO_CLIENT_SECRET_NAME" >/dev/null 2>&1; then
    [ -n "${SSO_CLIENT_SECRET:-}" ] || die "set SSO_CLIENT_SECRET (once) to create the secret $SSO_CLIENT_SECRET_NAME"
    printf %s "$SSO_CLIENT_SECRET" | g secrets create "$SSO_CLIENT_SECRET_NAME" --replication-policy=automatic --data-file=-
  fi
  g secrets add-iam-policy-binding "$SSO_CLIENT_SECRET_NAME" --member "serviceAccount:$SA" \
    --role roles/secretmanager.secretAccessor >/dev/null
  if [ -z "${SSO_PUBLIC_URL:-}" ]; then
    # The service's URL is stable once it exists (the first deploy gets it after).
    SSO_PUBLIC_URL=$(g run services describe "$SERVICE" --region "$REGION" --format='value(status.url)' 2>/dev/null || true)
    [ -n "$SSO_PUBLIC_URL" ] || die "the service does not exist yet: deploy once without SSO_ISSUER, or set SSO_PUBLIC_URL"
  fi
  secrets="$secrets,SSO_CLIENT_SECRET=$SSO_CLIENT_SECRET_NAME:latest"
  env="$env,SSO_ISSUER=$SSO_ISSUER,SSO_CLIENT_ID=${SSO_CLIENT_ID:?set SSO_CLIENT_ID},SSO_PUBLIC_URL=$SSO_PUBLIC_URL"
  echo "==> SSO: issuer $SSO_ISSUER, redirect URI to register at the IdP: $SSO_PUBLIC_URL/sso/callback"
fi

echo "==> building (Cloud Build, ./Dockerfile) and deploying $SERVICE to $REGION"
g run deploy "$SERVICE" --source . --region "$REGION" \
  --service-account "$SA" --allow-unauthenticated \
  --timeout 3600 --concurrency "$CONCURRENCY" \
  --min-instances "$MIN_INSTANCES" --max-instances "$MAX_INSTANCES" \
  --cpu 1 --memory 512Mi --cpu-boost \
  --set-env-vars "$env" --set-secrets "$secrets"

echo
echo "Gateway: $(g run services describe "$SERVICE" --region "$REGION" --format='value(status.url)')"
echo "Connect Claude Code:"
print_exports | sed 's/^/  /'
