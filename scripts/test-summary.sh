#!/usr/bin/env bash
# Sums the xunit results of every test project (TRX files) and the checks outside xunit (each a NAME.result file
# holding "passed" or "failed", such as scripts/package-check.sh writes) into the last line `N passed, N failed`
# (skipped tests are listed before it, each with its reason, then their count on a line of its own).
# Exits non-zero when a test failed or no test ran at all.
set -euo pipefail
dir=${1:-TestResults}
passed=0
failed=0
skipped=0
shopt -s nullglob
files=("$dir"/*.trx)
for f in "${files[@]}"; do
    counters=$(grep -o '<Counters [^>]*>' "$f" | head -n 1)
    p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
    fl=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
    e=$(sed -n 's/.* error="\([0-9]*\)".*/\1/p' <<<"$counters")
    t=$(sed -n 's/.* timeout="\([0-9]*\)".*/\1/p' <<<"$counters")
    a=$(sed -n 's/.* aborted="\([0-9]*\)".*/\1/p' <<<"$counters")
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${fl:-0} + ${e:-0} + ${t:-0} + ${a:-0}))
done
# Skipped tests (outcome NotExecuted; the Counters element does not count them), each with its reason.
for f in "${files[@]}"; do
    while IFS=$'\t' read -r name reason; do
        echo "skipped: $name: $reason"
        skipped=$((skipped + 1))
    done < <(awk '
        /outcome="NotExecuted"/ { match($0, /testName="[^"]*"/); name = substr($0, RSTART + 10, RLENGTH - 11); next }
        name != "" && /<Message>/ { sub(/.*<Message>/, ""); sub(/<\/Message>.*/, "")
            gsub(/&apos;/, "\047"); gsub(/&quot;/, "\""); gsub(/&lt;/, "<"); gsub(/&gt;/, ">"); gsub(/&amp;/, "\\&"); print name "\t" $0; name = "" }
    ' "$f")
done
# Failed tests, each with the first line of its message, so that the tail of a CI log names them.
for f in "${files[@]}"; do
    awk '
        /<UnitTestResult / && /outcome="(Failed|Error|Timeout|Aborted)"/ { match($0, /testName="[^"]*"/); name = substr($0, RSTART + 10, RLENGTH - 11)
            match($0, /duration="[^"]*"/); took = substr($0, RSTART + 10, RLENGTH - 11); next }
        name != "" && /<Message>/ { sub(/.*<Message>/, ""); sub(/<\/Message>.*/, "")
            gsub(/&apos;/, "\047"); gsub(/&quot;/, "\""); gsub(/&lt;/, "<"); gsub(/&gt;/, ">"); gsub(/&amp;/, "\\&")
            print "failed: " name " (" took "): " substr($0, 1, 400); name = "" }
        name != "" && /<\/UnitTestResult>/ { print "failed: " name " (" took ")"; name = "" }
    ' "$f"
done
for f in "$dir"/*.result; do
    if [ "$(cat "$f")" = passed ]; then
        passed=$((passed + 1))
    else
        echo "failed: $(basename "$f" .result)"
        failed=$((failed + 1))
    fi
done
# The last line is exactly `N passed, N failed`, which CI reads; the skip count comes on the line before it.
if [ "$skipped" -gt 0 ]; then
    echo "${skipped} skipped (listed above with their reasons)"
fi
echo "${passed} passed, ${failed} failed"
if [ "${#files[@]}" -eq 0 ] || [ "$passed" -eq 0 ] || [ "$failed" -ne 0 ]; then
    exit 1
fi
