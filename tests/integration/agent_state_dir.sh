#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fleetsec-agent refuses a state directory that others could write, as sshd
# refuses loose key permissions: whoever writes there can reset the sequence
# records and the journal. A group- or world-writable state_dir, or such a
# state file in it, is refused with one line naming the path and why; 0700
# (and 0755) is accepted.
. "$(dirname "$0")/lib.sh"
: "${AGENT:?}"
cd "$T"

"$FLEETSEC" ca init --name "State Fleet" >/dev/null
"$FLEETSEC" device issue dev-1 --keygen --key-out dev.key --out dev.pem --model thermo 2>/dev/null
for k in fw root; do
	"$FLEETSEC" fw keygen --out $k.pem 2>/dev/null
	"$FLEETSEC" fw pubkey $k.pem --out $k.pub
done
head -c 65536 /dev/zero >slot_a
cp slot_a slot_b
agent_conf "https://127.0.0.1:1"
mkdir -m 0700 state
A() { "$AGENT" -c agent.conf "$@"; }

# Accepted: 0700, and 0755 (readable is not writable).
expect 0 A status
chmod 0755 state
expect 0 A status
echo "fleetsec-installed 1 1.0.0" >state/installed
chmod 0600 state/installed

# Refused: the directory writable by others, or by its group.
for mode in 0777 0770 0702 1777; do
	chmod $mode state
	expect 1 A status
	one_line_error "fleetsec-agent: state_dir: $T/state: writable by"
	grep -qF "chmod go-w" "$T/err" || fail "mode $mode: no remedy in: $(cat "$T/err")"
	ok
done
chmod 0700 state
expect 0 A status

# Refused: a state file in it writable by others, or a link in its place.
chmod 0666 state/installed
expect 1 A status
one_line_error "$T/state/installed: writable by others (mode 0666)"
chmod 0620 state/installed
expect 1 A status
one_line_error "$T/state/installed: writable by its group (mode 0620)"
chmod 0600 state/installed
mv state/installed installed.real
ln -s "$T/installed.real" state/installed
expect 1 A status
one_line_error "$T/state/installed: not a regular file"
rm state/installed
mv installed.real state/installed
expect 0 A status

# The release root the device followed to: a loose one is refused like the
# rest, and a damaged one is refused, naming it (never read as "none",
# which would put the device back on its pinned root).
echo '{}' >state/release-root.json
chmod 0620 state/release-root.json
expect 1 A status
one_line_error "$T/state/release-root.json: writable by its group (mode 0620)"
chmod 0600 state/release-root.json
expect 1 A status
one_line_error "$T/state/release-root.json: root.payloadType"
rm state/release-root.json
expect 0 A status
ok

# Another owner (needs root to make one): neither the agent's user nor root.
if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null; then
	chown nobody state
	expect 1 A status
	one_line_error "$T/state: owned by uid $(id -u nobody), not by the agent (uid 0) or root"
	chown 0 state
	expect 0 A status
else
	echo "skipped the owner check: not root"
fi

done_checks
