#!/usr/bin/env bash
# Mutation testing: how many small, deliberate bugs in a file do the tests notice?
#
#   scripts/mutation.sh [FILE...]
#
# FILE is a non-test .go file of the library module, relative to the repository root
# (header.go, remote/fetch.go, pytorch/pickle.go, ...). Without arguments the files whose
# tests are held to the bar in CONTRIBUTING.md are run, one after the other.
#
# For each file, gremlins (https://github.com/go-gremlins/gremlins) makes one change at a time
# to the code: a comparison flipped (< to <=, == to !=), && swapped with ||, + with -,
# ++ with --, a sign inverted. It runs the package's tests (`go test -short`, with -failfast)
# against each change, with one worker. A mutant is KILLED when a test fails, LIVED when every
# test passes, TIMED OUT when the tests did not finish in the coverage run's time multiplied
# by the timeout coefficient. Only mutants on lines the package's own tests execute are run
# (gremlins measures coverage first); NOT VIABLE mutants (the change does not compile) are
# not counted.
#
# The table has one row per file:
#   mutants     covered, viable mutants run
#   killed      a test failed (timed-out mutants are counted here and shown in brackets)
#   survived    every test passed, and the mutant is not in the equivalents list
#   equivalent  survivors listed in scripts/mutation-equivalent.txt (the change alters no behaviour)
#   score       killed / (mutants - equivalent)
# Survivors and equivalents are listed after the table with their source line.
#
# Environment:
#   MUTATION_TIMEOUT_COEFFICIENT  multiplier of the coverage run's time per mutant (default 5;
#                                 the machine is shared, so be generous)
#   MUTATION_OUT                  directory for gremlins' logs and JSON results (default: a new
#                                 temporary directory, printed at the end)
#   MUTATION_REPORT_ONLY=1        do not run gremlins; print the table from the JSON already in
#                                 MUTATION_OUT (for example after running the files one by one)
#   MUTATION_RECHECK=1            do not run gremlins; run again only the mutants that LIVED in the
#                                 results already in MUTATION_OUT, against the tests as they are now,
#                                 and update those results (the first results are kept beside them
#                                 as FILE.gremlins.json). A full run takes a test build per mutant;
#                                 after writing tests for the survivors, a recheck takes one per
#                                 survivor. A mutant killed once stays killed while the file under
#                                 test is the same and tests are only added, so the recheck refuses a
#                                 file whose content differs from the one the results came from.
#
# Mutation runs take minutes per file (a test binary is built and run per mutant), so they
# are not part of .ci/run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
gremlins_version=v0.6.0
coef=${MUTATION_TIMEOUT_COEFFICIENT:-5}
equivalents=$root/scripts/mutation-equivalent.txt
out=${MUTATION_OUT:-$(mktemp -d -t mutation.XXXXXX)}
mkdir -p "$out"

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
	files=(header.go json.go writer.go sharded.go sharded_write.go
		remote/fetch.go remote/remote.go
		pytorch/pickle.go pytorch/checkpoint.go
		convert.go bind.go slice.go)
fi
for f in "${files[@]}"; do
	case $f in
	*_test.go | *[!a-zA-Z0-9_./-]* | /* | *..*) echo "mutation.sh: $f: want a non-test .go file under the repository" >&2; exit 2 ;;
	*.go) [ -f "$root/$f" ] || { echo "mutation.sh: $f: no such file" >&2; exit 2; } ;;
	*) echo "mutation.sh: $f: want a .go file" >&2; exit 2 ;;
	esac
done

gremlins_bin() {
	if command -v gremlins >/dev/null 2>&1; then
		command -v gremlins
		return
	fi
	local bin
	bin=$(go env GOBIN)
	[ -n "$bin" ] || bin=$(go env GOPATH)/bin
	if [ ! -x "$bin/gremlins" ]; then
		echo "installing gremlins $gremlins_version into $bin" >&2
		GOWORK=off go install "github.com/go-gremlins/gremlins/cmd/gremlins@$gremlins_version" >&2
	fi
	echo "$bin/gremlins"
}

# result_name maps remote/fetch.go to remote_fetch.go, the stem of its log and JSON files.
result_name() { echo "${1//\//_}"; }

run_one() {
	local f=$1 dir base other
	dir=$(dirname "$f")
	base=$(basename "$f")
	# gremlins walks the directory it runs in, subdirectories included: keep only $base.
	local -a exclude=(-E '/')
	for other in "$root/$dir"/*.go; do
		other=$(basename "$other")
		case $other in
		"$base" | *_test.go) ;;
		*) exclude+=(-E "^${other//./\\.}\$") ;;
		esac
	done
	local name
	name=$(result_name "$f")
	echo "== $f (log: $out/$name.log)" >&2
	# GOWORK=off: the library module alone; the workspace's other modules (the command, the
	# object-store module) have dependencies that the package under test never needs, and
	# gremlins downloads every module first. -count=1: gremlins times each mutant's tests by
	# its coverage run, which a cached test result would make near zero, so that every
	# mutant would time out.
	# The directory is given as an absolute path: gremlins looks for go.mod
	# upward from the path it is given, and from "." it does not look up.
	local abs=$root
	[ "$dir" = . ] || abs=$root/$dir
	(cd "$abs" &&
		GOWORK=off GOFLAGS="${GOFLAGS:+$GOFLAGS }-short -count=1" "$gremlins" unleash \
			--workers 1 --timeout-coefficient "$coef" --invert-logical \
			-o "$out/$name.json" "${exclude[@]}" "$abs") >"$out/$name.log" 2>&1 || {
		echo "mutation.sh: gremlins failed on $f; see $out/$name.log" >&2
		tail -n 20 "$out/$name.log" >&2
		return 1
	}
	# The results hold for this content of the file only; a recheck verifies it.
	sha256sum <"$root/$f" | cut -d' ' -f1 >"$out/$name.sha256"
	rm -f "$out/$name.gremlins.json"
}

# recheck_one runs the tests again against each mutant of $f that lived, one at a time, with
# the mutant given to the go command as an overlay (the tree is never written), and records
# the new status in the results.
recheck_one() {
	local f=$1 name dir base abs json sum
	name=$(result_name "$f")
	dir=$(dirname "$f")
	base=$(basename "$f")
	abs=$root
	[ "$dir" = . ] || abs=$root/$dir
	json=$out/$name.json
	if [ ! -s "$json" ] || [ ! -s "$out/$name.sha256" ]; then
		echo "mutation.sh: $f: no results with their file's checksum in $out to recheck" >&2
		return 1
	fi
	sum=$(sha256sum <"$root/$f" | cut -d' ' -f1)
	if [ "$sum" != "$(cat "$out/$name.sha256")" ]; then
		echo "mutation.sh: $f has changed since the results in $out were made; run it again in full" >&2
		return 1
	fi
	[ -s "$out/$name.gremlins.json" ] || cp "$json" "$out/$name.gremlins.json"
	local work log start elapsed limit
	work=$(mktemp -d -t mutant.XXXXXX)
	log=$out/$name.recheck.log
	: >"$log"
	(cd "$root" && go build -o "$work/mutant" scripts/mutant.go)
	# The unmutated tests must pass, or every mutant would look killed; their time sets the
	# limit per mutant as gremlins sets it (2 s + time × coefficient).
	start=$(date +%s)
	if ! (cd "$abs" && GOWORK=off go test -short -count=1 . >>"$log" 2>&1); then
		echo "mutation.sh: $f: the package's tests fail without any mutant; see $log" >&2
		rm -rf "$work"
		return 1
	fi
	elapsed=$(($(date +%s) - start))
	limit=$((2 + (elapsed > 0 ? elapsed : 1) * coef))
	echo "== recheck $f (log: $log)" >&2
	local line col typ status
	while IFS=$'\t' read -r line col typ; do
		"$work/mutant" "$root/$f" "$line" "$col" "$typ" >"$work/$base"
		printf '{"Replace":{"%s":"%s"}}\n' "$root/$f" "$work/$base" >"$work/overlay.json"
		echo "-- $f:$line:$col $typ" >>"$log"
		if (cd "$abs" && GOWORK=off go test -overlay "$work/overlay.json" -short -count=1 \
			-failfast -timeout "${limit}s" . >"$work/out" 2>&1); then
			status=LIVED
		elif grep -q '^panic: test timed out' "$work/out"; then
			status="TIMED OUT"
		elif grep -q '\[build failed\]\|\[setup failed\]' "$work/out"; then
			status="NOT VIABLE"
		else
			status=KILLED
		fi
		tail -n 5 "$work/out" >>"$log"
		echo "   $status" >>"$log"
		jq --argjson l "$line" --argjson c "$col" --arg t "$typ" --arg s "$status" \
			'(.files[].mutations[] | select(.line == $l and .column == $c and .type == $t)).status = $s' \
			"$json" >"$work/new.json" && mv "$work/new.json" "$json"
	done < <(jq -r '.files[]?.mutations[]? | select(.status == "LIVED") | [.line, .column, .type] | @tsv' "$json")
	rm -rf "$work"
}

if [ "${MUTATION_RECHECK:-}" = 1 ]; then
	for f in "${files[@]}"; do
		recheck_one "$f"
	done
elif [ "${MUTATION_REPORT_ONLY:-}" != 1 ]; then
	gremlins=$(gremlins_bin)
	for f in "${files[@]}"; do
		run_one "$f"
	done
fi

# The equivalents list: lines "FILE:LINE:COL<TAB>OPERATOR<TAB>SOURCE LINE<TAB>WHY", comments with #.
# An entry applies to a surviving mutant of the same file, column and operator whose source line,
# trimmed, is the listed one: at the listed line, or, when the code has moved, at the one line of
# the file with that text. An entry that matches nothing is reported as stale.
line_text() { sed -n "${2}p" "$root/$1" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'; }

declare -A equiv_used=()
is_equivalent() { # file line col type -> 0 when listed
	local f=$1 line=$2 col=$3 typ=$4 text entry pos etyp etext efile eline ecol
	text=$(line_text "$f" "$line")
	[ -f "$equivalents" ] || return 1
	while IFS=$'\t' read -r pos etyp etext _; do
		case $pos in '' | '#'*) continue ;; esac
		efile=${pos%%:*}
		eline=${pos#*:}
		ecol=${eline#*:}
		eline=${eline%%:*}
		[ "$efile" = "$f" ] && [ "$ecol" = "$col" ] && [ "$etyp" = "$typ" ] && [ "$etext" = "$text" ] || continue
		if [ "$eline" != "$line" ]; then
			# Moved: accept only if the text is unique in the file.
			local n
			n=$(sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$root/$f" | grep -cxF -- "$etext" || true)
			[ "$n" = 1 ] || continue
		fi
		equiv_used["$pos $etyp"]=1
		return 0
	done <"$equivalents"
	return 1
}

printf '\n| file | mutants | killed | survived | equivalent | score |\n|---|---|---|---|---|---|\n'
tm=0 tk=0 ts=0 te=0
survivors=""
equivs=""
for f in "${files[@]}"; do
	name=$(result_name "$f")
	json=$out/$name.json
	if [ ! -s "$json" ]; then
		printf '| %s | (no result in %s) | | | | |\n' "$f" "$out"
		continue
	fi
	dir=$(dirname "$f")
	m=0 k=0 t=0 s=0 e=0
	while IFS=$'\t' read -r line col typ status; do
		case $status in
		KILLED) m=$((m + 1)) k=$((k + 1)) ;;
		"TIMED OUT") m=$((m + 1)) k=$((k + 1)) t=$((t + 1)) ;;
		LIVED)
			m=$((m + 1))
			if is_equivalent "$f" "$line" "$col" "$typ"; then
				e=$((e + 1))
				equivs+="$f:$line:$col $typ: $(line_text "$f" "$line")"$'\n'
			else
				s=$((s + 1))
				survivors+="$f:$line:$col $typ: $(line_text "$f" "$line")"$'\n'
			fi
			;;
		esac
	done < <(jq -r '.files[]?.mutations[]? | [.line, .column, .type, .status] | @tsv' "$json" | sort -n)
	denom=$((m - e))
	score=$(awk -v k="$k" -v d="$denom" 'BEGIN { if (d == 0) print "-"; else printf "%.1f%%", 100 * k / d }')
	killed=$k
	[ "$t" -gt 0 ] && killed="$k ($t timed out)"
	printf '| %s | %d | %s | %d | %d | %s |\n' "$f" "$m" "$killed" "$s" "$e" "$score"
	tm=$((tm + m)) tk=$((tk + k)) ts=$((ts + s)) te=$((te + e))
done
score=$(awk -v k="$tk" -v d="$((tm - te))" 'BEGIN { if (d == 0) print "-"; else printf "%.1f%%", 100 * k / d }')
printf '| all | %d | %d | %d | %d | %s |\n' "$tm" "$tk" "$ts" "$te" "$score"

if [ -n "$survivors" ]; then
	printf '\nSurvivors (no test noticed the change):\n%s' "$survivors"
fi
if [ -n "$equivs" ]; then
	printf '\nEquivalent (listed in scripts/mutation-equivalent.txt):\n%s' "$equivs"
fi
if [ -f "$equivalents" ]; then
	stale=""
	while IFS=$'\t' read -r pos etyp _; do
		case $pos in '' | '#'*) continue ;; esac
		f=${pos%%:*}
		printf '%s\n' "${files[@]}" | grep -qxF -- "$f" || continue
		[ -n "${equiv_used["$pos $etyp"]:-}" ] || stale+="$pos $etyp"$'\n'
	done <"$equivalents"
	if [ -n "$stale" ]; then
		printf '\nEquivalents list entries that matched no survivor (killed now, or the code changed):\n%s' "$stale"
	fi
fi
echo
echo "results: $out" >&2
