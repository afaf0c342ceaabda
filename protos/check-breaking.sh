#!/usr/bin/env bash
# `buf breaking` for protos/: the schemas must stay compatible with those of the main
# branch. Against what, in this order:
#   - origin/main, if a remote has it, else the local main branch: their merge base with
#     HEAD (on a branch, what the branch changed; a branch behind main does not count
#     main's newer fields as removed);
#   - when HEAD is main's tip itself: HEAD, if protos/ has uncommitted changes (the change
#     being made), else HEAD^ (what the last commit changed: CI on main);
#   - neither (no main branch; a shallow clone without HEAD^): skipped, with a message.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUF="${BUF:-node_modules/.bin/buf}"

commit() { git rev-parse --verify --quiet "$1^{commit}"; }

base="" what=""
for candidate in origin/main main; do
    if tip="$(commit "$candidate")"; then
        base="$(git merge-base HEAD "$tip")"
        what="the merge base of HEAD and $candidate"
        break
    fi
done
if [[ -z "$base" ]]; then
    echo "buf breaking: skipped: no origin/main or main branch to compare protos/ with"
    exit 0
fi
if [[ "$base" == "$(git rev-parse HEAD)" ]]; then
    if [[ -n "$(git status --porcelain -- ':(glob)protos/**/*.proto')" ]]; then
        what="HEAD (the .proto files have uncommitted changes)"
    elif parent="$(commit HEAD^)"; then
        base="$parent" what="HEAD^ (HEAD is main's tip: what its last commit changed)"
    else
        echo "buf breaking: skipped: HEAD is main's tip and its parent is not here (shallow clone?)"
        exit 0
    fi
fi
echo "buf breaking: protos/ against $what, $(git rev-parse --short "$base")"
"$BUF" breaking protos --against ".git#ref=$base,subdir=protos"
