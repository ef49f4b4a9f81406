#!/usr/bin/env bash
# Drives `pingctl admin`'s interactive console through tmux against a
# running ping-processor's admin port, and checks pingctl's errors:
#
#   tests/console/tmux.sh PINGCTL_BINARY ADMIN_PORT
#
# Checks: the prompt names the node; status, actors and a typo answer and
# the prompt continues; history lists the lines; `watch actors` redraws
# (refresh #1, then #2) until Enter and the prompt comes back; quit ends
# the process with status 0. With PINGCTL_TEST_CLUSTER_NODES=N, `cluster`
# shows "nodes: N of N up", the pipeline's hops and partition owners.
# Without tmux: an admin port nobody listens on
# gives exit status 1 and "cannot reach", and, when PINGCTL_TEST_TOKEN_PORT
# names the admin port of a token-protected node on 127.0.0.1, a wrong token
# gives exit status 1 and "refused the token".
#
# tmux runs on a private socket (-L) without any tmux.conf, in a 140x45
# window; waits poll the pane every 0.1 s up to a deadline. Prints
# PASS/FAIL/SKIP lines; exits 1 when a check failed, 2 on bad usage.
set -u

if [[ $# -ne 2 || ! -x ${1:-} || ! ${2:-} =~ ^[0-9]+$ ]]; then
  echo "usage: $0 PINGCTL_BINARY ADMIN_PORT" >&2
  exit 2
fi
PINGCTL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PORT=$2
NODE=127.0.0.1:$PORT
DEADLINE_S=${PINGCTL_TEST_DEADLINE_S:-10}
command -v tmux >/dev/null || { echo "FAIL tmux is not installed" >&2; exit 2; }

SOCKET=pingctl-console-test-$$
WORK=$(mktemp -d)
SOCKET_PATH=
tm() { tmux -L "$SOCKET" -f /dev/null "$@"; }
cleanup() {
  tm kill-server >/dev/null 2>&1
  [[ -n $SOCKET_PATH ]] && rm -f "$SOCKET_PATH"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

FAILED=0
pass() { echo "PASS $1"; }
fail() {
  echo "FAIL $1"
  FAILED=1
  if [[ -n ${2:-} ]]; then
    echo "---- $2:"
    awk 'NF { for (; blank > 0; blank--) print ""; print "    " $0; next } { blank++ }' "$WORK/last"
    echo "----"
  fi
}

# The pane as text: the visible screen, or with "all" the scrollback too.
capture() {
  if [[ ${1:-} == all ]]; then
    tm capture-pane -p -J -S - -t console >"$WORK/last" 2>/dev/null
  else
    tm capture-pane -p -J -t console >"$WORK/last" 2>/dev/null
  fi
}

# wait_for REGEX [all]: polls until a line of the pane matches.
wait_for() {
  local end=$((SECONDS + DEADLINE_S))
  while ((SECONDS < end)); do
    capture "${2:-}"
    grep -Eq -- "$1" "$WORK/last" && return 0
    sleep 0.1
  done
  return 1
}

PROMPT_RE="^ping-processor@127\\.0\\.0\\.1:$PORT> "
prompts() { capture all; grep -Ec -- "$PROMPT_RE" "$WORK/last"; }

# wait_for_prompts N: until N prompts are on the pane (the console waits
# for the next line).
wait_for_prompts() {
  local end=$((SECONDS + DEADLINE_S))
  while ((SECONDS < end)); do
    (($(prompts) >= $1)) && return 0
    sleep 0.1
  done
  return 1
}

# run_line TEXT: types a line at the prompt and waits for the next prompt.
run_line() {
  local before
  before=$(prompts)
  tm send-keys -t console -l -- "$1"
  tm send-keys -t console Enter
  wait_for_prompts $((before + 1))
}

# ---- The console, through tmux.
tm new-session -d -s console -x 140 -y 45 "$PINGCTL admin --node $NODE"
SOCKET_PATH=$(tm display-message -p '#{socket_path}')
tm set-option -w -t console remain-on-exit on >/dev/null

if wait_for_prompts 1; then
  pass "console prompt names the node (ping-processor@$NODE>)"
else
  fail "console prompt names the node (ping-processor@$NODE>)" pane
fi

if run_line status && grep -Eq '^binary: +ping-processor$' "$WORK/last"; then
  pass "status shows ping-processor"
else
  fail "status shows ping-processor" pane
fi

if run_line actors && grep -Eq '^ +windowing\.window +' "$WORK/last"; then
  pass "actors shows windowing.window"
else
  fail "actors shows windowing.window" pane
fi

if run_line stauts && grep -Fq "error: unknown command 'stauts'" "$WORK/last"; then
  pass "an unknown command is reported and the prompt continues"
else
  fail "an unknown command is reported and the prompt continues" pane
fi

if run_line history && grep -Eq '^ +1  status$' "$WORK/last" \
    && grep -Eq '^ +3  stauts$' "$WORK/last"; then
  pass "history lists the lines entered"
else
  fail "history lists the lines entered" pane
fi

if [[ -n ${PINGCTL_TEST_CLUSTER_NODES:-} ]]; then
  want=$PINGCTL_TEST_CLUSTER_NODES
  if run_line cluster && grep -Eq "^nodes: $want of $want up$" "$WORK/last" \
      && grep -Eq '^cache +' "$WORK/last" && grep -Eq '^ +0  127\.0\.0\.1:[0-9]+ ' "$WORK/last"; then
    pass "cluster shows $want nodes up, the pipeline and the partition owners"
  else
    fail "cluster shows $want nodes up, the pipeline and the partition owners" pane
  fi
else
  echo "SKIP cluster (set PINGCTL_TEST_CLUSTER_NODES)"
fi

before=$(prompts)
tm send-keys -t console -l -- "watch actors"
tm send-keys -t console Enter
if wait_for 'refresh #1( |$)'; then
  pass "watch actors draws refresh #1"
else
  fail "watch actors draws refresh #1" pane
fi
if wait_for 'refresh #2( |$)' && grep -Eq "^ping-processor@127\\.0\\.0\\.1:$PORT  actors  " "$WORK/last" \
    && grep -Eq '^ +windowing\.window +' "$WORK/last"; then
  pass "watch actors redraws in place (refresh #2)"
else
  fail "watch actors redraws in place (refresh #2)" pane
fi
tm send-keys -t console Enter
if wait_for_prompts $((before + 1)) && [[ $(tm display-message -p -t console '#{alternate_on}') == 0 ]] \
    && capture && ! grep -q 'refresh #' "$WORK/last" \
    && [[ $(grep -v '^ *$' "$WORK/last" | tail -n 1) =~ $PROMPT_RE ]]; then
  pass "Enter stops watch and the prompt is back"
else
  capture
  fail "Enter stops watch and the prompt is back" pane
fi

tm send-keys -t console -l -- quit
tm send-keys -t console Enter
end=$((SECONDS + DEADLINE_S))
dead=0
while ((SECONDS < end)); do
  dead=$(tm display-message -p -t console '#{pane_dead}' 2>/dev/null || echo 1)
  [[ $dead == 1 ]] && break
  sleep 0.1
done
status=$(tm display-message -p -t console '#{pane_dead_status}' 2>/dev/null)
if [[ $dead == 1 && ${status:-0} == 0 ]]; then
  pass "quit ends the console (exit status ${status:-0})"
else
  capture
  fail "quit ends the console (dead=$dead status=$status)" pane
fi
# ---- Errors, without tmux.
free_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PINGCTL" admin --node "127.0.0.1:$free_port" status >"$WORK/out" 2>"$WORK/last"
rc=$?
if [[ $rc == 1 ]] && grep -Fq "pingctl: cannot reach the admin endpoint at 127.0.0.1:$free_port" "$WORK/last"; then
  pass "an unreachable node exits 1 with \"cannot reach\""
else
  fail "an unreachable node exits 1 with \"cannot reach\" (exit status $rc)" stderr
fi

if [[ -n ${PINGCTL_TEST_TOKEN_PORT:-} ]]; then
  echo "not-the-token" >"$WORK/bad.token"
  "$PINGCTL" admin --node "127.0.0.1:$PINGCTL_TEST_TOKEN_PORT" --token-file "$WORK/bad.token" \
    status >"$WORK/out" 2>"$WORK/last"
  rc=$?
  if [[ $rc == 1 ]] && grep -Fq "the node refused the token (unauthenticated)" "$WORK/last"; then
    pass "a wrong token is reported"
  else
    fail "a wrong token is reported (exit status $rc)" stderr
  fi
else
  echo "SKIP a wrong token is reported (set PINGCTL_TEST_TOKEN_PORT)"
fi

"$PINGCTL" admin --node "$NODE" --token-file "$WORK/missing.token" status >"$WORK/out" 2>"$WORK/last"
rc=$?
if [[ $rc == 2 ]] && grep -Fq "cannot read the token file $WORK/missing.token" "$WORK/last"; then
  pass "a missing token file is reported (exit status 2)"
else
  fail "a missing token file is reported (exit status $rc)" stderr
fi

exit $FAILED
