#!/usr/bin/env bash
# The action's bot commit (action.yml, command apply): commit the ids `apply` wrote into the schedule
# files and push them to the branch that was applied, so the next plan names those schedules.
#
# Runs even when some changes failed: the schedules that were created keep their ids. Only the
# tracked YAML under the working directory is staged (the tool writes nothing else), never a file
# the run made. The push uses the job's token through git's environment config (not the command
# line, not .git/config), and rebases once onto a push made meanwhile. Pushes made with the default
# GITHUB_TOKEN start no workflow, so this commit starts no new apply; [skip ci] skips other CI too.
set -euo pipefail

export GIT_AUTHOR_NAME="github-actions[bot]" GIT_COMMITTER_NAME="github-actions[bot]"
export GIT_AUTHOR_EMAIL="41898282+github-actions[bot]@users.noreply.github.com"
export GIT_COMMITTER_EMAIL="${GIT_AUTHOR_EMAIL}"

# the changed tracked YAML under here (`git add` itself would refuse a pattern that matches nothing);
# a loop rather than mapfile, which macOS's bash 3.2 lacks
while IFS= read -r -d '' file; do
  git add -- "${file}"
done < <(git diff -z --name-only --relative -- '*.yml' '*.yaml')
if git diff --cached --quiet; then
  echo "No new ids to record."
  exit 0
fi
git commit --quiet -m "Record Holistics schedule ids [skip ci]"

# the branch the checkout is on (apply checks out the tip of main), else the one that was pushed
branch=$(git symbolic-ref --short -q HEAD || true)
branch=${branch:-${GITHUB_REF_NAME:?no branch to push to}}

if [ -n "${GITHUB_TOKEN:-}" ]; then
  auth=$(printf 'x-access-token:%s' "${GITHUB_TOKEN}" | base64 | tr -d '\n')
  export GIT_CONFIG_COUNT=1
  export GIT_CONFIG_KEY_0="http.${GITHUB_SERVER_URL:-https://github.com}/.extraheader"
  export GIT_CONFIG_VALUE_0="AUTHORIZATION: basic ${auth}"
fi
if ! git push --quiet origin "HEAD:refs/heads/${branch}"; then
  echo "The push was rejected (someone pushed to ${branch} meanwhile): rebasing onto it once."
  if ! git pull --quiet --rebase origin "${branch}"; then
    git rebase --abort || true
    echo "::error title=New ids not committed::The commit recording the new ids conflicts with a push to ${branch}. Run the apply again: it adopts the schedules it made and records their ids."
    exit 1
  fi
  git push --quiet origin "HEAD:refs/heads/${branch}"
fi
git log -1 --stat
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "commit=$(git rev-parse HEAD)" >> "${GITHUB_OUTPUT}"
fi
