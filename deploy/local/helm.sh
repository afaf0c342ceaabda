#!/usr/bin/env bash
# Helm, to render deploy/helm/onceonly in the tests (tests/deploy/test_helm.py), built
# from its Go module (helm.sh/helm/v4, from the Go module proxy) once per machine.
#
#   deploy/local/helm.sh          print the path of helm, building it first if missing
#
# The binary is kept outside the checkout ($ONCEONLY_TOOLS_DIR, by default
# ~/.cache/onceonly/tools), named by its version, so every clone on the machine shares
# one build (about 4 minutes on 2 cores the first time). The build's output goes to
# .run/logs/helm-install.log, shown when it fails.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

HELM_VERSION="v4.3.2"
TOOLS="${ONCEONLY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/onceonly/tools}"
HELM="$TOOLS/helm-$HELM_VERSION/helm"
INSTALL_LOG="$LOGS/helm-install.log"

if [[ ! -x "$HELM" ]]; then
    GO="$(command -v go || true)"
    [[ -n "$GO" ]] || { [[ -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go; } ||
        die_with_log helm "building helm needs Go 1.24 or later (go on PATH or /usr/local/go)"
    say "helm: building helm.sh/helm/v4 $HELM_VERSION with $("$GO" version | cut -d' ' -f3) (once per machine)" >&2
    mkdir -p "$TOOLS/helm-$HELM_VERSION"
    # Into a scratch directory first: an interrupted build leaves no half-written binary.
    scratch="$(mktemp -d "$TOOLS/helm-build.XXXXXX")"
    trap 'rm -rf "$scratch"' EXIT
    GOBIN="$scratch" GOFLAGS=-mod=mod "$GO" install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" \
        >>"$INSTALL_LOG" 2>&1 </dev/null ||
        die_with_log helm "go install helm.sh/helm/v4/cmd/helm@$HELM_VERSION failed" "$INSTALL_LOG"
    mv "$scratch/helm" "$HELM"
fi

"$HELM" version --short >/dev/null 2>>"$INSTALL_LOG" || die_with_log helm "$HELM does not run" "$INSTALL_LOG"
echo "$HELM"
