#!/usr/bin/env bash
# Fresh random keys for the Docker secrets of docker-compose.yml, one file per purpose
# under .run/docker-secrets/ (a directory only its owner can enter). A file that exists
# is kept, so the keys stay the same across runs (sealed data and tokens stay valid);
# delete one to replace that key. Prints nothing secret.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="$REPO/.run/docker-secrets"
umask 077
mkdir -p "$DIR"
chmod 700 "$DIR"

random() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }

# name: the value's shape (docs/security.md): a key ring is `id:secret[,id:secret]`.
write() {
    local name="$1" value="$2"
    if [[ -s "$DIR/$name" ]]; then
        echo "kept    $DIR/$name"
        return
    fi
    printf '%s\n' "$value" >"$DIR/$name"
    # Readable inside the containers (a non-root user); the directory keeps others out.
    chmod 644 "$DIR/$name"
    echo "written $DIR/$name"
}

write pii-keys "compose1:$(random 32)"
write department-api-token-keys "compose-department-1:$(random 48)"
write tracking-api-token-keys "compose-tracking-1:$(random 48)"
write notify-api-token-keys "compose-notify-1:$(random 48)"
write notify-recipient-hash-key "$(random 48)"
write registry-lookup-key "$(random 48)"
# Ed25519 private key (its 32 bytes, base64) signing e-licences.
write elicence-signing-keys "compose-elicence-1:$(random 32)"
# Ed25519 private key signing tracking's timeline checkpoints (its own, by purpose).
write timeline-checkpoint-signing-keys "compose-checkpoint-1:$(random 32)"
