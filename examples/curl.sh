#!/usr/bin/env bash
# Logs in, asks for an image, polls until the generation ends and saves the image.
# Usage: ./curl.sh OUTPUT_FILE [PROMPT]   (settings: see README.md)
set -euo pipefail

out=${1:?usage: curl.sh OUTPUT_FILE [PROMPT]}
prompt=${2:-A beautiful sunset over mountains, vibrant colors}
base=${IMAGEGEN_URL:-http://localhost:8000}
timeout=${IMAGEGEN_TIMEOUT:-300}
command -v jq >/dev/null || { echo "error: this example needs jq (https://jqlang.org)" >&2; exit 1; }

body=$(mktemp)
trap 'rm -f "$body"' EXIT
token=

# Prints the JSON body of a 2xx answer; otherwise prints the envelope's message (and the fields at
# fault) and fails, which ends the script through `set -e`.
api() {
  local method=$1 path=$2 data=${3:-} status
  local args=(-sS -X "$method" -o "$body" -w '%{http_code}')
  if [[ -n $token ]]; then args+=(-H "Authorization: Bearer $token"); fi
  if [[ -n $data ]]; then args+=(-H 'Content-Type: application/json' --data-binary "$data"); fi
  status=$(curl "${args[@]}" "$base$path")
  if ((status >= 400)); then
    echo "error: $method $path answered $status:" >&2
    jq -r '.message, (.errors // [] | .[] | "  \(.field): \(.message)")' "$body" >&2 2>/dev/null || cat "$body" >&2
    return 1
  fi
  cat "$body"
}

# With a name, the first login creates the account.
login=$(jq -n --arg email "${IMAGEGEN_EMAIL:-user@example.com}" --arg password "${IMAGEGEN_PASSWORD:-password123}" \
  --arg name "${IMAGEGEN_NAME:-John Doe}" '{email: $email, password: $password, name: $name}')
token=$(api POST /api/auth/login "$login" | jq -r .data.token)

request=$(jq -n --arg prompt "$prompt" --arg model "${IMAGEGEN_MODEL:-}" \
  '{prompt: $prompt} + (if $model == "" then {} else {model: $model} end)')
# The answer is 202 at once, with the pending record; the image comes when the worker is done.
created=$(api POST /api/generations/ "$request")
id=$(jq -r .data.id <<<"$created")
seen=$(jq -r .data.status <<<"$created")
echo "generation $id: $seen"

deadline=$((SECONDS + timeout))
while :; do
  record=$(api GET "/api/generations/$id")
  status=$(jq -r .data.status <<<"$record")
  if [[ $status != "$seen" ]]; then
    echo "generation $id: $status"
    seen=$status
  fi
  case $status in
    completed) break ;;
    failed | canceled)
      echo "error: generation $id $status: $(jq -r '.data.error // .data.cancel_reason' <<<"$record")" >&2
      exit 1
      ;;
  esac
  if ((SECONDS >= deadline)); then
    echo "error: generation $id still $status after ${timeout}s" >&2
    exit 1
  fi
  sleep 1
done

# The same bytes as the data URL in image_url, without decoding base64 in the shell.
curl -sS --fail -o "$out" -H "Authorization: Bearer $token" "$base/api/generations/$id/image"
echo "saved $(jq -r '"\(.data.image.mime_type) \(.data.image.width)x\(.data.image.height)"' <<<"$record") to $out"
