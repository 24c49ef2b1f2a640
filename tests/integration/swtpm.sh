# SPDX-License-Identifier: Apache-2.0
# Sourced by the TPM tests: real software TPMs (swtpm) on loopback, each
# with its own state directory under $T. A watcher stops each one when the
# test's shell is gone, whatever EXIT traps the other helpers install.
command -v swtpm >/dev/null || fail "swtpm is missing (scripts/deps.sh installs swtpm)"
TPM_PIDS=()

# swtpm_start NAME: a fresh TPM on a free port; its TCTI in $TCTI.
swtpm_start() {
	local port
	mkdir -p "$T/$1"
	for _ in 1 2 3 4 5; do
		port=$(rand_port)
		swtpm socket --tpm2 --tpmstate dir="$T/$1" --server type=tcp,port=$port \
			--ctrl type=tcp,port=$((port + 1)) --flags not-need-init,startup-clear \
			>"$T/$1.log" 2>&1 &
		TPM_PIDS+=($!)
		for _ in $(seq 20); do
			TSS2_LOG=all+none tpm2_getcap -T "swtpm:host=127.0.0.1,port=$port" properties-fixed \
				>/dev/null 2>&1 && break 2
			kill -0 "${TPM_PIDS[-1]}" 2>/dev/null || break
			sleep 0.1
		done
	done
	kill -0 "${TPM_PIDS[-1]}" 2>/dev/null || fail "swtpm did not start: $(cat "$T/$1.log")"
	(
		while kill -0 $$ 2>/dev/null; do sleep 1; done
		kill "${TPM_PIDS[@]}" 2>/dev/null
	) >/dev/null 2>&1 &
	TCTI="swtpm:host=127.0.0.1,port=$port"
}

swtpm_stop_all() {
	local p
	for p in "${TPM_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}

# swtpm_counter NAME INDEX: a fresh TPM that keeps the agent's anti-rollback
# counter at NV INDEX, with an owner password as a production TPM has (in
# $OWNER_PASS and the file $T/owner.pass); every agent.conf written from now
# on says so.
OWNER_PASS=fleet-owner-secret
swtpm_counter() {
	swtpm_start "$1"
	tpm2 changeauth -c o "$OWNER_PASS"
	echo "$OWNER_PASS" >"$T/owner.pass"
	AGENT_CONF_EXTRA="counter = tpm:$2
tcti = $TCTI
tpm_owner_auth = $T/owner.pass"
}

# swtpm_srk: the factory's provisioning of the TPM at $TCTI: an owner
# password ($OWNER_PASS, and the file $T/owner.pass) and the storage key
# persisted at 0x81000001, under which device keys are then made.
swtpm_srk() {
	tpm2 changeauth -c o "$OWNER_PASS"
	echo "$OWNER_PASS" >"$T/owner.pass"
	tpm2 createprimary -Q -C o -P "$OWNER_PASS" -g sha256 -G ecc256:null:aes128cfb \
		-a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda" \
		-c "$T/srk.ctx"
	tpm2 evictcontrol -Q -C o -P "$OWNER_PASS" -c "$T/srk.ctx" 0x81000001 >/dev/null
	tpm2 flushcontext -t
}

# tpm2 TOOL ARGS...: a tpm2-tools command against the TPM at $TCTI.
tpm2() { TSS2_LOG=all+none "tpm2_$1" -T "$TCTI" "${@:2}"; }
