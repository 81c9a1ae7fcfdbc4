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
}

if [ "${MUTATION_REPORT_ONLY:-}" != 1 ]; then
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
