# SPDX-License-Identifier: Apache-2.0
# sarif_valid FILE: Microsoft's SARIF Multitool (installed by scripts/deps.sh)
# validates FILE against the SARIF 2.1.0 JSON schema and the specification's
# rules; any error, or any warning from a SARIF1xxx (specification) rule,
# fails the test. SARIF2xxx rules are advice (e.g. "give every location a
# region", which a finding about a whole file cannot honestly do).
SARIF_MT=${FLEETSEC_TOOLS:-/opt/fleetsec-tools}/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool
sarif_valid() {
	local in=$1 log
	[ -x "$SARIF_MT" ] || fail "SARIF Multitool not found at $SARIF_MT (run scripts/deps.sh)"
	log="$T/sarif-validate-$RANDOM.sarif"
	DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 "$SARIF_MT" validate "$in" -o "$log" >"$log.out" 2>&1 ||
		fail "SARIF Multitool failed on $in: $(tail -5 "$log.out")"
	jq -e '[.runs[0].results[]? | select(.level == "error" or (.ruleId | startswith("SARIF1")) or (.ruleId | startswith("JSON")))] | length == 0' \
		"$log" >/dev/null || fail "$in is not valid SARIF: $(jq -c '[.runs[0].results[] | select(.level == "error" or (.ruleId | startswith("SARIF1")) or (.ruleId | startswith("JSON"))) | [.ruleId, .message.text // .message.id]] | .[0:3]' "$log")"
	ok
}
